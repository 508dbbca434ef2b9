import { Injectable } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * The metrics every service exposes on /metrics. One registry per process. The names are a
 * contract with dashboards and alerts: add new ones freely, never rename (the prom-client defaults
 * lost their old `im_` prefix once, to match the standard names stock dashboards use).
 *
 *   im_grpc_requests_total{method,code}                 counter   gRPC calls handled, by resulting status
 *   im_grpc_request_duration_seconds{method}            histogram gRPC latency
 *   im_grpc_rejected_total{reason}                      counter   calls refused before any handler (UNAUTHENTICATED, RATE_LIMITED)
 *   im_grpc_stream_items_total{method,code}             counter   requests answered one by one on a stream (SendMessages), by their answer's status
 *   im_grpc_stream_item_duration_seconds{method}        histogram time from reading such a request to its answer
 *   im_kafka_consumer_lag{group,topic,partition}        gauge     records between the last applied offset and the partition end, read when scraped
 *   im_consumer_checkpoint_offset{group,topic,partition} gauge    projection position: next offset the group will apply
 *   im_read_barrier_wait_seconds{group,outcome}         histogram time a read waited for its projection to apply its inputs (outcome ok, behind)
 *   im_kafka_records_applied_total{group,topic}         counter   records applied by consumers
 *   im_kafka_dead_letters_total{topic,code}             counter   records dead-lettered, by source topic and reason code
 *   im_kafka_consumer_errors_total{group,topic}         counter   batch applications that failed and were retried
 *   im_kafka_consumer_up{group}                         gauge     1 while the group's consumer consumes, 0 while it restarts or is halted (a stalled batch: readiness, consumer_errors)
 *   im_kafka_consumer_restarts_total{group,status}      counter   times a consumer was stopped and started again (restarting: crash; halted: checkpoint mismatch)
 *   im_outbox_published_total                           counter   events moved from the outbox to Kafka
 *   im_outbox_backlog                                   gauge     committed events not yet on Kafka (alert when it keeps growing)
 *   process_*, nodejs_*                                 default   prom-client process metrics (CPU, memory, event loop lag, GC)
 */
/** Latency buckets shared by the request and stream-item histograms, so their quantiles compare. */
const LATENCY_BUCKETS_SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/**
 * The lag gauge, filled when scraped: each tracked group's reader runs then. A group whose reader
 * fails (broker or database unreachable) reports no series for that scrape rather than a stale one.
 */
function lagGauge(registry: Registry, readers: Map<string, () => Promise<Map<string, number>>>) {
  return new Gauge({
    name: 'im_kafka_consumer_lag',
    help: 'Records between the last applied offset and the partition end, per consumer group and partition (read when scraped)',
    labelNames: ['group', 'topic', 'partition'] as const,
    registers: [registry],
    async collect() {
      const read = await Promise.all([...readers].map(async ([group, reader]) => ({ group, lag: await reader().catch(() => new Map<string, number>()) })));
      this.reset();
      for (const { group, lag } of read) {
        for (const [key, records] of lag) {
          const at = key.lastIndexOf(':');
          this.set({ group, topic: key.slice(0, at), partition: key.slice(at + 1) }, records);
        }
      }
    },
  });
}

@Injectable()
export class ServiceMetrics {
  readonly registry = new Registry();

  readonly grpcRequests = new Counter({
    name: 'im_grpc_requests_total',
    help: 'gRPC requests handled, by method and status code',
    labelNames: ['method', 'code'] as const,
    registers: [this.registry],
  });

  readonly grpcDuration = new Histogram({
    name: 'im_grpc_request_duration_seconds',
    help: 'gRPC request latency',
    labelNames: ['method'] as const,
    buckets: LATENCY_BUCKETS_SECONDS,
    registers: [this.registry],
  });

