import { KafkaConnectionOptions, parseBrokers } from '@im/kafka';
import { readFileSync } from 'node:fs';
import { BaseConfig } from './config';

type KafkaConfigPart = Pick<
  BaseConfig,
  'KAFKA_BROKERS' | 'KAFKA_CLIENT_ID' | 'KAFKA_SSL' | 'KAFKA_SSL_CA_FILE' | 'KAFKA_SASL_MECHANISM' | 'KAFKA_SASL_USERNAME' | 'KAFKA_SASL_PASSWORD'
>;

/** How to reach Kafka from validated configuration: TLS (optionally with a private CA) and SASL. */
export function kafkaConnectionOf(config: KafkaConfigPart, clientId: string): Omit<KafkaConnectionOptions, 'log'> {
  const ssl = config.KAFKA_SSL_CA_FILE ? { ca: [readFileSync(config.KAFKA_SSL_CA_FILE, 'utf8')] } : config.KAFKA_SSL;
  return {
    brokers: parseBrokers(config.KAFKA_BROKERS),
    clientId: config.KAFKA_CLIENT_ID ?? clientId,
    ssl,
    sasl: config.KAFKA_SASL_MECHANISM
      ? { mechanism: config.KAFKA_SASL_MECHANISM, username: config.KAFKA_SASL_USERNAME!, password: config.KAFKA_SASL_PASSWORD! }
      : undefined,
  };
}
