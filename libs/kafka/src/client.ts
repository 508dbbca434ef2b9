import { ConnectionOptions } from 'node:tls';
import { Kafka, KafkaConfig, logLevel, Partitioners, Producer, SASLOptions } from 'kafkajs';
import { registerCompressionCodecs } from './compression';

// On import, so every client of this library (services, tools, tests) decodes snappy, lz4 and zstd.
registerCompressionCodecs();

export interface KafkaConnectionOptions {
  brokers: string[];
  clientId: string;
  /** true: TLS with the system CAs; an object: TLS with these options (e.g. `ca` for a private CA). */
  ssl?: boolean | ConnectionOptions;
  sasl?: { mechanism: 'scram-sha-256' | 'scram-sha-512' | 'plain'; username: string; password: string };
  /** Receives kafkajs's own log lines (as structured objects). */
  log?: (level: 'error' | 'warn' | 'info' | 'debug', message: string, extra: Record<string, unknown>) => void;
}

/** kafkajs stays behind this lib so the client can be swapped without touching services. */
export function createKafka(opts: KafkaConnectionOptions): Kafka {
  registerCompressionCodecs();
  const config: KafkaConfig = {
    clientId: opts.clientId,
    brokers: opts.brokers,
    ssl: opts.ssl,
    sasl: opts.sasl as SASLOptions | undefined,
    logLevel: logLevel.WARN,
    retry: { initialRetryTime: 100, retries: 8 },
    logCreator:
      () =>
      ({ level, log }) => {
        const { message, ...extra } = log;
        const name = level === logLevel.ERROR ? 'error' : level === logLevel.WARN ? 'warn' : level === logLevel.INFO ? 'info' : 'debug';
        opts.log?.(name, String(message), extra);
      },
  };
  return new Kafka(config);
}

/** Idempotent producer: no duplicates or reordering from its own retries; every send waits for acks=all. */
export async function createProducer(kafka: Kafka): Promise<Producer> {
  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  await producer.connect();
  return producer;
}

export const parseBrokers = (value: string) =>
  value
    .split(',')
    .map((b) => b.trim())
    .filter((b) => b.length > 0);
