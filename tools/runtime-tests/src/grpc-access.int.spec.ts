import { credentials, loadPackageDefinition, Metadata, status } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { grpcClient, reasonOf, ServiceProcess, uniqueId } from '@im/testing';

jest.setTimeout(120_000);

const TOKEN = 'gateway-token-0123456789abcdef';
const OTHER = 'second-gateway-token-abcdefghij';

const authorization = (value: string) => {
  const metadata = new Metadata();
  metadata.set('authorization', value);
  return metadata;
};
const bearer = (token: string) => authorization(`Bearer ${token}`);
const channel = () => ({ channel: { channelId: uniqueId('auth'), channelType: 2 } });

/** Admission on a real channels service: authentication, rate limit and message size, set by env. */
describe('gRPC authentication (GRPC_AUTH_TOKENS)', () => {
  let service: ServiceProcess;

  beforeAll(async () => {
    service = await ServiceProcess.start('channels', { GRPC_AUTH_TOKENS: `${TOKEN}, ${OTHER}` });
  });
  afterAll(async () => {
    await service?.stop();
  });

  it('refuses a call without a token with UNAUTHENTICATED', async () => {
    const client = grpcClient('ChannelService', service.grpcAddress);
    const error = await client.createChannel(channel()).catch((e) => e);
    client.close();
    expect(reasonOf(error)).toMatchObject({ code: status.UNAUTHENTICATED, reason: 'UNAUTHENTICATED' });
  });

  it.each([
    ['a wrong token', `Bearer not-the-token-at-all-000000`],
    ['a token that is a prefix of a right one', `Bearer ${TOKEN.slice(0, -1)}`],
    ['a right token in another scheme', `Basic ${TOKEN}`],
  ])('refuses %s with UNAUTHENTICATED', async (_label, value) => {
    const client = grpcClient('ChannelService', service.grpcAddress);
    const error = await client.createChannel(channel(), authorization(value)).catch((e) => e);
    client.close();
    expect(reasonOf(error)).toMatchObject({ code: status.UNAUTHENTICATED, reason: 'UNAUTHENTICATED' });
  });

  it('accepts each configured token, on writes and reads', async () => {
    const client = grpcClient('ChannelService', service.grpcAddress);
    const request = channel();
    await expect(client.createChannel(request, bearer(TOKEN))).resolves.toMatchObject({ version: 1 });
    await expect(client.getChannel(request, bearer(OTHER))).resolves.toMatchObject({ version: 1 });
    client.close();
  });

  it('leaves grpc.health.v1 open for probes, Check and Watch', async () => {
    const health = grpcClient('Health', service.grpcAddress);
    await expect(health.check({ service: '' })).resolves.toMatchObject({ status: 'SERVING' });
    // Watch streams the status from its first message on; the client ends it when it has seen enough.
    const watch = health.raw.watch({ service: 'im.v1.ChannelService' });
    const first = await new Promise<unknown>((resolve, reject) => {
      watch.once('data', resolve);
      watch.once('error', reject);
    });
    expect(first).toMatchObject({ status: 'SERVING' });
    watch.on('error', () => undefined); // the CANCELLED status of our own cancel
    watch.cancel();
    health.close();
  });

  it('counts refusals on /metrics', async () => {
    const text = await (await fetch(`http://127.0.0.1:${service.httpPort}/metrics`)).text();
    expect(text).toMatch(/im_grpc_rejected_total\{reason="UNAUTHENTICATED"\} [1-9]/);
  });

  it('answers server reflection without a token, as grpcurl asks it: the services and their descriptors', async () => {
    const answers = await reflect(service.grpcAddress, [{ listServices: '' }, { fileContainingSymbol: 'im.v1.ChannelService' }]);
    const names = answers[0].listServicesResponse.service.map((s: { name: string }) => s.name);
    expect(names).toEqual(expect.arrayContaining(['im.v1.ChannelService', 'grpc.health.v1.Health']));
    expect(answers[1].fileDescriptorResponse.fileDescriptorProto.length).toBeGreaterThan(0);
  });
});

