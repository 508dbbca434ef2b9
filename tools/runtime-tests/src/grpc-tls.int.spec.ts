import { credentials, status } from '@grpc/grpc-js';
import { certificateAuthority, grpcClient, ServiceProcess, uniqueId } from '@im/testing';

jest.setTimeout(120_000);

const newChannel = () => ({ channel: { channelId: uniqueId('tls'), channelType: 2 } });

/** GRPC_TLS_* on a real channels service: TLS, and mutual TLS where the handshake is the authentication. */
describe('gRPC over TLS', () => {
  const ca = certificateAuthority('im-test-ca');
  const server = ca.issue('127.0.0.1', 'server', 'IP:127.0.0.1');
  const client = ca.issue('gateway-1', 'client');
  const stranger = certificateAuthority('other-ca').issue('gateway-1', 'client');
  let tls: ServiceProcess;
  let mutual: ServiceProcess;

  beforeAll(async () => {
    [tls, mutual] = await ServiceProcess.together([
      ServiceProcess.start('channels', { LOG_LEVEL: 'info', GRPC_TLS_CERT_FILE: server.certFile, GRPC_TLS_KEY_FILE: server.keyFile }),
      ServiceProcess.start('channels', {
        LOG_LEVEL: 'info',
        GRPC_TLS_CERT_FILE: server.certFile,
        GRPC_TLS_KEY_FILE: server.keyFile,
        GRPC_TLS_CLIENT_CA_FILE: ca.certFile,
      }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([tls?.stop(), mutual?.stop()]);
  });

  const call = async (service: ServiceProcess, channelCredentials = credentials.createInsecure()) => {
    const channels = grpcClient('ChannelService', service.grpcAddress, { ownConnection: true, credentials: channelCredentials });
    try {
      return await channels.createChannel(newChannel());
    } catch (error) {
      return error as { code: number };
    } finally {
      channels.close();
    }
  };

  it('serves a client that trusts the server certificate, and no plaintext client', async () => {
    expect(await call(tls, credentials.createSsl(ca.cert))).toMatchObject({ version: 1 });
    expect(await call(tls)).toMatchObject({ code: status.UNAVAILABLE });
    expect(await call(tls, credentials.createSsl(certificateAuthority('untrusted').cert))).toMatchObject({ code: status.UNAVAILABLE });
  });

  it('with a client CA, serves only clients whose certificate it signed', async () => {
    expect(await call(mutual, credentials.createSsl(ca.cert, client.key, client.cert))).toMatchObject({ version: 1 });
    expect(await call(mutual, credentials.createSsl(ca.cert))).toMatchObject({ code: status.UNAVAILABLE });
    expect(await call(mutual, credentials.createSsl(ca.cert, stranger.key, stranger.cert))).toMatchObject({ code: status.UNAVAILABLE });
    expect(await call(mutual)).toMatchObject({ code: status.UNAVAILABLE });
  });

  it('reports its transport security at start', () => {
    expect(tls.logs).toContain('(tls)');
    expect(mutual.logs).toContain('(mutual-tls)');
  });
});
