import { status } from '@grpc/grpc-js';
import { dlqTopicOf, TOPICS } from '@im/contracts';
import { GrpcTestClient, grpcClient, reasonOf, ServiceProcess, testDb, testKafka, TopicWatcher, uniqueId } from '@im/testing';

jest.setTimeout(120_000);

describe('channels service over gRPC, on real Kafka and Postgres', () => {
  let service: ServiceProcess;
  let channels: GrpcTestClient;
  let watcher: TopicWatcher;
  let db: Awaited<ReturnType<typeof testDb>>;

  beforeAll(async () => {
    service = await ServiceProcess.start('channels');
    channels = grpcClient('ChannelService', service.grpcAddress);
    watcher = await new TopicWatcher().start([TOPICS.channelsEvents]);
    db = await testDb();
  });

  afterAll(async () => {
    channels?.close();
    await watcher?.stop();
    await db?.end();
    await service?.stop();
  });

  const group = () => ({ channelId: uniqueId('g'), channelType: 2 });

  it('creates, updates with a field mask and reads back a channel', async () => {
    const channel = group();
    const created = await channels.createChannel({ channel, attributes: { name: 'Team', extra: { topic: 'launch' } } });
    expect(created).toMatchObject({ channel, version: 1, deleted: false, attributes: { name: 'Team', ban: false, extra: { topic: 'launch' } } });

    const updated = await channels.updateChannel({
      channel,
      attributes: { ban: true, name: 'not applied: outside the mask' },
      updateMask: { paths: ['ban'] },
      expectedVersion: 1,
    });
    expect(updated).toMatchObject({ version: 2, attributes: { name: 'Team', ban: true } });

    const read = await channels.getChannel({ channel });
    expect(read).toMatchObject({ channel, version: 2, attributes: { name: 'Team', ban: true, extra: { topic: 'launch' } } });
  });

  it('rejects a stale expected_version with FAILED_PRECONDITION and changes nothing', async () => {
    const channel = group();
    await channels.createChannel({ channel, attributes: { name: 'v1' } });
    await channels.updateChannel({ channel, attributes: { name: 'v2' }, updateMask: { paths: ['name'] }, expectedVersion: 1 });

    const error = await channels
      .updateChannel({ channel, attributes: { name: 'lost update' }, updateMask: { paths: ['name'] }, expectedVersion: 1 })
      .catch((e) => e);
    expect(reasonOf(error)).toMatchObject({ code: status.FAILED_PRECONDITION, reason: 'VERSION_MISMATCH' });
    expect(await channels.getChannel({ channel })).toMatchObject({ version: 2, attributes: { name: 'v2' } });
  });

  it.each([
    ['an empty channel id', { channel: { channelId: '', channelType: 2 } }, 'EMPTY_ID'],
    ['a channel id with spaces', { channel: { channelId: 'has space', channelType: 2 } }, 'ID_INVALID_CHARACTERS'],
    ['a channel id over 64 characters', { channel: { channelId: 'x'.repeat(65), channelType: 2 } }, 'ID_TOO_LONG'],
    ['channel_type 0', { channel: { channelId: 'ok', channelType: 0 } }, 'INVALID_CHANNEL_TYPE'],
    ['a name over 256 characters', { channel: { channelId: 'ok', channelType: 2 }, attributes: { name: 'n'.repeat(257) } }, 'ATTRIBUTE_TOO_LONG'],
    ['an extra key with spaces', { channel: { channelId: 'ok', channelType: 2 }, attributes: { extra: { 'a b': '1' } } }, 'INVALID_EXTRA_KEY'],
  ])('rejects %s with INVALID_ARGUMENT and a reason, storing nothing', async (_label, request, reason) => {
    const before = await db.rows<{ n: number }>('SELECT count(*)::int AS n FROM channels.events');
    const error = await channels.createChannel(request).catch((e) => e);
    expect(reasonOf(error)).toMatchObject({ code: status.INVALID_ARGUMENT, reason });
    expect(reasonOf(error).details).toContain(reason);
    const after = await db.rows<{ n: number }>('SELECT count(*)::int AS n FROM channels.events');
    expect(after[0].n).toBe(before[0].n);
  });

  it('answers NOT_FOUND for unknown and deleted channels, and ALREADY_EXISTS for duplicates', async () => {
    const channel = group();
    expect(reasonOf(await channels.getChannel({ channel }).catch((e) => e))).toMatchObject({ code: status.NOT_FOUND, reason: 'CHANNEL_NOT_FOUND' });
    await channels.createChannel({ channel });
    expect(reasonOf(await channels.createChannel({ channel }).catch((e) => e))).toMatchObject({ code: status.ALREADY_EXISTS, reason: 'CHANNEL_EXISTS' });
    expect(await channels.deleteChannel({ channel })).toMatchObject({ version: 2, deleted: true });
    expect(reasonOf(await channels.getChannel({ channel }).catch((e) => e))).toMatchObject({ code: status.NOT_FOUND });
  });

  it('publishes every change to im.channels.events.v1, keyed by channel, in a versioned envelope', async () => {
    const channel = group();
    await channels.createChannel({ channel, attributes: { name: 'a' } });
    await channels.updateChannel({ channel, attributes: { sendBan: true }, updateMask: { paths: ['send_ban'] } });
    await channels.deleteChannel({ channel });

    const key = `2:${channel.channelId}`;
    const records = await watcher.waitFor((r) => r.key === key, 'three channel events', 3);
    const envelopes = records.map((r) => JSON.parse(r.value!));
    expect(envelopes.map((e) => [e.type, e.data.version])).toEqual([
      ['channel.created', 1],
      ['channel.updated', 2],
      ['channel.deleted', 3],
    ]);
    for (const e of envelopes) {
      expect(e).toMatchObject({ version: 1, key, data: { channel } });
      expect(e.id).toMatch(/^[0-9a-f-]{36}$/);
      expect(Number.isNaN(Date.parse(e.occurred_at))).toBe(false);
    }
    expect(envelopes[1].data).toMatchObject({ changedFields: ['send_ban'], attributes: { sendBan: true, name: 'a' } });
    expect(new Set(records.map((r) => r.partition)).size).toBe(1);
    expect(records[0].headers['x-event-type']).toBe('channel.created');
  });

  it('keeps versions gapless under concurrent updates of one channel', async () => {
    const channel = group();
    await channels.createChannel({ channel });
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => channels.updateChannel({ channel, attributes: { name: `n${i}` }, updateMask: { paths: ['name'] } })),
    );
    expect(results.map((r) => Number(r.version)).sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 2));
  });

  it('serves grpc.health.v1 and HTTP health', async () => {
    const health = grpcClient('Health', service.grpcAddress);
    expect(await health.check({ service: '' })).toEqual({ status: 'SERVING' });
    health.close();
    expect((await fetch(`http://127.0.0.1:${service.httpPort}/health/live`)).status).toBe(200);
    const metrics = await (await fetch(`http://127.0.0.1:${service.httpPort}/metrics`)).text();
    expect(metrics).toContain('im_grpc_requests_total{method="im.v1.ChannelService/CreateChannel",code="OK"}');
  });

  it('creates its topics at start, including the commands DLQ', async () => {
    const admin = testKafka().admin();
    await admin.connect();
    const topics = await admin.listTopics();
    await admin.disconnect();
    expect(topics).toEqual(expect.arrayContaining([TOPICS.channelsEvents, TOPICS.channelsCommands, dlqTopicOf(TOPICS.channelsCommands)]));
  });
});
