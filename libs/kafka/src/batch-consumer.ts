import { Consumer, Kafka } from 'kafkajs';

export interface ConsumedRecord {
  offset: string;
  key: string | null;
  value: Buffer | null;
  headers: Record<string, string>;
  timestamp: string;
}

export interface ConsumedBatch {
  topic: string;
  partition: number;
  records: ConsumedRecord[];
  /** The partition's end offset when the batch was fetched: lag = highWatermark - next offset. */
  highWatermark: string;
}

export interface BatchConsumerOptions {
  /**
   * The durable position of a partition (the next offset to apply, from the database checkpoint).
   * When given, it is where consumption of a newly assigned partition resumes if Kafka's committed
   * offset is ahead of it (a restored or new database, a group id reused elsewhere): records are
   * never skipped because Kafka believes they were consumed.
   */
  storedPosition?: (topic: string, partition: number) => Promise<bigint>;
  kafka: Kafka;
  groupId: string;
  topics: string[];
  /** Applies a batch of one partition, in offset order. Must be idempotent; throwing means "retry". */
  handle: (batch: ConsumedBatch) => Promise<void>;
  /** Partitions processed in parallel; order within a partition always holds. */
  partitionConcurrency?: number;
  /** Largest slice of a fetched batch handed to `handle` at once (one database transaction). */
  maxBatchSize?: number;
  sessionTimeoutMs?: number;
  onError?: (error: unknown, batch: ConsumedBatch, attempt: number) => void;
  onApplied?: (batch: ConsumedBatch, lag: number) => void;
}

const decodeHeaders = (headers: Record<string, unknown> | undefined): Record<string, string> => {
  const result: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (value === undefined || value === null) continue;
    result[name] = Array.isArray(value) ? String(value[0]) : Buffer.isBuffer(value) ? value.toString() : String(value);
  }
  return result;
};

/**
 * A consumer-group member on kafkajs's eachBatch. Offsets are committed to Kafka only after
 * `handle` resolved, i.e. after the database transaction that applied the records committed. A
 * failing handler is retried with backoff on the same records (infrastructure trouble is not bad
 * data; bad data is dead-lettered by the handler), and the runner keeps heart-beating meanwhile.
 */
export class BatchConsumer {
  private consumer?: Consumer;
  private readonly positioned = new Set<string>();

  constructor(private readonly opts: BatchConsumerOptions) {}

