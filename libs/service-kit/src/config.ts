import { existsSync } from 'node:fs';
import { z } from 'zod';
import { parseTokenEntry, ScopedToken } from './scopes';

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

const tokensIn = (value: string) =>
  value
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t.length > 0);

const port = z.coerce.number().int().min(1).max(65535);
const bool = z
  .enum(['true', 'false', '1', '0', ''])
  .default('false')
  .transform((v) => v === 'true' || v === '1');

/** Where servers listen unless told otherwise. */
export const DEFAULT_BIND_HOST = '127.0.0.1';

/** Whether a listen address takes connections from this machine only. */
export const isLoopbackHost = (host: string): boolean => host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);

/** Variables every service reads. Services extend it with their own. */
export const baseConfigSchema = z.object({
  DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL'),
  KAFKA_BROKERS: z.string().regex(/^[^,\s]+(,[^,\s]+)*$/, 'must be a comma-separated list of host:port'),
  KAFKA_CLIENT_ID: z.string().optional(),
  KAFKA_SSL: bool,
  KAFKA_SASL_MECHANISM: z.enum(['scram-sha-256', 'scram-sha-512', 'plain']).optional(),
  KAFKA_SASL_USERNAME: z.string().optional(),
  KAFKA_SASL_PASSWORD: z.string().optional(),
  KAFKA_TOPIC_PARTITIONS: z.coerce.number().int().min(1).max(1000).default(6),
  KAFKA_REPLICATION_FACTOR: z.coerce.number().int().min(1).max(7).default(1),
  /** Loopback by default: a development process is reachable from this machine only. Pods set 0.0.0.0. */
  GRPC_HOST: z.string().default(DEFAULT_BIND_HOST),
  HTTP_HOST: z.string().default(DEFAULT_BIND_HOST),
  /** Lets gRPC listen beyond loopback without GRPC_AUTH_TOKENS (e.g. behind a mesh that authenticates callers). */
  GRPC_ALLOW_UNAUTHENTICATED: bool,
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  DB_POOL_SIZE: z.coerce.number().int().min(1).max(200).default(10),
  MIGRATE_ON_START: bool,
  READ_BARRIER_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(5_000),
  /** Longest wait before a crashed consumer is started again (the wait doubles from 1 s up to this). */
  CONSUMER_RESTART_MAX_BACKOFF_MS: z.coerce.number().int().min(1_000).max(600_000).default(30_000),
  /** How often a consumer halted by a checkpoint from another cluster checks whether it was fixed. */
  CONSUMER_HALT_RETRY_MS: z.coerce.number().int().min(1_000).max(600_000).default(30_000),
  /** A partition whose batch keeps failing for this long makes the instance unready (and is reported). */
  CONSUMER_STALL_AFTER_MS: z.coerce.number().int().min(1_000).max(3_600_000).default(60_000),
  SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().min(1_000).max(120_000).default(20_000),
  /** PEM certificate chain gRPC serves TLS with (with GRPC_TLS_KEY_FILE); unset = plaintext, e.g. behind a mesh that encrypts. */
  GRPC_TLS_CERT_FILE: z.string().optional(),
  GRPC_TLS_KEY_FILE: z.string().optional(),
  /** PEM CA bundle that client certificates must chain to: set = mutual TLS, a client without such a certificate fails the handshake. */
  GRPC_TLS_CLIENT_CA_FILE: z.string().optional(),
  /** PEM file of the CA that signed the brokers' certificates (implies KAFKA_SSL); default: the system CAs. */
  KAFKA_SSL_CA_FILE: z.string().optional(),
  /**
   * Comma-separated bearer tokens accepted on im.v1 methods, each `scope[+scope...]:token` (scopes
   * gateway, admin, service; see docs/security.md) or a bare token with every scope; unset =
   * authentication off.
   */
  GRPC_AUTH_TOKENS: z
    .string()
    .optional()
    .refine((v) => v === undefined || v.trim() === '' || tokensIn(v).length > 0, 'set at least one token, or leave it empty to turn authentication off')
    .superRefine((v, ctx) => {
      for (const entry of tokensIn(v ?? '').map(parseTokenEntry)) {
        if (typeof entry === 'string') ctx.addIssue({ code: 'custom', message: entry });
        else if (entry.token.length < 16) ctx.addIssue({ code: 'custom', message: 'every token must be at least 16 characters' });
      }
    }),
  /**
   * Longest life of a client connection (0 = unlimited): the server then asks the client to
   * reconnect (HTTP/2 GOAWAY), so connections spread over instances the autoscaler added. Calls in
   * flight get GRPC_MAX_CONNECTION_AGE_GRACE_MS to finish; long streams (StreamDeliveries) end
   * with UNAVAILABLE then and are opened again by the gateway, which catches up as after any reconnect.
   */
  GRPC_MAX_CONNECTION_AGE_MS: z.coerce.number().int().min(0).max(86_400_000).default(0),
  GRPC_MAX_CONNECTION_AGE_GRACE_MS: z.coerce.number().int().min(0).max(3_600_000).default(30_000),
  /** gRPC server reflection, for grpcurl, grpcui and Postman (answers without a token: the contract is public). */
  GRPC_REFLECTION: z
    .enum(['true', 'false', '1', '0', ''])
    .default('true')
    .transform((v) => v !== 'false' && v !== '0'),
  GRPC_MAX_MESSAGE_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .max(64 * 1024 * 1024)
    .default(4 * 1024 * 1024),
  /** Sustained im.v1 calls per second per token (or per peer address without auth); 0 = no limit. */
  GRPC_RATE_LIMIT_PER_SECOND: z.coerce.number().min(0).max(1_000_000).default(0),
  /** Calls a client may make at once above the sustained rate; default: one second's worth. */
  GRPC_RATE_LIMIT_BURST: z.coerce.number().int().min(1).max(1_000_000).optional(),
  TRACING: z.enum(['off', 'otlp', 'console']).optional(),
  OTEL_EXPORTER_OTLP_ENDPOINT: z.url({ message: 'must be a URL such as http://otel-collector:4318' }).optional(),
  OTEL_SERVICE_NAME: z.string().optional(),
});

