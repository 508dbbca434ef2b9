import { Context, context, propagation, ROOT_CONTEXT, Span, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';

/**
 * Trace context across Kafka, W3C style: the producing span's context travels in the record's
 * `traceparent` header and the consuming span is its child. Only the OpenTelemetry API is used
 * here (a no-op until a tracer provider is registered, see service-kit's startTracing), so none of
 * this costs anything while tracing is off.
 */
let enabled = false;

/** Called by whoever registers a tracer provider (and by tests that register an in-memory one). */
export function setKafkaTracing(on: boolean): void {
  enabled = on;
}

export const kafkaTracingEnabled = () => enabled;

const tracer = () => trace.getTracer('im-kafka');

/** The trace context carried by record (or gRPC) headers; the root context when there is none. */
export const contextFromHeaders = (headers: Record<string, string | undefined>): Context => propagation.extract(ROOT_CONTEXT, headers);

/** `traceparent` (and `tracestate`) of a context, to put on an outgoing record. */
export function traceHeadersOf(ctx: Context = context.active()): Record<string, string> {
  if (!enabled) return {};
  const carrier: Record<string, string> = {};
  propagation.inject(ctx, carrier);
  return carrier;
}

interface OutgoingRecord {
  topic: string;
  key: string | null;
  headers?: Record<string, string>;
}

/**
 * Starts one PRODUCER span per record and stamps the record with it. A record that already
 * carries a `traceparent` (an outbox row written during a traced request) continues that trace;
 * otherwise the active span is the parent. The caller ends the spans once the broker acknowledged.
 */
export function startProducerSpans<R extends OutgoingRecord>(records: R[]): { records: R[]; end: (error?: unknown) => void } {
  if (!enabled) return { records, end: () => undefined };
  const spans: Span[] = [];
  const stamped = records.map((r) => {
    const parent = r.headers?.traceparent ? contextFromHeaders(r.headers) : context.active();
    const span = tracer().startSpan(
      `send ${r.topic}`,
      {
        kind: SpanKind.PRODUCER,
        attributes: {
          'messaging.system': 'kafka',
          'messaging.operation.type': 'send',
          'messaging.destination.name': r.topic,
          ...(r.key ? { 'messaging.kafka.message.key': r.key } : {}),
        },
      },
      parent,
    );
    spans.push(span);
    return { ...r, headers: { ...r.headers, ...traceHeadersOf(trace.setSpan(parent, span)) } };
  });
  return {
    records: stamped,
    end: (error?: unknown) => {
      for (const span of spans) {
        if (error) span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error)?.message });
        span.end();
      }
    },
  };
}

/** The semantic-convention attributes every Kafka "process" span carries. */
const processAttributes = (where: { topic: string; partition: number; groupId: string }) => ({
  'messaging.system': 'kafka',
  'messaging.operation.type': 'process',
  'messaging.destination.name': where.topic,
  'messaging.destination.partition.id': String(where.partition),
  'messaging.consumer.group.name': where.groupId,
});

/** Runs `fn` inside a CONSUMER span whose parent is the producing span named by the record's headers. */
export async function withConsumerSpan<T>(
  where: { topic: string; partition: number; groupId: string },
  record: { offset: string; key: string | null; headers: Record<string, string> },
  fn: () => Promise<T>,
): Promise<T> {
  if (!enabled) return fn();
  const parent = contextFromHeaders(record.headers);
  const span = tracer().startSpan(
    `process ${where.topic}`,
    {
      kind: SpanKind.CONSUMER,
      attributes: {
        ...processAttributes(where),
        'messaging.kafka.offset': Number(record.offset),
        ...(record.key ? { 'messaging.kafka.message.key': record.key } : {}),
      },
    },
    parent,
  );
  return runInSpan(span, parent, fn);
}

/**
 * One CONSUMER span for a batch applied in one transaction: a child of the first traced record's
 * producer, linked to the producers of the others (OpenTelemetry's convention for batch receives).
 */
export async function withBatchConsumerSpan<T>(
  where: { topic: string; partition: number; groupId: string },
  records: { offset: string; key: string | null; headers: Record<string, string> }[],
  fn: () => Promise<T>,
): Promise<T> {
  if (!enabled) return fn();
  const traced = records.filter((r) => r.headers.traceparent);
  if (records.length === 1 || traced.length <= 1) return withConsumerSpan(where, traced[0] ?? records[0], fn);
  const links = traced.slice(1).flatMap((r) => {
    const ctx = trace.getSpanContext(contextFromHeaders(r.headers));
    return ctx ? [{ context: ctx }] : [];
  });
  const parent = contextFromHeaders(traced[0].headers);
  const span = tracer().startSpan(
    `process ${where.topic}`,
    {
      kind: SpanKind.CONSUMER,
      links,
      attributes: {
        ...processAttributes(where),
        'messaging.batch.message_count': records.length,
      },
    },
    parent,
  );
  return runInSpan(span, parent, fn);
}

/** Runs `fn` with `span` active under `parent`; an error marks the span failed; the span always ends. */
function runInSpan<T>(span: Span, parent: Context, fn: () => Promise<T>): Promise<T> {
  return context.with(trace.setSpan(parent, span), async () => {
    try {
      return await fn();
    } catch (error) {
      span.recordException(error as Error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error)?.message });
      throw error;
    } finally {
      span.end();
    }
  });
}
