import { createKafka, ensureTopics, fetchTopicOffsetsSettled, parseBrokers, topicSpec } from '@im/kafka';
import { Admin, Consumer, Kafka, Producer } from 'kafkajs';
import { eventually, testEnv, uniqueId } from './env';

export interface SeenRecord {
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  value: string | null;
  headers: Record<string, string>;
}

/** KAFKA_TOPIC_PARTITIONS' default, which the services under test run with. */
const SERVICE_DEFAULT_PARTITIONS = 6;

export function testKafka(): Kafka {
  return createKafka({ brokers: parseBrokers(testEnv().kafkaBrokers), clientId: uniqueId('test') });
}

/**
 * Creates the topics a test watches or produces to that no service has created yet (a suite run on
 * its own, on a fresh broker), as the services would create them: no test depends on which suite
 * happened to run first.
 */
export async function ensureTestTopics(topics: string[], admin?: Admin): Promise<void> {
  const own = admin ? undefined : testKafka().admin();
  if (own) await own.connect();
  try {
    await ensureTopics(
      (admin ?? own)!,
      topics.map((t) => topicSpec(t, SERVICE_DEFAULT_PARTITIONS, 1)),
    );
  } finally {
    await own?.disconnect();
  }
}

/**
 * Records everything that arrives on some topics from the moment it is started (earlier history is
 * skipped), so a test can wait for exactly the records its own actions caused.
 */
export class TopicWatcher {
  readonly records: SeenRecord[] = [];
  private consumer?: Consumer;

  constructor(private readonly kafka: Kafka = testKafka()) {}

  async start(topics: string[]): Promise<this> {
    const admin = this.kafka.admin();
    await admin.connect();
    await ensureTestTopics(topics, admin);
    const starts = await Promise.all(topics.map(async (topic) => ({ topic, offsets: await fetchTopicOffsetsSettled(admin, topic) })));
    await admin.disconnect();
    const consumer = this.kafka.consumer({ groupId: uniqueId('watch'), sessionTimeout: 6000, heartbeatInterval: 500 });
    this.consumer = consumer;
    const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
    await consumer.connect();
    await consumer.subscribe({ topics, fromBeginning: false });
    await consumer.run({
      eachMessage: async ({ topic, partition, message }) => {
        const start = starts.find((s) => s.topic === topic)?.offsets.find((o) => o.partition === partition);
        if (start && BigInt(message.offset) < BigInt(start.high)) return;
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(message.headers ?? {})) if (v !== undefined) headers[k] = String(v);
        this.records.push({
          topic,
          partition,
          offset: message.offset,
          key: message.key?.toString() ?? null,
          value: message.value?.toString() ?? null,
          headers,
        });
      },
    });
    await joined;
    // Start each partition where it ended when we began; nothing produced after that is missed.
    for (const { topic, offsets } of starts) for (const o of offsets) consumer.seek({ topic, partition: o.partition, offset: o.high });
    return this;
  }

  async waitFor(predicate: (r: SeenRecord) => boolean, what: string, count = 1, timeoutMs = 20_000): Promise<SeenRecord[]> {
    return eventually(
      async () => {
        const found = this.records.filter(predicate);
        return found.length >= count ? found : undefined;
      },
      what,
      timeoutMs,
    );
  }

  async stop(): Promise<void> {
    await this.consumer?.disconnect();
  }
}

export async function testProducer(kafka: Kafka = testKafka()): Promise<Producer> {
  const producer = kafka.producer();
  await producer.connect();
  return producer;
}
