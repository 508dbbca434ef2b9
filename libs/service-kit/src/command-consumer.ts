import { DataOf, decodeEnvelope, Envelope, MessageType, Rejection } from '@im/contracts';
import {
  BatchConsumer,
  ConsumedBatch,
  ConsumedRecord,
  consumerLag,
  nextOffsetOf,
  RecordFailures,
  sendToDeadLetter,
  traceHeadersOf,
  withConsumerSpan,
} from '@im/kafka';
import { CheckpointMismatchError, ConsumerCheckpoints, EventStore, inTransaction, isStreamConflict, OutboxRelay } from '@im/persistence';
import { DomainError, refusalOf } from '@im/shared-domain';
import { BeforeApplicationShutdown, Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { Admin, Kafka, Producer } from 'kafkajs';
import { DataSource, EntityManager } from 'typeorm';
import { commandKeyMismatch } from './command-key';
import { ConsumerRegistry, supervisionOptions } from './consumer-supervision';
import { CORRELATION_HEADER, correlationIdFrom, withCorrelation } from './correlation';
import { ServiceMetrics } from './metrics';
import { CONFIG, DATA_SOURCE, KAFKA, KAFKA_ADMIN, OUTBOX_RELAY, PRODUCER, SERVICE_INFO, ServiceInfo } from './tokens';
import { BaseConfig } from './config';

export interface CommandConsumerOptions<M extends MessageType<unknown>> {
  kafka: Kafka;
  producer: Producer;
  dataSource: DataSource;
  relay: OutboxRelay;
  metrics: ServiceMetrics;
  schema: string;
  /** The service's name, for the admin command an operator is pointed to. */
  service: string;
  config: BaseConfig;
  groupId: string;
  topic: string;
  types: readonly M[];
  /**
   * Applies one command inside the given transaction. A DomainError, or a failure of the record's
   * own data (see classifyFailure), sends the record to the DLQ; anything transient is retried.
   */
  execute: (em: EntityManager, command: Envelope<DataOf<M>>, type: M) => Promise<void>;
  /**
   * Runs before the batch's commands are applied, outside any transaction: the place to wait for a
   * read barrier without holding a database connection. It covers every command of the batch, as
   * each was on the topic before the batch was fetched.
   */
  beforeBatch?: () => Promise<void>;
  partitionConcurrency?: number;
}

/** What a service supplies for a command consumer; the factory adds its infrastructure. */
export type HostedCommandConsumer<M extends MessageType<unknown>> = Pick<
  CommandConsumerOptions<M>,
  'groupId' | 'topic' | 'types' | 'execute' | 'beforeBatch' | 'partitionConcurrency'
>;

/**
 * Consumes a commands topic with the same semantics as the gRPC API. Each command is applied once:
 * its id is claimed in the transaction that applies it, together with the partition checkpoint.
 * Invalid or refused commands, commands keyed for another channel than the one they name, and
 * commands that fail deterministically (Postgres refuses their data, or they keep failing) go to
 * `<topic>.dlq` with the reason, and the partition moves on. Each command runs in its own
 * transaction, so a bad one is isolated by construction.
 */
export class CommandConsumer<M extends MessageType<unknown>> {
  private readonly logger = new Logger('commands');
  private readonly consumer: BatchConsumer;
  private readonly checkpoints: ConsumerCheckpoints;
  private readonly store: EventStore;
  private readonly failures = new RecordFailures({ isExpectedConflict: isStreamConflict });

  constructor(private readonly opts: CommandConsumerOptions<M>) {
    this.checkpoints = new ConsumerCheckpoints(opts.schema, opts.groupId);
    this.store = new EventStore(opts.schema);
    this.consumer = new BatchConsumer({
      kafka: opts.kafka,
      groupId: opts.groupId,
      // The database checkpoint, not Kafka's committed offset, says where this group really is.
      storedPosition: (topic, partition) => this.checkpoints.position(opts.dataSource, topic, partition),
      // Commands are applied once by id, so a command consumer re-reads this cluster's topic from the start.
      ...supervisionOptions({
        groupId: opts.groupId,
        checkpoints: this.checkpoints,
        dataSource: opts.dataSource,
        metrics: opts.metrics,
        config: opts.config,
        fix: `forget its positions with \`npm run admin -- checkpoints reset ${opts.service} ${opts.groupId}\` (commands already applied are recognised by id), or point DATABASE_URL / KAFKA_BROKERS at the pair that belong together`,
      }),
      topics: [opts.topic],
      partitionConcurrency: opts.partitionConcurrency,
      handle: async (batch) => {
        await opts.beforeBatch?.();
        for (const record of batch.records) {
          // Each command is its own unit of work: its correlation id and trace reach the events it causes and the logs.
          await withConsumerSpan({ ...batch, groupId: opts.groupId }, record, () =>
            withCorrelation(correlationIdFrom(record.headers[CORRELATION_HEADER]), () => this.applyOne(batch, record), traceHeadersOf()),
          );
        }
        await this.opts.relay.flush();
        this.opts.metrics.consumedRecords.inc({ group: opts.groupId, topic: batch.topic }, batch.records.length);
      },
      onError: (error, batch, attempt) => {
        opts.metrics.consumerErrors.inc({ group: opts.groupId, topic: batch.topic });
        this.logger.warn({ err: error, topic: batch.topic, partition: batch.partition, attempt }, 'command batch failed; retrying');
      },
      onApplied: (batch) => opts.metrics.recordApplied(opts.groupId, batch.topic, batch.partition, nextOffsetOf(batch)),
    });
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

  private async applyOne(batch: ConsumedBatch, record: ConsumedRecord): Promise<void> {
    const { topic, partition } = batch;
    const single = { topic, partition, clusterId: batch.clusterId, records: [record] };
    const decoded = decodeEnvelope(record.value, this.opts.types, record.key);
    let rejection: Rejection | undefined = decoded.ok ? commandKeyMismatch(record.key, decoded.envelope.key, decoded.envelope.data) : decoded.rejection;
    if (decoded.ok && !rejection) {
      try {
        await inTransaction(
          this.opts.dataSource,
          (em) =>
            this.checkpoints.applyOnce(em, single, async () => {
              if (!(await this.store.claimCommand(em, decoded.envelope.id))) return;
              await this.opts.execute(em, decoded.envelope, decoded.type!);
            }),
          { retryOn: isStreamConflict },
        );
        this.failures.forget(topic, partition, record.offset);
        return;
      } catch (error) {
        if (error instanceof DomainError) rejection = { code: refusalOf(error), reason: error.message };
        else if (!(error instanceof CheckpointMismatchError)) rejection = this.failures.verdict(topic, partition, record.offset, error);
        // Transient (or not yet given up on): the batch is retried with backoff from this record on.
        if (!rejection) throw error;
      }
    }
    // Dead-letter first, then move the checkpoint: a crash in between re-sends (a duplicate in the
    // DLQ, identified by its source offset) rather than losing the record.
    await sendToDeadLetter(this.opts.producer, topic, partition, record, rejection!);
    this.opts.metrics.deadLetters.inc({ topic, code: rejection!.code });
    this.logger.warn({ topic, partition, offset: record.offset, code: rejection!.code, reason: rejection!.reason }, 'command dead-lettered');
    await inTransaction(this.opts.dataSource, (em) => this.checkpoints.applyOnce(em, single, async () => undefined));
  }
}

/** Builds command consumers wired to this service's infrastructure; services supply only what differs. */
@Injectable()
export class CommandConsumerFactory {
  constructor(
    @Inject(KAFKA) private readonly kafka: Kafka,
    @Inject(KAFKA_ADMIN) private readonly admin: Admin,
    @Inject(PRODUCER) private readonly producer: Producer,
    @Inject(DATA_SOURCE) private readonly dataSource: DataSource,
    @Inject(OUTBOX_RELAY) private readonly relay: OutboxRelay,
    @Inject(SERVICE_INFO) private readonly service: ServiceInfo,
    @Inject(CONFIG) private readonly config: BaseConfig,
    private readonly metrics: ServiceMetrics,
    private readonly consumers: ConsumerRegistry,
  ) {}

  create<M extends MessageType<unknown>>(opts: HostedCommandConsumer<M>) {
    const consumer = new CommandConsumer<M>({
      ...opts,
      kafka: this.kafka,
      producer: this.producer,
      dataSource: this.dataSource,
      relay: this.relay,
      metrics: this.metrics,
      schema: this.service.schema,
      service: this.service.name,
      config: this.config,
    });
    this.consumers.register(consumer);
    const checkpoints = new ConsumerCheckpoints(this.service.schema, opts.groupId);
    this.metrics.trackLag(opts.groupId, () => consumerLag(this.admin, [opts.topic], () => checkpoints.positions(this.dataSource, [opts.topic])));
    return consumer;
  }
}

/**
 * A provider that owns one command consumer: started with the application, stopped (finishing the
 * batch in flight and leaving the group) before shutdown. Subclasses call `host` from their constructor.
 */
export abstract class CommandConsumerHost implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private consumer?: { start(): Promise<void>; stop(): Promise<void> };

  protected host<M extends MessageType<unknown>>(factory: CommandConsumerFactory, opts: HostedCommandConsumer<M>): void {
    this.consumer = factory.create(opts);
  }

  onApplicationBootstrap() {
    return this.hostedConsumer().start();
  }

  beforeApplicationShutdown() {
    return this.hostedConsumer().stop();
  }

  private hostedConsumer() {
    if (!this.consumer) throw new Error(`${this.constructor.name} never called host()`);
    return this.consumer;
  }
}
