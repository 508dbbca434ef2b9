import { DynamicModule, Inject, Injectable, Logger, Module, OnApplicationBootstrap, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { createKafka, createProducer, endOffsetsReader, EndOffsetsReader, ensureTopics, sendRecords, topicSpec } from '@im/kafka';
import { createServiceDataSource, migrate, OutboxRelay } from '@im/persistence';
import { Admin, Kafka, Producer } from 'kafkajs';
import { isSpanContextValid, trace } from '@opentelemetry/api';
import { LoggerModule } from 'nestjs-pino';
import { DataSource, MigrationInterface } from 'typeorm';
import { CommandConsumerFactory } from './command-consumer';
import { ConsumerRegistry } from './consumer-supervision';
import { BaseConfig } from './config';
import { currentCorrelationId } from './correlation';
import { kafkaConnectionOf } from './kafka-connection';
import { ProjectionFactory } from './projection-consumer';
import { GrpcHealthController, HttpHealthController } from './health.controllers';
import { ServiceMetrics } from './metrics';
import { Readiness } from './readiness';
import { CONFIG, DATA_SOURCE, END_OFFSETS, KAFKA, KAFKA_ADMIN, OUTBOX_RELAY, PRODUCER, SERVICE_INFO, ServiceInfo } from './tokens';

export interface PlatformOptions {
  service: ServiceInfo;
  config: BaseConfig;
  migrations: (new () => MigrationInterface)[];
  /** Every topic this service produces to or consumes from; created at start if missing. */
  topics: string[];
}

@Injectable()
class PlatformModuleOptionsHolder {
  topics: string[] = [];
}

/** Starts the outbox relay once everything is wired, and closes infrastructure last on shutdown. */
@Injectable()
class PlatformLifecycle implements OnModuleInit, OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('platform');
  private backlogTimer?: NodeJS.Timeout;

  constructor(
    @Inject(SERVICE_INFO) private readonly service: ServiceInfo,
    @Inject(CONFIG) private readonly config: BaseConfig,
    @Inject(DATA_SOURCE) private readonly dataSource: DataSource,
    @Inject(KAFKA_ADMIN) private readonly admin: Admin,
    @Inject(END_OFFSETS) private readonly endOffsets: EndOffsetsReader,
    @Inject(PRODUCER) private readonly producer: Producer,
    @Inject(OUTBOX_RELAY) private readonly relay: OutboxRelay,
    private readonly metrics: ServiceMetrics,
    private readonly options: PlatformModuleOptionsHolder,
  ) {}

  async onModuleInit() {
    await ensureTopics(
      this.admin,
      this.options.topics.map((t) => topicSpec(t, this.config.KAFKA_TOPIC_PARTITIONS, this.config.KAFKA_REPLICATION_FACTOR)),
    );
  }

  onApplicationBootstrap() {
    this.relay.start();
    const sample = () =>
      void this.relay
        .backlog()
        .then((n) => this.metrics.outboxBacklog.set(n))
        .catch(() => undefined);
    sample();
    this.backlogTimer = setInterval(sample, 5000);
    this.backlogTimer.unref();
  }

  async onApplicationShutdown() {
    clearInterval(this.backlogTimer);
    await this.relay.stop();
    await Promise.allSettled([this.producer.disconnect(), this.admin.disconnect(), this.endOffsets.close()]);
    await this.dataSource.destroy().catch(() => undefined);
    this.logger.log(`${this.service.name}: infrastructure closed`);
  }
}

