import { KafkaConnectionOptions, parseBrokers } from '@im/kafka';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { baseConfigSchema } from './config';

/** The variables a Kafka client is configured by, for tools that need Kafka and nothing else of a service's configuration. */
export const kafkaConfigSchema = baseConfigSchema.pick({
  KAFKA_BROKERS: true,
  KAFKA_CLIENT_ID: true,
  KAFKA_SSL: true,
  KAFKA_SSL_CA_FILE: true,
  KAFKA_SASL_MECHANISM: true,
  KAFKA_SASL_USERNAME: true,
  KAFKA_SASL_PASSWORD: true,
});

type KafkaConfigPart = z.infer<typeof kafkaConfigSchema>;

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