export const servicePorts = (grpc: number, http: number) => z.object({ GRPC_PORT: port.default(grpc), HTTP_PORT: port.default(http) });

export type BaseConfig = z.infer<typeof baseConfigSchema> & { GRPC_PORT: number; HTTP_PORT: number };

/** Rules that span several variables; checked on the raw environment so they join the schema's problems. */
function crossFieldProblems(env: NodeJS.ProcessEnv): string[] {
  const problems: string[] = [];
  if (env.KAFKA_SASL_MECHANISM && (!env.KAFKA_SASL_USERNAME || !env.KAFKA_SASL_PASSWORD)) {
    problems.push('KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD are required when KAFKA_SASL_MECHANISM is set');
  }
  if (!env.KAFKA_SASL_MECHANISM && (env.KAFKA_SASL_USERNAME || env.KAFKA_SASL_PASSWORD)) {
    problems.push('KAFKA_SASL_MECHANISM: required when KAFKA_SASL_USERNAME or KAFKA_SASL_PASSWORD is set (scram-sha-256, scram-sha-512 or plain)');
  }
  if (env.KAFKA_SSL_CA_FILE && !existsSync(env.KAFKA_SSL_CA_FILE)) {
    problems.push(`KAFKA_SSL_CA_FILE: no such file: ${env.KAFKA_SSL_CA_FILE}`);
  }
  problems.push(...tlsProblems(env));
  const grpcHost = env.GRPC_HOST || DEFAULT_BIND_HOST;
  const allowed = env.GRPC_ALLOW_UNAUTHENTICATED === 'true' || env.GRPC_ALLOW_UNAUTHENTICATED === '1';
  // A verified client certificate authenticates the caller too (mutual TLS).
  if (!isLoopbackHost(grpcHost) && !env.GRPC_AUTH_TOKENS?.trim() && !env.GRPC_TLS_CLIENT_CA_FILE && !allowed) {
    problems.push(
      `GRPC_HOST: ${grpcHost} takes calls from other machines while GRPC_AUTH_TOKENS is unset, so anyone who reaches the port could act as any user: ` +
        'set GRPC_AUTH_TOKENS or GRPC_TLS_CLIENT_CA_FILE, listen on 127.0.0.1, or set GRPC_ALLOW_UNAUTHENTICATED=true where something else authenticates callers',
    );
  }
  if (env.TRACING === 'otlp' && !env.OTEL_EXPORTER_OTLP_ENDPOINT) {
    problems.push('OTEL_EXPORTER_OTLP_ENDPOINT: required when TRACING=otlp');
  }
  return problems;
}

/** The gRPC TLS files: certificate and key together, a client CA only with them, every file present. */
function tlsProblems(env: NodeJS.ProcessEnv): string[] {
  const problems: string[] = [];
  const { GRPC_TLS_CERT_FILE: cert, GRPC_TLS_KEY_FILE: key, GRPC_TLS_CLIENT_CA_FILE: clientCa } = env;
  if (Boolean(cert) !== Boolean(key)) problems.push('GRPC_TLS_CERT_FILE and GRPC_TLS_KEY_FILE: set both (TLS) or neither (plaintext)');
  if (clientCa && !(cert && key))
    problems.push('GRPC_TLS_CLIENT_CA_FILE: mutual TLS needs the server certificate too (GRPC_TLS_CERT_FILE and GRPC_TLS_KEY_FILE)');
  for (const [name, file] of Object.entries({ GRPC_TLS_CERT_FILE: cert, GRPC_TLS_KEY_FILE: key, GRPC_TLS_CLIENT_CA_FILE: clientCa })) {
    if (file && !existsSync(file)) problems.push(`${name}: no such file: ${file}`);
  }
  return problems;
}

/**
 * Validates the environment once at start; every bad or missing variable is named in one error, so
 * an operator fixes them all in one go rather than one restart each.
 */
export function loadConfig<S extends z.ZodType>(schema: S, env: NodeJS.ProcessEnv = process.env): z.infer<S> {
  const result = schema.safeParse(env);
  const problems = result.success ? [] : result.error.issues.map((i) => `${i.path.join('.') || '(env)'}: ${i.message}`);
  problems.push(...crossFieldProblems(env));
  if (problems.length > 0) throw new ConfigError(problems);
  return result.data as z.infer<S>;
}

/** The accepted bearer tokens with their scopes, or none when authentication is off. */
export const authTokensOf = (config: Pick<BaseConfig, 'GRPC_AUTH_TOKENS'>): ScopedToken[] =>
  tokensIn(config.GRPC_AUTH_TOKENS ?? '')
    .map(parseTokenEntry)
    .filter((t): t is ScopedToken => typeof t !== 'string');

/** Tracing is off unless asked for: an OTLP endpoint, or TRACING=console for local debugging. */
export const tracingModeOf = (config: Pick<BaseConfig, 'TRACING' | 'OTEL_EXPORTER_OTLP_ENDPOINT'>): 'off' | 'otlp' | 'console' =>
  config.TRACING ?? (config.OTEL_EXPORTER_OTLP_ENDPOINT ? 'otlp' : 'off');
