import { Metadata } from '@grpc/grpc-js';
import { dlqTopicOf, HEADERS, TOPICS } from '@im/contracts';
import { eventually, GrpcTestClient, grpcClient, ServiceProcess, testProducer, TopicWatcher, uniqueId } from '@im/testing';
import { randomUUID } from 'node:crypto';
import { Producer } from 'kafkajs';

jest.setTimeout(120_000);

const withCorrelationId = (id: string) => {
  const metadata = new Metadata();
  metadata.set(HEADERS.correlationId, id);
  return metadata;
};
const envelope = (type: string, key: string, data: unknown) =>
  JSON.stringify({ id: randomUUID(), type, version: 1, occurred_at: new Date().toISOString(), key, data });

describe('correlation ids and metrics on a running service', () => {
  let service: ServiceProcess;
  let channels: GrpcTestClient;
  let events: TopicWatcher;
  let producer: Producer;

  beforeAll(async () => {
    service = await ServiceProcess.start('channels');
    channels = grpcClient('ChannelService', service.grpcAddress);
    events = await new TopicWatcher().start([TOPICS.channelsEvents, dlqTopicOf(TOPICS.channelsCommands)]);
    producer = await testProducer();
  });

  afterAll(async () => {
    channels?.close();
    await producer?.disconnect();
    await events?.stop();
    await service?.stop();
  });

  it('warns at start that authentication is off when no tokens are configured', () => {
    expect(service.logs).toMatch(/GRPC_AUTH_TOKENS is not set: gRPC authentication is OFF/);
  });

  it("carries a gRPC call's x-correlation-id into the event it causes", async () => {
    const channelId = uniqueId('corr');
    const correlationId = `req-${randomUUID()}`;
    await channels.createChannel({ channel: { channelId, channelType: 2 } }, withCorrelationId(correlationId));
    const [created] = await events.waitFor((r) => r.key === `2:${channelId}`, 'channel.created on Kafka');
    expect(created.headers[HEADERS.eventType]).toBe('channel.created');
    expect(created.headers[HEADERS.correlationId]).toBe(correlationId);
  });

  it('gives a call without one a fresh correlation id, different per call', async () => {
    const a = uniqueId('corr');
    const b = uniqueId('corr');
    await channels.createChannel({ channel: { channelId: a, channelType: 2 } });
    await channels.createChannel({ channel: { channelId: b, channelType: 2 } });
    const [ra] = await events.waitFor((r) => r.key === `2:${a}`, 'first event');
    const [rb] = await events.waitFor((r) => r.key === `2:${b}`, 'second event');
    expect(ra.headers[HEADERS.correlationId]).toMatch(/^[0-9a-f-]{36}$/);
    expect(rb.headers[HEADERS.correlationId]).toMatch(/^[0-9a-f-]{36}$/);
    expect(ra.headers[HEADERS.correlationId]).not.toBe(rb.headers[HEADERS.correlationId]);
  });

  it("carries a Kafka command's x-correlation-id into its event, and into the log of a refused one", async () => {
    const channelId = uniqueId('kcorr');
    const key = `2:${channelId}`;
    const good = `cmd-${randomUUID()}`;
    const bad = `bad-${randomUUID()}`;
    const badKey = `2:${uniqueId('kbad')}`;
    await producer.send({
      topic: TOPICS.channelsCommands,
      messages: [
        { key, value: envelope('channel.create', key, { channel: { channelId, channelType: 2 } }), headers: { [HEADERS.correlationId]: good } },
        { key: badKey, value: 'not json', headers: { [HEADERS.correlationId]: bad } },
      ],
    });
    const [created] = await events.waitFor((r) => r.key === key, 'event of the Kafka command');
    expect(created.headers[HEADERS.correlationId]).toBe(good);
    const [dead] = await events.waitFor((r) => r.key === badKey, 'dead-lettered command');
    expect(dead.headers[HEADERS.correlationId]).toBe(bad);
    await eventually(async () => service.logs.includes(`"correlationId":"${bad}"`), 'log line of the refused command with its correlation id');
  });

  it('exposes requests, latencies, lag, checkpoint positions, DLQ counts and the outbox on /metrics', async () => {
    const scrape = async () => (await fetch(`http://127.0.0.1:${service.httpPort}/metrics`)).text();
    const group = 'channels.commands';
    const text = await eventually(async () => {
      const t = await scrape();
      // The lag gauge is set after its batch commits, a moment after the DLQ counter moves.
      return /im_outbox_backlog 0\b/.test(t) && t.includes('im_kafka_dead_letters_total{') && t.includes(`im_kafka_consumer_lag{group="${group}"`)
        ? t
        : undefined;
    }, 'metrics after traffic');
    expect(text).toMatch(/im_grpc_requests_total\{method="im\.v1\.ChannelService\/CreateChannel",code="OK"\} [1-9]/);
    expect(text).toMatch(/im_grpc_request_duration_seconds_bucket\{le="0\.1",method="im\.v1\.ChannelService\/CreateChannel"\}/);
    expect(text).toMatch(new RegExp(`im_kafka_consumer_lag\\{group="${group}",topic="${TOPICS.channelsCommands}",partition="\\d+"\\} 0`));
    expect(text).toMatch(new RegExp(`im_consumer_checkpoint_offset\\{group="${group}",topic="${TOPICS.channelsCommands}",partition="\\d+"\\} [1-9]`));
    expect(text).toMatch(new RegExp(`im_kafka_records_applied_total\\{group="${group}",topic="${TOPICS.channelsCommands}"\\} [1-9]`));
    expect(text).toMatch(new RegExp(`im_kafka_dead_letters_total\\{topic="${TOPICS.channelsCommands}",code="MALFORMED_JSON"\\} [1-9]`));
    expect(text).toMatch(/im_outbox_published_total [1-9]/);
    expect(text).toMatch(/process_cpu_seconds_total/);
  });
});