/** Asks grpc.reflection.v1 the given questions on one stream, as reflection clients do; resolves with the answers in order. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function reflect(address: string, questions: object[]): Promise<any[]> {
  const protoPath = require.resolve('@grpc/reflection/build/proto/grpc/reflection/v1/reflection.proto');
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const loaded = loadPackageDefinition(loadSync(protoPath, { longs: String, defaults: true, oneofs: true })) as any;
  const client = new loaded.grpc.reflection.v1.ServerReflection(address, credentials.createInsecure());
  const call = client.serverReflectionInfo();
  try {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const answers: any[] = [];
    const done = new Promise<void>((resolve, reject) => {
      call.on('data', (answer: unknown) => answers.push(answer) === questions.length && resolve());
      call.on('error', reject);
    });
    for (const question of questions) call.write(question);
    await done;
    return answers;
  } finally {
    call.end();
    client.close();
  }
}

/** Scoped tokens on a real channels service: a gateway's token reads channels but cannot manage them. */
describe('gRPC token scopes (GRPC_AUTH_TOKENS with scope:token entries)', () => {
  const GATEWAY = 'gateway-only-token-0123456789';
  const ADMIN = 'admin-only-token-0123456789ab';
  let service: ServiceProcess;

  beforeAll(async () => {
    service = await ServiceProcess.start('channels', { GRPC_AUTH_TOKENS: `gateway:${GATEWAY}, admin:${ADMIN}` });
  });
  afterAll(async () => {
    await service?.stop();
  });

  it('refuses a management call with a gateway token with PERMISSION_DENIED / SCOPE_REQUIRED, and nothing is created', async () => {
    const client = grpcClient('ChannelService', service.grpcAddress);
    const request = channel();
    const error = await client.createChannel(request, bearer(GATEWAY)).catch((e) => e);
    expect(reasonOf(error)).toMatchObject({ code: status.PERMISSION_DENIED, reason: 'SCOPE_REQUIRED' });
    expect(error.details).toMatch(/ChannelService\/CreateChannel needs a token with scope admin or service/);
    const lookup = await client.getChannel(request, bearer(GATEWAY)).catch((e) => e);
    client.close();
    expect(reasonOf(lookup)).toMatchObject({ code: status.NOT_FOUND });
  });

  it('lets the admin token manage and the gateway token read what it made', async () => {
    const client = grpcClient('ChannelService', service.grpcAddress);
    const request = channel();
    await expect(client.createChannel(request, bearer(ADMIN))).resolves.toMatchObject({ version: 1 });
    await expect(client.getChannel(request, bearer(GATEWAY))).resolves.toMatchObject({ version: 1 });
    client.close();
  });

  it('counts scope refusals on /metrics', async () => {
    const text = await (await fetch(`http://127.0.0.1:${service.httpPort}/metrics`)).text();
    expect(text).toMatch(/im_grpc_rejected_total\{reason="SCOPE_REQUIRED"\} [1-9]/);
  });
});

/** GRPC_MAX_CONNECTION_AGE_MS: long-lived connections are recycled, so load spreads to new instances. */
describe('gRPC connection age', () => {
  let service: ServiceProcess;

  beforeAll(async () => {
    service = await ServiceProcess.start('channels', { GRPC_MAX_CONNECTION_AGE_MS: '1000', GRPC_MAX_CONNECTION_AGE_GRACE_MS: '500' });
  });
  afterAll(async () => {
    await service?.stop();
  });

  it('ends a stream held past the age and grace with UNAVAILABLE, and the client reconnects for the next call', async () => {
    const health = grpcClient('Health', service.grpcAddress);
    const watch = health.raw.watch({ service: '' });
    watch.on('data', () => undefined);
    const ended = await new Promise<{ code: number }>((resolve) => watch.on('error', resolve));
    expect(ended.code).toBe(status.UNAVAILABLE);
    await expect(health.check({ service: '' })).resolves.toMatchObject({ status: 'SERVING' });
    health.close();
  });
});

describe('gRPC request limits', () => {
  let service: ServiceProcess;

  beforeAll(async () => {
    service = await ServiceProcess.start('channels', {
      // One call per 1000 s sustained: after the burst, every call in this test is over the limit.
      GRPC_RATE_LIMIT_PER_SECOND: '0.001',
      GRPC_RATE_LIMIT_BURST: '3',
      GRPC_MAX_MESSAGE_BYTES: '2048',
    });
  });
  afterAll(async () => {
    await service?.stop();
  });

  it('refuses calls beyond the burst with RESOURCE_EXHAUSTED / RATE_LIMITED, and keeps health open', async () => {
    const client = grpcClient('ChannelService', service.grpcAddress);
    const results = [];
    for (let i = 0; i < 5; i++)
      results.push(
        await client.createChannel(channel()).then(
          () => 'ok',
          (e) => reasonOf(e),
        ),
      );
    client.close();
    expect(results.slice(0, 3)).toEqual(['ok', 'ok', 'ok']);
    for (const refused of results.slice(3)) expect(refused).toMatchObject({ code: status.RESOURCE_EXHAUSTED, reason: 'RATE_LIMITED' });

    const health = grpcClient('Health', service.grpcAddress);
    await expect(health.check({ service: '' })).resolves.toMatchObject({ status: 'SERVING' });
    health.close();
  });

  it('refuses a request larger than GRPC_MAX_MESSAGE_BYTES with RESOURCE_EXHAUSTED', async () => {
    const client = grpcClient('ChannelService', service.grpcAddress);
    const error = await client.createChannel({ ...channel(), attributes: { name: 'x'.repeat(4096) } }).catch((e) => e);
    client.close();
    expect(error.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(error.details).toMatch(/larger than max/i);
  });
});
