import { randomUUID } from 'node:crypto';
import { dlqTopicOf, TOPICS } from '@im/contracts';
import { eventually, GrpcTestClient, grpcClient, kcatProduce, ServiceProcess, TopicWatcher, uniqueId } from '@im/testing';

jest.setTimeout(180_000);

const envelope = (type: string, key: string, data: unknown, id: string = randomUUID()) =>
  JSON.stringify({ id, type, version: 1, occurred_at: new Date().toISOString(), key, data });

describe('subscriptions commands on Kafka (produced by kcat, an independent client)', () => {
  let channelsService: ServiceProcess;
  let service: ServiceProcess;
  let channels: GrpcTestClient;
  let subs: GrpcTestClient;
  let dlq: TopicWatcher;
  let events: TopicWatcher;

  beforeAll(async () => {
    channelsService = await ServiceProcess.start('channels');
    service = await ServiceProcess.start('subscriptions');
    channels = grpcClient('ChannelService', channelsService.grpcAddress);
    subs = grpcClient('SubscriptionService', service.grpcAddress);
    dlq = await new TopicWatcher().start([dlqTopicOf(TOPICS.subscriptionsCommands)]);
    events = await new TopicWatcher().start([TOPICS.subscriptionsEvents]);
  });

  afterAll(async () => {
    channels?.close();
    subs?.close();
    await dlq?.stop();
    await events?.stop();
    await service?.stop();
    await channelsService?.stop();
  });

  const created = async () => {
    const channel = { channelId: uniqueId('kg'), channelType: 2 };
    await channels.createChannel({ channel });
    return { channel, key: `2:${channel.channelId}` };
  };
  const membersOnceVersion = (channel: object, version: number) =>
    eventually(async () => {
      const page = await subs.listSubscribers({ channel });
      return Number(page.membershipVersion) >= version ? page : undefined;
    }, `membership version ${version}`);

  it('applies a good command, dead-letters a malformed one with its reason, and still applies the next', async () => {
    const { channel, key } = await created();
    const badKey = `2:${uniqueId('bad')}`;
    kcatProduce(TOPICS.subscriptionsCommands, [
      { key, value: envelope('subscribers.add', key, { channel, uids: ['bob', 'alice'] }) },
      { key: badKey, value: '{"this is": not json' },
      { key, value: envelope('subscribers.remove', key, { channel, uids: ['bob'] }) },
    ]);

    expect(await membersOnceVersion(channel, 2)).toEqual({ uids: ['alice'], nextPageToken: '', membershipVersion: 2 });
    const [dead] = await dlq.waitFor((r) => r.key === badKey, 'malformed record in the DLQ');
    expect(dead.value).toBe('{"this is": not json');
    expect(dead.headers).toMatchObject({ 'x-dlq-error-code': 'MALFORMED_JSON', 'x-dlq-source-topic': TOPICS.subscriptionsCommands });
    expect(dead.headers['x-dlq-reason']).toMatch(/not JSON/);

    const published = await events.waitFor((r) => r.key === key, 'two membership events', 2);
    expect(published.map((r) => JSON.parse(r.value ?? 'null')).map((e) => [e.type, e.data.uids, e.data.membershipVersion])).toEqual([
      ['subscribers.added', ['alice', 'bob'], 1],
      ['subscribers.removed', ['bob'], 2],
    ]);
  });

  it.each([
    ['a person channel', () => ({ channel: { channelId: 'alice|bob', channelType: 1 }, uids: ['carol'] }), 'INVALID_ARGUMENT/PERSON_CHANNEL_MEMBERSHIP'],
    ['a bad uid', (id: string) => ({ channel: { channelId: id, channelType: 2 }, uids: ['ok', 'not ok'] }), 'INVALID_ARGUMENT/ID_INVALID_CHARACTERS'],
    ['an unknown channel', () => ({ channel: { channelId: uniqueId('nope'), channelType: 2 }, uids: ['a'] }), 'NOT_FOUND/CHANNEL_NOT_FOUND'],
    ['data of the wrong shape', (id: string) => ({ channel: id, uids: 'a' }), 'INVALID_DATA'],
  ])('dead-letters a command with %s, with the reason code', async (_label, data, code) => {
    const { channel, key } = await created();
    const bad = data(channel.channelId);
    // Keyed by the channel it names (a command keyed for another channel is refused as KEY_MISMATCH first).
    const badKey = typeof bad.channel === 'object' ? `${bad.channel.channelType}:${bad.channel.channelId}` : key;
    kcatProduce(TOPICS.subscriptionsCommands, [
      { key: badKey, value: envelope('subscribers.add', badKey, bad) },
      { key, value: envelope('subscribers.add', key, { channel, uids: ['after'] }) },
    ]);
    const [dead] = await dlq.waitFor((r) => r.key === badKey, `${code} in the DLQ`);
    expect(dead.headers['x-dlq-error-code']).toBe(code);
    expect(await membersOnceVersion(channel, 1)).toEqual({ uids: ['after'], nextPageToken: '', membershipVersion: 1 });
  });

  it('applies a redelivered command once (same envelope id twice)', async () => {
    const { channel, key } = await created();
    const id = randomUUID();
    const addOnce = envelope('subscribers.add', key, { channel, uids: ['once'] }, id);
    kcatProduce(TOPICS.subscriptionsCommands, [
      { key, value: addOnce },
      { key, value: envelope('subscribers.remove', key, { channel, uids: ['once'] }) },
      // The first command again: were it applied a second time, `once` would be back.
      { key, value: addOnce },
      // Same key, same partition: once this is applied, everything above has been consumed.
      { key, value: envelope('subscribers.add', key, { channel, uids: ['marker'] }) },
    ]);
    expect(await membersOnceVersion(channel, 3)).toEqual({ uids: ['marker'], nextPageToken: '', membershipVersion: 3 });
  });

  it('applies a command right behind the creation of its channel on Kafka', async () => {
    const channelId = uniqueId('kc');
    const channel = { channelId, channelType: 2 };
    const key = `2:${channelId}`;
    kcatProduce(TOPICS.channelsCommands, [{ key, value: envelope('channel.create', key, { channel }) }]);
    await eventually(() => channels.getChannel({ channel }).catch(() => undefined), 'channel created from Kafka');
    kcatProduce(TOPICS.subscriptionsCommands, [{ key, value: envelope('subscribers.add', key, { channel, uids: ['x', 'y'], reset: true }) }]);
    expect(await membersOnceVersion(channel, 1)).toEqual({ uids: ['x', 'y'], nextPageToken: '', membershipVersion: 1 });
  });
});