  /** Resolves once the consumer has joined its group and partitions are assigned. */
  async start(): Promise<void> {
    const { kafka, groupId, topics } = this.opts;
    const consumer = kafka.consumer({
      groupId,
      sessionTimeout: this.opts.sessionTimeoutMs ?? 10_000,
      heartbeatInterval: 1_000,
      allowAutoTopicCreation: false,
    });
    this.consumer = consumer;
    const joined = new Promise<void>((resolve) =>
      consumer.on(consumer.events.GROUP_JOIN, (event) => {
        // A new assignment: rewind partitions the database is behind on (quiet ones too), and check
        // each first batch against the stored position again in case a fetch raced the seek.
        this.positioned.clear();
        void this.seekToStoredPositions(consumer, event.payload.memberAssignment);
        resolve();
      }),
    );
    await consumer.connect();
    await consumer.subscribe({ topics, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: this.opts.partitionConcurrency ?? 3,
      eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale, commitOffsetsIfNecessary }) => {
        if (await this.rewoundToStoredPosition(consumer, batch.topic, batch.partition, batch.messages[0]?.offset)) return;
        const max = this.opts.maxBatchSize ?? 500;
        const records: ConsumedRecord[] = batch.messages.map((m) => ({
          offset: m.offset,
          key: m.key ? m.key.toString() : null,
          value: m.value,
          headers: decodeHeaders(m.headers),
          timestamp: m.timestamp,
        }));
        for (let i = 0; i < records.length; i += max) {
          if (!isRunning() || isStale()) return;
          const slice: ConsumedBatch = {
            topic: batch.topic,
            partition: batch.partition,
            records: records.slice(i, i + max),
            highWatermark: batch.highWatermark,
          };
          const applied = await this.applyWithRetry(slice, heartbeat, () => isRunning() && !isStale());
          if (!applied) return;
          const last = slice.records[slice.records.length - 1].offset;
          resolveOffset(last);
          const next = (BigInt(last) + 1n).toString();
          // Through the batch's own commit, not consumer.commitOffsets: once stop() has begun, kafkajs
          // silently drops the latter, and the slice that was finishing would be redelivered after a restart.
          await commitOffsetsIfNecessary({ topics: [{ topic: batch.topic, partitions: [{ partition: batch.partition, offset: next }] }] });
          this.opts.onApplied?.(slice, Number(BigInt(batch.highWatermark) - BigInt(next)));
          await heartbeat();
        }
      },
    });
    await joined;
  }

  /**
   * Seeks only partitions whose stored position lies before the group's committed offset (a gap
   * the database never applied). Where they agree, or the database is ahead, the consumer already
   * starts at the right place: seeking there anyway races the first fetch, and a seek that lands
   * after it rewinds work just done.
   */
  private async seekToStoredPositions(consumer: Consumer, assignment: Record<string, number[]>): Promise<void> {
    const { storedPosition, kafka, groupId } = this.opts;
    if (!storedPosition) return;
    const admin = kafka.admin();
    try {
      await admin.connect();
      for (const [topic, partitions] of Object.entries(assignment)) {
        const [offsets] = await admin.fetchOffsets({ groupId, topics: [topic] });
        for (const partition of partitions) {
          const committed = BigInt(offsets?.partitions.find((p) => p.partition === partition)?.offset ?? '-1');
          const stored = await storedPosition(topic, partition);
          if (committed >= 0n && stored < committed) consumer.seek({ topic, partition, offset: stored.toString() });
        }
      }
    } catch (error) {
      // The first-batch check below still protects every partition that receives records.
      this.opts.onError?.(error, { topic: Object.keys(assignment)[0] ?? '', partition: -1, records: [], highWatermark: '0' }, 0);
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }

  /**
   * On the first batch of a partition after an assignment: when the stored position lies before
   * the batch, seek back to it and drop the batch (records the stored position already covers are
   * skipped by the caller's checkpoint, so only a gap needs the seek).
   */
  private async rewoundToStoredPosition(consumer: Consumer, topic: string, partition: number, firstOffset: string | undefined): Promise<boolean> {
    const key = `${topic}:${partition}`;
    if (!this.opts.storedPosition || firstOffset === undefined || this.positioned.has(key)) return false;
    this.positioned.add(key);
    const stored = await this.opts.storedPosition(topic, partition);
    if (stored >= BigInt(firstOffset)) return false;
    consumer.seek({ topic, partition, offset: stored.toString() });
    return true;
  }

  private async applyWithRetry(batch: ConsumedBatch, heartbeat: () => Promise<void>, stillOwned: () => boolean): Promise<boolean> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.opts.handle(batch);
        return true;
      } catch (error) {
        this.opts.onError?.(error, batch, attempt);
        if (!stillOwned()) return false;
        await new Promise((r) => setTimeout(r, Math.min(5_000, 100 * 2 ** Math.min(attempt, 6))));
        await heartbeat().catch(() => undefined);
        if (!stillOwned()) return false;
      }
    }
  }

  /** Stops fetching, lets the in-flight batch finish (its offsets are committed) and leaves the group. */
  async stop(): Promise<void> {
    await this.consumer?.disconnect();
    this.consumer = undefined;
  }
}

/** The offset a consumer group resumes from once `batch` is applied. */
export const nextOffsetOf = (batch: ConsumedBatch): string => (BigInt(batch.records[batch.records.length - 1].offset) + 1n).toString();
