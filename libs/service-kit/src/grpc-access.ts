import { status } from '@grpc/grpc-js';
import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { PATTERN_METADATA } from '@nestjs/microservices/constants';
import { createHash, timingSafeEqual } from 'node:crypto';
import { authTokensOf, BaseConfig } from './config';
import { grpcCallOf } from './grpc-call';
import { grpcError } from './grpc-errors';
import { ServiceMetrics } from './metrics';
import { RateLimiter } from './rate-limit';

const digest = (value: string) => createHash('sha256').update(value).digest();

/** True when `presented` equals one of `accepted`; the time taken does not depend on where they differ. */
export function tokenMatches(presented: string, accepted: Buffer[]): boolean {
  // Comparing fixed-size digests hides the token length too; every token is compared, no early exit.
  const candidate = digest(presented);
  let match = false;
  for (const token of accepted) match = timingSafeEqual(candidate, token) || match;
  return match;
}

const BEARER = /^Bearer\s+(\S+)\s*$/i;

/** Probes (grpc.health.v1) stay open so the platform can check an instance without credentials. */
const isOpen = (context: ExecutionContext) => {
  const pattern = Reflect.getMetadata(PATTERN_METADATA, context.getHandler()) as { service?: string } | { service?: string }[] | undefined;
  const patterns = Array.isArray(pattern) ? pattern : [pattern];
  return patterns.some((p) => p?.service === 'Health');
};

/**
 * Admission for every im.v1 call, before any handler runs: a bearer token from the configured list
 * (`authorization: Bearer <token>` metadata) when authentication is on, then the per-client rate
 * limit (per token, or per peer address when authentication is off).
 */
@Injectable()
export class GrpcAccessGuard implements CanActivate {
  private readonly tokens: Buffer[];
  private readonly limiter?: RateLimiter;

  constructor(
    config: Pick<BaseConfig, 'GRPC_AUTH_TOKENS' | 'GRPC_RATE_LIMIT_PER_SECOND' | 'GRPC_RATE_LIMIT_BURST'>,
    private readonly metrics?: ServiceMetrics,
  ) {
    this.tokens = authTokensOf(config).map(digest);
    const rate = config.GRPC_RATE_LIMIT_PER_SECOND ?? 0;
    if (rate > 0) this.limiter = new RateLimiter(rate, config.GRPC_RATE_LIMIT_BURST ?? Math.max(1, Math.ceil(rate)));
  }

  get authEnabled(): boolean {
    return this.tokens.length > 0;
  }

  canActivate(context: ExecutionContext): boolean {
    if (context.getType() !== 'rpc' || isOpen(context)) return true;
    // Stream calls (`@GrpcStreamCall`) carry their metadata on the call, not as the second argument.
    const { metadata, call } = grpcCallOf(context.getArgs());
    let client = peerAddress(call?.getPeer());
    if (this.authEnabled) {
      const header = metadata?.get('authorization')?.[0];
      const token = typeof header === 'string' ? BEARER.exec(header)?.[1] : undefined;
      if (!token || !tokenMatches(token, this.tokens)) {
        this.metrics?.grpcRejected.inc({ reason: 'UNAUTHENTICATED' });
        throw grpcError(status.UNAUTHENTICATED, 'UNAUTHENTICATED', token ? 'the bearer token is not valid' : 'missing `authorization: Bearer <token>` metadata');
      }
      // Keyed by a digest so tokens never sit in memory as map keys or reach logs.
      client = `token:${digest(token).toString('hex').slice(0, 16)}`;
    }
    if (this.limiter && !this.limiter.tryTake(client)) {
      this.metrics?.grpcRejected.inc({ reason: 'RATE_LIMITED' });
      throw grpcError(status.RESOURCE_EXHAUSTED, 'RATE_LIMITED', 'too many requests; slow down and retry');
    }
    return true;
  }
}

/** "ipv4:10.0.0.7:53211" → "ipv4:10.0.0.7": one bucket per client host, not per connection. */
function peerAddress(peer: string | undefined): string {
  if (!peer) return 'unknown';
  const at = peer.lastIndexOf(':');
  return at > peer.indexOf(':') ? peer.slice(0, at) : peer;
}
