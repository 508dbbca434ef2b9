import { Admin, Consumer, Kafka } from 'kafkajs';
import { ConsumedBatch, ConsumedRecord } from './batch-consumer';
import { fetchTopicOffsetsSettled } from './topics';

export interface LiveConsumerOptions {
  kafka: Kafka;
  admin: Admin;
  /** Unique per process: every instance sees every record. */
  groupId: string;
  topics: string[];
  /** Handles a batch of one partition, in offset order. Errors are reported and the batch is dropped. */
  handle: (batch: ConsumedBatch) => Promise<void>;
  onError?: (error: unknown, batch: ConsumedBatch) => void;
  partitionConcurrency?: number;
}

/**
 * Reads what is published from the moment it started, at most once: no offsets are committed and
 * nothing is retried, so a restart or an error skips records (for pushes whose receivers catch up
 * by other means). The group is deleted on stop.
 */
export class LiveConsumer {
  private consumer?: Consumer;

  constructor(private readonly opts: LiveConsumerOptions) {}

  /** Resolves once the consumer has joined and is positioned at the end offsets of when it started. */
  async start(): Promise<void> {
    const { kafka, admin, groupId, topics } = this.opts;
    const starts = await Promise.all(topics.map(async (topic) => ({ topic, offsets: await fetchTopicOffsetsSettled(admin, topic) })));
    const startOf = new Map<string, bigint>();
    for (const { topic, offsets } of starts) for (const o of offsets) startOf.set(`${topic}:${o.partition}`, BigInt(o.high));
    const consumer = kafka.consumer({ groupId, sessionTimeout: 10_000, heartbeatInterval: 1_000, allowAutoTopicCreation: false });
    this.consumer = consumer;
    const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
    await consumer.connect();
    await consumer.subscribe({ topics, fromBeginning: false });
    await consumer.run({
      autoCommit: false,
      partitionsConsumedConcurrently: this.opts.partitionConcurrency ?? 1,
      eachBatch: async ({ batch }) => {
        const from = startOf.get(`${batch.topic}:${batch.partition}`) ?? 0n;
        const records: ConsumedRecord[] = batch.messages
          .filter((m) => BigInt(m.offset) >= from)
          .map((m) => ({ offset: m.offset, key: m.key ? m.key.toString() : null, value: m.value, headers: {}, timestamp: m.timestamp }));
        if (records.length === 0) return;
        const slice: ConsumedBatch = { topic: batch.topic, partition: batch.partition, records, highWatermark: batch.highWatermark };
        try {
          await this.opts.handle(slice);
        } catch (error) {
          this.opts.onError?.(error, slice);
        }
      },
    });
    await joined;
    // Anything published after start() was called is at or after these offsets.
    for (const { topic, offsets } of starts) for (const o of offsets) consumer.seek({ topic, partition: o.partition, offset: o.high });
  }

  async stop(): Promise<void> {
    const consumer = this.consumer;
    this.consumer = undefined;
    if (!consumer) return;
    await consumer.disconnect();
    await this.opts.admin.deleteGroups([this.opts.groupId]).catch(() => undefined);
  }
}