@Module({})
export class PlatformModule {
  static forRoot(opts: PlatformOptions): DynamicModule {
    const { config, service } = opts;
    return {
      module: PlatformModule,
      global: true,
      imports: [
        LoggerModule.forRoot({
          pinoHttp: {
            level: config.LOG_LEVEL,
            base: { service: service.name },
            autoLogging: { ignore: (req) => /^\/(health|metrics)/.test(req.url ?? '') },
            // Every line written inside a gRPC call or a consumed record names its unit of work, and,
            // when tracing is on, its trace and span (the field names of OpenTelemetry's log model).
            mixin: () => {
              const fields: Record<string, string> = {};
              const correlationId = currentCorrelationId();
              if (correlationId) fields.correlationId = correlationId;
              const span = trace.getActiveSpan()?.spanContext();
              if (span && isSpanContextValid(span)) {
                fields.trace_id = span.traceId;
                fields.span_id = span.spanId;
              }
              return fields;
            },
          },
        }),
      ],
      controllers: [HttpHealthController, GrpcHealthController],
      providers: [
        { provide: CONFIG, useValue: config },
        { provide: SERVICE_INFO, useValue: service },
        { provide: PlatformModuleOptionsHolder, useValue: Object.assign(new PlatformModuleOptionsHolder(), { topics: opts.topics }) },
        ServiceMetrics,
        ConsumerRegistry,
        Readiness,
        {
          provide: DATA_SOURCE,
          useFactory: async () => {
            const dataSource = createServiceDataSource({
              url: config.DATABASE_URL,
              schema: service.schema,
              migrations: opts.migrations,
              poolSize: config.DB_POOL_SIZE,
              applicationName: service.name,
            });
            await dataSource.initialize();
            if (config.MIGRATE_ON_START) await migrate(dataSource, service.schema);
            await warnWithoutAutovacuum(dataSource, new Logger('platform'));
            return dataSource;
          },
        },
        {
          provide: KAFKA,
          useFactory: (): Kafka => {
            const logger = new Logger('kafkajs');
            return createKafka({
              ...kafkaConnectionOf(config, service.name),
              log: (level, message, extra) => {
                if (level === 'error') logger.error(extra, message);
                else if (level === 'warn') logger.warn(extra, message);
              },
            });
          },
        },
        {
          provide: KAFKA_ADMIN,
          inject: [KAFKA],
          useFactory: async (kafka: Kafka) => {
            const admin = kafka.admin();
            await admin.connect();
            return admin;
          },
        },
        { provide: END_OFFSETS, inject: [KAFKA, KAFKA_ADMIN], useFactory: (kafka: Kafka, admin: Admin) => endOffsetsReader(kafka, admin) },
        { provide: PRODUCER, inject: [KAFKA], useFactory: (kafka: Kafka) => createProducer(kafka) },
        {
          provide: OUTBOX_RELAY,
          inject: [DATA_SOURCE, PRODUCER, ServiceMetrics],
          useFactory: (dataSource: DataSource, producer: Producer, metrics: ServiceMetrics) => {
            const logger = new Logger('outbox');
            return new OutboxRelay(dataSource, (records) => sendRecords(producer, records), {
              schema: service.schema,
              onPublished: (n) => metrics.outboxPublished.inc(n),
              onError: (error) => logger.warn({ err: error }, 'outbox relay could not publish; will retry'),
            });
          },
        },
        PlatformLifecycle,
        CommandConsumerFactory,
        ProjectionFactory,
      ],
      exports: [
        CONFIG,
        SERVICE_INFO,
        DATA_SOURCE,
        KAFKA,
        KAFKA_ADMIN,
        PRODUCER,
        OUTBOX_RELAY,
        ServiceMetrics,
        ConsumerRegistry,
        Readiness,
        CommandConsumerFactory,
        ProjectionFactory,
      ],
    };
  }
}

/**
 * Without autovacuum nothing keeps planner statistics fresh: the hot statements are written to stay
 * on their indexes regardless, but other queries can degrade as tables grow (docs/operations.md).
 */
async function warnWithoutAutovacuum(dataSource: DataSource, logger: Logger): Promise<void> {
  const [row]: { autovacuum: string }[] = await dataSource.query('SHOW autovacuum');
  if (row?.autovacuum !== 'on') {
    logger.warn('Postgres runs with autovacuum off: table statistics go stale and dead rows pile up; turn it on, or run VACUUM ANALYZE on a schedule');
  }
}
