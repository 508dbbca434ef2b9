import { randomUUID } from 'node:crypto';
import { dlqTopicOf, TOPICS } from '@im/contracts';
import { eventually, GrpcTestClient, grpcClient, kcatProduce, ServiceProcess, TopicWatcher, uniqueId } from '@im/testing';

jest.setTimeout(120_000);

const envelope = (type: string, key: string, data: unknown, id: string = randomUUID()) =>
  JSON.stringify({ id, type, version: 1, occurred_at: new Date().toISOString(), key, data });

describe('channels commands on Kafka (produced by kcat, an independent client)', () => {
  let service: ServiceProcess;
  let channels: GrpcTestClient;
  let dlq: TopicWatcher;

  beforeAll(async () => {
    service = await ServiceProcess.start('channels');
    channels = grpcClient('ChannelService', service.grpcAddress);
    dlq = await new TopicWatcher().start([dlqTopicOf(TOPICS.channelsCommands)]);
  });

  afterAll(async () => {
    channels?.close();
    await dlq?.stop();
    await service?.stop();
  });

  const getChannel = (channelId: string) => channels.getChannel({ channel: { channelId, channelType: 2 } }).catch(() => undefined);

  it('applies a good command, dead-letters a malformed one with its reason, and still applies the next', async () => {
    const first = uniqueId('k1');
    const next = uniqueId('k2');
    const badKey = `2:${uniqueId('bad')}`;
    kcatProduce(TOPICS.channelsCommands, [
      {
        key: `2:${first}`,
        value: envelope('channel.create', `2:${first}`, { channel: { channelId: first, channelType: 2 }, attributes: { name: 'from kafka' } }),
      },
      { key: badKey, value: '{"this is": not json' },
      { key: `2:${next}`, value: envelope('channel.create', `2:${next}`, { channel: { channelId: next, channelType: 2 } }) },
    ]);

    expect(await eventually(() => getChannel(first), 'first command applied')).toMatchObject({ attributes: { name: 'from kafka' }, version: 1 });
    expect(await eventually(() => getChannel(next), 'command after the bad one applied')).toMatchObject({ version: 1 });

    const [dead] = await dlq.waitFor((r) => r.key === badKey, 'malformed record in the DLQ');
    expect(dead.value).toBe('{"this is": not json');
    expect(dead.headers).toMatchObject({
      'x-dlq-error-code': 'MALFORMED_JSON',
      'x-dlq-source-topic': TOPICS.channelsCommands,
    });
    expect(dead.headers['x-dlq-reason']).toMatch(/not JSON/);
    expect(Number(dead.headers['x-dlq-source-offset'])).toBeGreaterThanOrEqual(0);
  });

  it('applies commands in canonical proto3 JSON (proto field names, 64-bit integers as strings), as Go and Java tools write them', async () => {
    const id = uniqueId('proto3');
    const key = `2:${id}`;
    const channel = { channel_id: id, channel_type: '2' };
    kcatProduce(TOPICS.channelsCommands, [
      { key, value: envelope('channel.create', key, { channel, attributes: { name: 'canonical', extra: { team_id: 't1' } } }) },
      { key, value: envelope('channel.update', key, { channel, attributes: { send_ban: true }, update_mask: 'sendBan', expected_version: '1' }) },
    ]);
    expect(await eventually(async () => (await getChannel(id))?.version === 2 && getChannel(id), 'both commands applied')).toMatchObject({
      attributes: { name: 'canonical', sendBan: true, extra: { team_id: 't1' } },
      version: 2,
    });
  });

  it('dead-letters commands the domain refuses, with the stable reason code', async () => {
    const missing = uniqueId('missing');
    const key = `2:${missing}`;
    kcatProduce(TOPICS.channelsCommands, [
      { key, value: envelope('channel.update', key, { channel: { channelId: missing, channelType: 2 }, attributes: { ban: true }, updateMask: 'ban' }) },
    ]);
    const [dead] = await dlq.waitFor((r) => r.key === key, 'refused update in the DLQ');
    expect(dead.headers['x-dlq-error-code']).toBe('NOT_FOUND/CHANNEL_NOT_FOUND');
  });

  it.each([
    ['an unknown type', (key: string) => envelope('channel.explode', key, {}), 'UNKNOWN_TYPE'],
    [
      'an envelope without id',
      (key: string) => JSON.stringify({ type: 'channel.create', version: 1, occurred_at: new Date().toISOString(), key, data: {} }),
      'INVALID_ENVELOPE',
    ],
    ['data of the wrong shape', (key: string) => envelope('channel.create', key, { channel: 'g1' }), 'INVALID_DATA'],
  ])('dead-letters %s', async (_label, make, code) => {
    const key = `2:${uniqueId('dl')}`;
    kcatProduce(TOPICS.channelsCommands, [{ key, value: make(key) }]);
    const [dead] = await dlq.waitFor((r) => r.key === key, `${code} in the DLQ`);
    expect(dead.headers['x-dlq-error-code']).toBe(code);
  });

  it('applies a redelivered command once (same envelope id twice)', async () => {
    const id = uniqueId('dup');
    const key = `2:${id}`;
    await channels.createChannel({ channel: { channelId: id, channelType: 2 } });
    const update = envelope('channel.update', key, {
      channel: { channelId: id, channelType: 2 },
      attributes: { name: 'once' },
      updateMask: { paths: ['name'] },
    });
    const marker = uniqueId('marker');
    kcatProduce(TOPICS.channelsCommands, [
      { key, value: update },
      { key, value: update },
      // Same partition (same key), so once this is applied both copies above have been consumed.
      { key, value: envelope('channel.update', key, { channel: { channelId: id, channelType: 2 }, attributes: { extra: { marker } }, updateMask: 'extra' }) },
    ]);
    const final = await eventually(async () => {
      const c = await getChannel(id);
      return c?.attributes.extra.marker === marker ? c : undefined;
    }, 'marker applied');
    expect(final).toMatchObject({ version: 3, attributes: { name: 'once' } });
  });
});
