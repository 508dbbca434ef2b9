import { decodeEnvelope, Envelope, MessageType } from '@im/contracts';
import {
  BatchConsumer,
  classifyFailure,
  EndOffsetsReader,
  ConsumedBatch,
  ConsumedRecord,
  consumerLag,
  nextOffsetOf,
  ReadBarrier,
  RecordFailures,
  sendToDeadLetter,
  traceHeadersOf,
  withBatchConsumerSpan,
} from '@im/kafka';
import { CheckpointMismatchError, ConsumerCheckpoints, inTransaction } from '@im/persistence';
import { BeforeApplicationShutdown, Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { Admin, Kafka, Producer } from 'kafkajs';
import { DataSource, EntityManager } from 'typeorm';
import { BaseConfig } from './config';
import { ConsumerRegistry, ProjectionHaltedError, supervisionOptions } from './consumer-supervision';
import { CORRELATION_HEADER, withCorrelation } from './correlation';
import { ServiceMetrics } from './metrics';
import { CONFIG, DATA_SOURCE, END_OFFSETS, KAFKA, KAFKA_ADMIN, PRODUCER, SERVICE_INFO, ServiceInfo } from './tokens';

export interface ProjectedEvent<T = unknown> {
  envelope: Envelope<T>;
  topic: string;
  partition: number;
  offset: string;
}

export interface ProjectionOptions {
  groupId: string;
  topics: string[];
  /** The event types this projection reads; other types are skipped (producers may add new ones). */
  types: readonly MessageType<unknown>[];
  /** Applies a partition's events, in order, in the transaction that also moves the checkpoint. */
  apply: (em: EntityManager, events: ProjectedEvent[], slice: { clusterId?: string }) => Promise<void>;
  /**
   * Runs before the batch's transaction opens, e.g. to wait for another projection's read barrier
   * without holding a database connection while waiting.
   */
  beforeBatch?: () => Promise<void>;
  /** Runs after the transaction committed (e.g. to push deliveries or flush the outbox). */
  afterCommit?: (events: ProjectedEvent[]) => Promise<void>;
  partitionConcurrency?: number;
  maxBatchSize?: number;
}

type Decoded = ConsumedRecord & { event?: ProjectedEvent };

/**
 * A batch applied in one transaction has one correlation context: the records' common correlation
 * id when they share one (the usual case for a single request's events), none otherwise.
 */
function inBatchContext<T>(batch: ConsumedBatch, fn: () => Promise<T>): Promise<T> {
  const ids = new Set(batch.records.map((r) => r.headers[CORRELATION_HEADER]));
  const [only] = ids;
  return ids.size === 1 && only ? withCorrelation(only, fn, traceHeadersOf()) : fn();
}

/**
 * A read model fed by event topics: each slice of a batch is applied once, with its checkpoint, in
 * one transaction. Malformed records go to `<topic>.dlq`; unknown types are skipped; the partition
 * always moves on. A slice that fails other than transiently is applied again one record at a time
 * (each with its checkpoint, in order), so the record at fault is found and dead-lettered and the
 * others are applied once.
 */
export class Projection {
  private readonly logger = new Logger('projection');
  private readonly consumer: BatchConsumer;
  private readonly appliedListeners: ((topic: string, partition: number, nextOffset: bigint) => void)[] = [];
  readonly checkpoints: ConsumerCheckpoints;
  private readonly failures = new RecordFailures();

  constructor(
    opts: ProjectionOptions,
    deps: { kafka: Kafka; producer: Producer; dataSource: DataSource; metrics: ServiceMetrics; schema: string; service: string; config: BaseConfig },
  ) {
    this.checkpoints = new ConsumerCheckpoints(deps.schema, opts.groupId);
    const handle = async (batch: ConsumedBatch) => {
      const records: Decoded[] = batch.records;
      let applied: ProjectedEvent[] = [];
      await opts.beforeBatch?.();
      await inTransaction(deps.dataSource, (em) =>
        this.checkpoints.applyOnce(em, { ...batch, records }, async (fresh) => {
          applied = [];
          for (const record of fresh) {
            const decoded = decodeEnvelope(record.value, opts.types, record.key);
            if (decoded.ok) {
              applied.push({ envelope: decoded.envelope, topic: batch.topic, partition: batch.partition, offset: record.offset });
            } else if (decoded.rejection.code !== 'UNKNOWN_TYPE') {
              await sendToDeadLetter(deps.producer, batch.topic, batch.partition, record, decoded.rejection);
              deps.metrics.deadLetters.inc({ topic: batch.topic, code: decoded.rejection.code });
              this.logger.warn({ topic: batch.topic, offset: record.offset, ...decoded.rejection }, 'event dead-lettered');
            }
          }
          if (applied.length > 0) await opts.apply(em, applied, { clusterId: batch.clusterId });
        }),
      );
      if (applied.length > 0) await opts.afterCommit?.(applied);
      deps.metrics.consumedRecords.inc({ group: opts.groupId, topic: batch.topic }, batch.records.length);
    };
    const retried = (error: unknown) => error instanceof CheckpointMismatchError || classifyFailure(error) === 'transient';
    const applyAlone = async (batch: ConsumedBatch, record: ConsumedRecord) => {
      const single = { ...batch, records: [record] };
      try {
        await handle(single);
        this.failures.forget(batch.topic, batch.partition, record.offset);
        return;
      } catch (error) {
        const rejection = retried(error) ? undefined : this.failures.verdict(batch.topic, batch.partition, record.offset, error);
        if (!rejection) throw error;
        // Dead-letter first, then move the checkpoint past it: a crash in between sends it twice, never loses it.
        await sendToDeadLetter(deps.producer, batch.topic, batch.partition, record, rejection);
        deps.metrics.deadLetters.inc({ topic: batch.topic, code: rejection.code });
        this.logger.warn({ group: opts.groupId, topic: batch.topic, partition: batch.partition, offset: record.offset, ...rejection }, 'event dead-lettered');
        await inTransaction(deps.dataSource, (em) => this.checkpoints.applyOnce(em, single, async () => undefined));
      }
    };
    const isolating = async (batch: ConsumedBatch) => {
      try {
        await handle(batch);
      } catch (error) {
        if (retried(error)) throw error;
        for (const record of batch.records) await applyAlone(batch, record);
      }
    };
    this.consumer = new BatchConsumer({
      kafka: deps.kafka,
      groupId: opts.groupId,
      // The database checkpoint, not Kafka's committed offset, says where this group really is.
      storedPosition: (topic, partition) => this.checkpoints.position(deps.dataSource, topic, partition),
      ...supervisionOptions({
        groupId: opts.groupId,
        checkpoints: this.checkpoints,
        dataSource: deps.dataSource,
        metrics: deps.metrics,
        config: deps.config,
        fix: `rebuild the projection from this cluster's topics with \`npm run admin -- rebuild ${deps.service} ${opts.groupId}\`, or point DATABASE_URL / KAFKA_BROKERS at the pair that belong together`,
      }),
      topics: opts.topics,
      partitionConcurrency: opts.partitionConcurrency,
      maxBatchSize: opts.maxBatchSize,
      handle: (batch) => withBatchConsumerSpan({ ...batch, groupId: opts.groupId }, batch.records, () => inBatchContext(batch, () => isolating(batch))),
      onError: (error, batch, attempt) => {
        deps.metrics.consumerErrors.inc({ group: opts.groupId, topic: batch.topic });
        this.logger.warn({ err: error, group: opts.groupId, topic: batch.topic, partition: batch.partition, attempt }, 'projection batch failed; retrying');
      },
      onApplied: (batch) => {
        const next = nextOffsetOf(batch);
        deps.metrics.recordApplied(opts.groupId, batch.topic, batch.partition, next);
        for (const listener of this.appliedListeners) listener(batch.topic, batch.partition, BigInt(next));
      },
    });
  }

  /** Called after each applied slice has committed, with the partition's next offset (e.g. to wake read barriers). */
  onApplied(listener: (topic: string, partition: number, nextOffset: bigint) => void): void {
    this.appliedListeners.push(listener);
  }

  start(): Promise<void> {
    return this.consumer.start();
  }

  stop(): Promise<void> {
    return this.consumer.stop();
  }

  health() {
    return this.consumer.health();
  }
}

/** Builds projections and read barriers wired to this service's infrastructure. */
@Injectable()
export class ProjectionFactory {
  constructor(
    @Inject(KAFKA) private readonly kafka: Kafka,
    @Inject(KAFKA_ADMIN) private readonly admin: Admin,
    @Inject(END_OFFSETS) private readonly endOffsets: EndOffsetsReader,
    @Inject(PRODUCER) private readonly producer: Producer,
    @Inject(DATA_SOURCE) private readonly dataSource: DataSource,
    @Inject(SERVICE_INFO) private readonly service: ServiceInfo,
    @Inject(CONFIG) private readonly config: BaseConfig,
    private readonly metrics: ServiceMetrics,
    private readonly consumers: ConsumerRegistry,
  ) {}

  create(opts: ProjectionOptions): Projection {
    const projection = new Projection(opts, {
      kafka: this.kafka,
      producer: this.producer,
      dataSource: this.dataSource,
      metrics: this.metrics,
      schema: this.service.schema,
      service: this.service.name,
      config: this.config,
    });
    this.consumers.register(projection);
    this.metrics.trackLag(opts.groupId, () => consumerLag(this.admin, opts.topics, () => projection.checkpoints.positions(this.dataSource, opts.topics)));
    return projection;
  }

  /** Read-your-writes over the topics a projection consumes (ADR 3). */
  barrier(projection: Projection, { groupId, topics }: Pick<ProjectionOptions, 'groupId' | 'topics'>): ReadBarrier {
    const barrier = new ReadBarrier({
      endOffsets: this.endOffsets.read,
      topics,
      appliedPositions: () => projection.checkpoints.positions(this.dataSource, topics),
      timeoutMs: this.config.READ_BARRIER_TIMEOUT_MS,
      onWaited: (ms, outcome) => this.metrics.readBarrierWait.observe({ group: groupId, outcome }, ms / 1000),
    });
    projection.onApplied((topic, partition, next) => barrier.applied(topic, partition, next));
    return barrier;
  }
}

/**
 * A provider that owns one projection: starts it with the application, stops it (finishing the
 * batch in flight) before shutdown, and offers its read barrier. Subclasses call `host` from their
 * constructor.
 */
export abstract class ProjectionHost implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private hosted?: { projection: Projection; readBarrier: ReadBarrier };

  protected host(factory: ProjectionFactory, opts: ProjectionOptions): void {
    const projection = factory.create(opts);
    this.hosted = { projection, readBarrier: factory.barrier(projection, opts) };
  }

  /**
   * Read-your-writes: resolves once everything on the input topics when called is applied (else
   * PROJECTION_BEHIND). A halted projection fails at once: its positions cannot be trusted.
   */
  async barrier(): Promise<void> {
    const { projection, readBarrier } = this.hostedProjection();
    const health = projection.health();
    if (health.status === 'halted') throw new ProjectionHaltedError(health);
    return readBarrier.wait();
  }

  onApplicationBootstrap() {
    return this.hostedProjection().projection.start();
  }

  beforeApplicationShutdown() {
    return this.hostedProjection().projection.stop();
  }

  private hostedProjection() {
    if (!this.hosted) throw new Error(`${this.constructor.name} never called host()`);
    return this.hosted;
  }
}
