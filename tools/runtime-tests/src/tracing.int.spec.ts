import { Metadata } from '@grpc/grpc-js';
import { TOPICS } from '@im/contracts';
import { BatchConsumer, ensureTopics, sendRecords, setKafkaTracing, topicSpec, withConsumerSpan } from '@im/kafka';
import { eventually, grpcClient, ServiceProcess, testKafka, testProducer, TopicWatcher, uniqueId } from '@im/testing';
import { context, SpanKind, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, ReadableSpan, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { randomBytes, randomUUID } from 'node:crypto';
import { Producer } from 'kafkajs';

jest.setTimeout(120_000);

const traceIdOf = (traceparent: string | undefined) => traceparent?.split('-')[1];
const spanIdOf = (traceparent: string | undefined) => traceparent?.split('-')[2];
const newTraceparent = () => `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`;

/** The libs/kafka propagation itself, with an in-memory exporter, on the real broker. */
describe('trace context across Kafka (libs/kafka)', () => {
  const exporter = new InMemorySpanExporter();
  const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const topic = uniqueId('im.tracing.test');
  let producer: Producer;

  beforeAll(async () => {
    provider.register();
    setKafkaTracing(true);
    const admin = testKafka().admin();
    await admin.connect();
    await ensureTopics(admin, [topicSpec(topic, 2, 1)]);
    await admin.disconnect();
    producer = await testProducer();
  });

  afterAll(async () => {
    setKafkaTracing(false);
    await producer?.disconnect();
    await provider.shutdown();
    trace.disable();
    context.disable();
  });

  it("makes the consumer span a child of the producer span, in the producing request's trace", async () => {
    const key = uniqueId('k');
    const request = trace.getTracer('test').startSpan('request');
    await context.with(trace.setSpan(context.active(), request), () => sendRecords(producer, [{ topic, key, value: 'traced' }]));
    request.end();

    const consumed: { traceparent?: string; inner?: string } = {};
    const consumer = new BatchConsumer({
      kafka: testKafka(),
      groupId: uniqueId('tracing'),
      topics: [topic],
      handle: async (batch) => {
        for (const record of batch.records.filter((r) => r.key === key)) {
          await withConsumerSpan({ topic, partition: batch.partition, groupId: 'g' }, record, async () => {
            consumed.traceparent = record.headers.traceparent;
            // Work done while applying the record belongs to the consumer span.
            trace.getTracer('test').startSpan('apply').end();
            consumed.inner = trace.getActiveSpan()?.spanContext().spanId;
          });
        }
      },
    });
    await consumer.start();
    try {
      await eventually(async () => consumed.traceparent, 'the traced record consumed');
    } finally {
      await consumer.stop();
    }

    const spans = exporter.getFinishedSpans();
    const producerSpan = spans.find((s) => s.kind === SpanKind.PRODUCER && s.name === `send ${topic}`)!;
    const consumerSpan = spans.find((s) => s.kind === SpanKind.CONSUMER && s.name === `process ${topic}`)!;
    const apply = spans.find((s) => s.name === 'apply')!;
    expect(producerSpan.parentSpanContext?.spanId).toBe(request.spanContext().spanId);
    expect(spanIdOf(consumed.traceparent)).toBe(producerSpan.spanContext().spanId);
    expect(consumerSpan.parentSpanContext?.spanId).toBe(producerSpan.spanContext().spanId);
    expect(consumerSpan.spanContext().traceId).toBe(request.spanContext().traceId);
    expect(consumerSpan.spanContext().spanId).toBe(consumed.inner);
    expect(apply.parentSpanContext?.spanId).toBe(consumerSpan.spanContext().spanId);
    expect(consumerSpan.attributes).toMatchObject({ 'messaging.system': 'kafka', 'messaging.destination.name': topic });
  });

  it('continues the trace a record already carries (an outbox row written during a traced request)', async () => {
    const origin = newTraceparent();
    exporter.reset();
    await sendRecords(producer, [{ topic, key: uniqueId('k'), value: 'from outbox', headers: { traceparent: origin } }]);
    const [producerSpan] = exporter.getFinishedSpans().filter((s: ReadableSpan) => s.kind === SpanKind.PRODUCER);
    expect(producerSpan.spanContext().traceId).toBe(traceIdOf(origin));
    expect(producerSpan.parentSpanContext?.spanId).toBe(spanIdOf(origin));
  });
});

/** The same, end to end through a running service with TRACING=console. */
describe('trace context through a running service', () => {
  let service: ServiceProcess;
  let events: TopicWatcher;

  beforeAll(async () => {
    service = await ServiceProcess.start('channels', { TRACING: 'console' });
    events = await new TopicWatcher().start([TOPICS.channelsEvents]);
  });

  afterAll(async () => {
    await events?.stop();
    await service?.stop();
  });

  it("continues a gRPC caller's traceparent into the event on Kafka", async () => {
    const caller = newTraceparent();
    const metadata = new Metadata();
    metadata.set('traceparent', caller);
    const channels = grpcClient('ChannelService', service.grpcAddress);
    const channelId = uniqueId('traced');
    await channels.createChannel({ channel: { channelId, channelType: 2 } }, metadata);
    channels.close();
    const [event] = await events.waitFor((r) => r.key === `2:${channelId}`, 'the traced event');
    expect(traceIdOf(event.headers.traceparent)).toBe(traceIdOf(caller));
    // A new span (the producer's), not the caller's.
    expect(spanIdOf(event.headers.traceparent)).not.toBe(spanIdOf(caller));
    expect(service.logs).toContain(traceIdOf(caller));
  });

  it("continues a Kafka command's traceparent into the event it causes", async () => {
    const origin = newTraceparent();
    const channelId = uniqueId('traced-cmd');
    const key = `2:${channelId}`;
    const producer = await testProducer();
    await producer.send({
      topic: TOPICS.channelsCommands,
      messages: [
        {
          key,
          value: JSON.stringify({
            id: randomUUID(),
            type: 'channel.create',
            version: 1,
            occurred_at: new Date().toISOString(),
            key,
            data: { channel: { channelId, channelType: 2 } },
          }),
          headers: { traceparent: origin },
        },
      ],
    });
    await producer.disconnect();
    const [event] = await events.waitFor((r) => r.key === key, 'the event of the traced command');
    expect(traceIdOf(event.headers.traceparent)).toBe(traceIdOf(origin));
  });

  it('writes the trace and span ids into the log lines of the work it traces', async () => {
    const origin = newTraceparent();
    const key = `2:${uniqueId('traced-bad')}`;
    const producer = await testProducer();
    // Not JSON: dead-lettered, with a warning logged while its consumer span is active.
    await producer.send({ topic: TOPICS.channelsCommands, messages: [{ key, value: 'not json', headers: { traceparent: origin } }] });
    await producer.disconnect();
    const line = await eventually(
      async () => service.logs.split('\n').find((l) => l.startsWith('{') && l.includes(`"trace_id":"${traceIdOf(origin)}"`)),
      'a log line with the trace id of the refused command',
    );
    expect(JSON.parse(line!)).toMatchObject({ trace_id: traceIdOf(origin), span_id: expect.stringMatching(/^[0-9a-f]{16}$/) });
  });
});
