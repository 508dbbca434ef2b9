import { ServerCredentials } from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import { BaseConfig } from './config';

export type GrpcTransportSecurity = 'plaintext' | 'tls' | 'mutual-tls';

type TlsConfig = Pick<BaseConfig, 'GRPC_TLS_CERT_FILE' | 'GRPC_TLS_KEY_FILE' | 'GRPC_TLS_CLIENT_CA_FILE'>;

export const grpcTransportSecurityOf = (config: TlsConfig): GrpcTransportSecurity =>
  !config.GRPC_TLS_CERT_FILE || !config.GRPC_TLS_KEY_FILE ? 'plaintext' : config.GRPC_TLS_CLIENT_CA_FILE ? 'mutual-tls' : 'tls';

/**
 * The gRPC server's credentials from GRPC_TLS_*: plaintext, TLS, or mutual TLS, where the handshake
 * itself refuses a client without a certificate signed by the client CA. The files are read once at
 * start; a rotated certificate takes effect on the next (rolling) restart.
 */
export function grpcServerCredentials(config: TlsConfig): ServerCredentials {
  const { GRPC_TLS_CERT_FILE: cert, GRPC_TLS_KEY_FILE: key, GRPC_TLS_CLIENT_CA_FILE: clientCa } = config;
  if (!cert || !key) return ServerCredentials.createInsecure();
  return ServerCredentials.createSsl(
    clientCa ? readFileSync(clientCa) : null,
    [{ cert_chain: readFileSync(cert), private_key: readFileSync(key) }],
    Boolean(clientCa),
  );
}