  readonly readBarrierWait = new Histogram({
    name: 'im_read_barrier_wait_seconds',
    help: 'Time a read waited at the read barrier for its projection to apply what its input topics held (outcome ok, or behind: PROJECTION_BEHIND)',
    labelNames: ['group', 'outcome'] as const,
    buckets: LATENCY_BUCKETS_SECONDS,
    registers: [this.registry],
  });

  readonly grpcRejected = new Counter({
    name: 'im_grpc_rejected_total',
    help: 'gRPC calls refused before reaching a handler, by reason (UNAUTHENTICATED, RATE_LIMITED)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly grpcStreamItems = new Counter({
    name: 'im_grpc_stream_items_total',
    help: 'Requests answered one by one on a gRPC stream (such as SendMessages), by method and the status of their answer',
    labelNames: ['method', 'code'] as const,
    registers: [this.registry],
  });

  readonly grpcStreamItemDuration = new Histogram({
    name: 'im_grpc_stream_item_duration_seconds',
    help: 'Time from reading a request on a gRPC stream to its answer',
    labelNames: ['method'] as const,
    buckets: LATENCY_BUCKETS_SECONDS,
    registers: [this.registry],
  });

  readonly checkpointOffset = new Gauge({
    name: 'im_consumer_checkpoint_offset',
    help: 'Projection position: the next offset each consumer group will apply, per partition',
    labelNames: ['group', 'topic', 'partition'] as const,
    registers: [this.registry],
  });

  /** Per consumer group, how to read its lag now (see `trackLag`). */
  private readonly lagReaders = new Map<string, () => Promise<Map<string, number>>>();

  readonly consumerLag = lagGauge(this.registry, this.lagReaders);

  readonly consumedRecords = new Counter({
    name: 'im_kafka_records_applied_total',
    help: 'Records applied by consumers',
    labelNames: ['group', 'topic'] as const,
    registers: [this.registry],
  });

  readonly deadLetters = new Counter({
    name: 'im_kafka_dead_letters_total',
    help: 'Records sent to a dead-letter topic, by source topic and reason code',
    labelNames: ['topic', 'code'] as const,
    registers: [this.registry],
  });

  readonly consumerErrors = new Counter({
    name: 'im_kafka_consumer_errors_total',
    help: 'Batch applications that failed and were retried',
    labelNames: ['group', 'topic'] as const,
    registers: [this.registry],
  });

  readonly consumerUp = new Gauge({
    name: 'im_kafka_consumer_up',
    help: 'Whether a consumer group of this instance is consuming (1) or restarting or halted (0)',
    labelNames: ['group'] as const,
    registers: [this.registry],
  });

  readonly consumerRestarts = new Counter({
    name: 'im_kafka_consumer_restarts_total',
    help: 'Times a consumer was stopped to be started again, by cause (restarting: it crashed; halted: its checkpoint does not belong to this cluster)',
    labelNames: ['group', 'status'] as const,
    registers: [this.registry],
  });

  readonly outboxPublished = new Counter({
    name: 'im_outbox_published_total',
    help: 'Events moved from the outbox to Kafka',
    registers: [this.registry],
  });

  readonly outboxBacklog = new Gauge({
    name: 'im_outbox_backlog',
    help: 'Committed events not yet published to Kafka',
    registers: [this.registry],
  });

  /** Records where a consumer group stands after applying a batch (its checkpoint position). */
  recordApplied(group: string, topic: string, partition: number, nextOffset: string): void {
    this.checkpointOffset.set({ group, topic, partition: String(partition) }, Number(nextOffset));
  }

  /**
   * Makes `im_kafka_consumer_lag` of a group read at every scrape, from the broker's end offsets and
   * the group's stored positions (`consumerLag`), never from the last batch applied: a consumer that
   * has stopped applying would otherwise keep showing the lag it had when it stopped, usually 0.
   */
  trackLag(group: string, read: () => Promise<Map<string, number>>): void {
    this.lagReaders.set(group, read);
  }

  constructor() {
    // Unprefixed: the standard names stock Node.js dashboards and alerts expect.
    collectDefaultMetrics({ register: this.registry });
  }
}
