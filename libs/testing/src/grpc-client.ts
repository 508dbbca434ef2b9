import { ChannelCredentials, ChannelOptions, credentials, loadPackageDefinition, Metadata, ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { GRPC_LOADER_OPTIONS, PROTO_FILES, PROTO_ROOT } from '@im/contracts';
import { join } from 'node:path';

type Unary = (request: unknown, metadata?: Metadata) => Promise<any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export type GrpcTestClient = Record<string, Unary> & { close(): void; raw: any }; // eslint-disable-line @typescript-eslint/no-explicit-any

let definition: ReturnType<typeof loadSync> | undefined;

/**
 * A plain grpc-js client of one im.v1 (or grpc.health.v1) service, with promise-returning methods.
 * Clients of one address share one connection (grpc-js pools them) unless `ownConnection` is set;
 * plaintext unless `credentials` say otherwise (TLS).
 */
export function grpcClient(service: string, address: string, opts: { ownConnection?: boolean; credentials?: ChannelCredentials } = {}): GrpcTestClient {
  definition ??= loadSync(
    PROTO_FILES.map((f: string) => join(PROTO_ROOT, f)),
    GRPC_LOADER_OPTIONS,
  );
  const pkg = loadPackageDefinition(definition) as any; // eslint-disable-line @typescript-eslint/no-explicit-any
  const Ctor = service === 'Health' ? pkg.grpc.health.v1.Health : pkg.im.v1[service];
  if (!Ctor) throw new Error(`unknown service ${service}`);
  const options: ChannelOptions = opts.ownConnection ? { 'grpc.use_local_subchannel_pool': 1 } : {};
  const raw = new Ctor(address, opts.credentials ?? credentials.createInsecure(), options);
  const client: Record<string, unknown> = { raw, close: () => raw.close() };
  for (const method of Object.keys(Ctor.service)) {
    const name = method.charAt(0).toLowerCase() + method.slice(1);
    client[name] = (request: unknown, metadata = new Metadata()) =>
      new Promise((resolve, reject) => {
        raw[method](request, metadata, { deadline: Date.now() + 30_000 }, (error: ServiceError | null, response: unknown) =>
          error ? reject(error) : resolve(response),
        );
      });
  }
  return client as GrpcTestClient;
}

/** The stable reason of a gRPC error (trailer `x-error-reason`), for assertions. */
export const reasonOf = (error: unknown) => {
  const e = error as ServiceError;
  return { code: e.code, reason: String(e.metadata?.get('x-error-reason')?.[0] ?? ''), details: e.details };
};
