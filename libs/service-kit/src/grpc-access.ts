import { status } from '@grpc/grpc-js';
import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { createHash, timingSafeEqual } from 'node:crypto';
import { authTokensOf, BaseConfig } from './config';
import { grpcCallOf, grpcMethodOf } from './grpc-call';
import { grpcError } from './grpc-errors';
import { ServiceMetrics } from './metrics';
import { RateLimiter } from './rate-limit';
import { mayCall, Scope, scopesFor } from './scopes';

const digest = (value: string) => createHash('sha256').update(value).digest();

/**
 * The index of the entry of `accepted` (token digests) that `presented` equals, or -1; the time
 * taken does not depend on where they differ.
 */
export function matchingToken(presented: string, accepted: readonly Buffer[]): number {
  // Comparing fixed-size digests hides the token length too; every token is compared, no early exit.
  const candidate = digest(presented);
  let match = -1;
  accepted.forEach((token, i) => {
    if (timingSafeEqual(candidate, token)) match = i;
  });
  return match;
}

/** True when `presented` equals one of `accepted`. */
export const tokenMatches = (presented: string, accepted: readonly Buffer[]) => matchingToken(presented, accepted) >= 0;

const BEARER = /^Bearer\s+(\S+)\s*$/i;

/** Probes (grpc.health.v1) stay open so the platform can check an instance without credentials. */
const isOpen = (context: ExecutionContext) => grpcMethodOf(context).service === 'Health';

/**
 * Admission for every im.v1 call, before any handler runs: a bearer token from the configured list
 * (`authorization: Bearer <token>` metadata) whose scopes may call the method (`scopesFor`) when
 * authentication is on, then the per-client rate limit (per token, or per peer address when
 * authentication is off).
 */
@Injectable()
export class GrpcAccessGuard implements CanActivate {
  private readonly tokens: Buffer[];
  private readonly scopes: ReadonlySet<Scope>[];
  private readonly limiter?: RateLimiter;

  constructor(
    config: Pick<BaseConfig, 'GRPC_AUTH_TOKENS' | 'GRPC_RATE_LIMIT_PER_SECOND' | 'GRPC_RATE_LIMIT_BURST'>,
    private readonly metrics?: ServiceMetrics,
  ) {
    const accepted = authTokensOf(config);
    this.tokens = accepted.map((t) => digest(t.token));
    this.scopes = accepted.map((t) => t.scopes);
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
      const match = token ? matchingToken(token, this.tokens) : -1;
      if (!token || match < 0) {
        this.metrics?.grpcRejected.inc({ reason: 'UNAUTHENTICATED' });
        throw grpcError(
          status.UNAUTHENTICATED,
          'UNAUTHENTICATED',
          token ? 'the bearer token is not valid' : 'missing `authorization: Bearer <token>` metadata',
        );
      }
      const { service, rpc } = grpcMethodOf(context);
      const allowed = scopesFor(service, rpc);
      if (!mayCall(this.scopes[match], allowed)) {
        this.metrics?.grpcRejected.inc({ reason: 'SCOPE_REQUIRED' });
        throw grpcError(status.PERMISSION_DENIED, 'SCOPE_REQUIRED', `${service}/${rpc} needs a token with scope ${allowed.join(' or ')}`);
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
