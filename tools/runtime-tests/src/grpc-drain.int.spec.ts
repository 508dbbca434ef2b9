import { status } from '@grpc/grpc-js';
import { eventually, grpcClient, ServiceProcess } from '@im/testing';

jest.setTimeout(120_000);

describe('graceful close of the gRPC server (real process, Kafka and Postgres)', () => {
  it('on SIGTERM tells health watchers NOT_SERVING, ends their streams with OK and exits 0 before its shutdown timeout', async () => {
    // A short timeout: a server that waited for a stream nobody ends would be killed with exit 1.
    const service = await ServiceProcess.start('channels', { SHUTDOWN_TIMEOUT_MS: '15000' });
    const health = grpcClient('Health', service.grpcAddress);
    try {
      const seen: string[] = [];
      const watch = health.raw.watch({ service: 'im.v1.ChannelService' });
      const ended = new Promise<{ code: number; details: string }>((resolve) => watch.on('status', resolve));
      watch.on('data', (r: { status: string }) => seen.push(r.status));
      watch.on('error', () => undefined);
      await eventually(async () => seen.length > 0, 'the first health status');
      expect(seen).toEqual(['SERVING']);

      const exitCode = await service.stop();
      const end = await ended;
      expect({ exitCode, seen, end: end.code }).toEqual({ exitCode: 0, seen: ['SERVING', 'NOT_SERVING'], end: status.OK });
    } finally {
      health.close();
      await service.kill();
    }
  });
});
