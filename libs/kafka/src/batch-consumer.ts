import { Admin, Consumer, Kafka } from 'kafkajs';

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
  /** The Kafka cluster the records come from (checkpoints record it, and never cross clusters). */
  clusterId?: string;
}

/** Where a consumer stands, for readiness, metrics and operators. */
export type ConsumerStatus = 'starting' | 'running' | 'restarting' | 'halted' | 'stopped';

export interface ConsumerHealth {
  groupId: string;
  status: ConsumerStatus;
  /** Why it is not running, or why a partition makes no progress. */
  problem?: string;
  /** A partition whose batch has failed without a break for longer than `stallAfterMs`. */
  stalled: boolean;
}

export interface PartitionToVerify {
  clusterId: string;
  topic: string;
  partition: number;
  /** The partition's end offset, fetched when called. */
  endOffset: () => Promise<bigint>;
}

export interface BatchConsumerOptions {
  /**
   * The durable position of a partition (the next offset to apply, from the database checkpoint).
   * When given, it is where consumption of a newly assigned partition resumes if Kafka's committed
   * offset is ahead of it (a restored or new database, a group id reused elsewhere): records are
   * never skipped because Kafka believes they were consumed.
   */
  storedPosition?: (topic: string, partition: number) => Promise<bigint>;
  /**
   * Checks a newly assigned partition's stored position against the cluster and partition it is
   * about to be consumed from. A problem halts the consumer: nothing is consumed until it is fixed.
   */
  verifyPosition?: (partition: PartitionToVerify) => Promise<string | undefined>;
  /** Errors from `handle` that no retry can fix: they halt the consumer instead of being retried. */
  isFatal?: (error: unknown) => boolean;
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
  /** First and longest wait before the consumer is started again after a crash. */
  restartBackoffMs?: { initial: number; max: number };
  /** What an operator does about a halt (appended to its problem), e.g. the admin command that fixes it. */
  haltHint?: string;
  /** How often a halted consumer tries again (its cause may have been fixed meanwhile, e.g. by a rebuild). */
  haltRetryMs?: number;
  /** A partition whose batch keeps failing for this long counts as stalled. */
  stallAfterMs?: number;
  onError?: (error: unknown, batch: ConsumedBatch, attempt: number) => void;
  onApplied?: (batch: ConsumedBatch) => void;
  /** Every change of status (metrics and logs); `problem` says why it is not running. */
  onStatus?: (health: ConsumerHealth, cause?: unknown) => void;
}

const decodeHeaders = (headers: Record<string, unknown> | undefined): Record<string, string> => {
  const result: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (value === undefined || value === null) continue;
    result[name] = Array.isArray(value) ? String(value[0]) : Buffer.isBuffer(value) ? value.toString() : String(value);
  }
  return result;
};

const messageOf = (error: unknown) => (error instanceof Error ? `${error.name}: ${error.message}` : String(error));

/**
 * A consumer-group member on kafkajs's eachBatch. Offsets are committed to Kafka only after
 * `handle` resolved, i.e. after the database transaction that applied the records committed. A
 * failing handler is retried with backoff on the same records (infrastructure trouble is not bad
 * data; bad data is dead-lettered by the handler), and the runner keeps heart-beating meanwhile.
 *
 * It supervises itself: a consumer that kafkajs gives up on (it leaves the group and would stay
 * gone) is started again with backoff; a partition whose stored position belongs to another cluster
 * halts it; and `health()` says which of these is going on, so readiness never reports a consumer
 * that is not consuming.
 */
export class BatchConsumer {
  private consumer?: Consumer;
  private admin?: Admin;
  private clusterId = '';
  private readonly positioned = new Set<string>();
  /** Resolves once the current assignment is verified and positioned: true to consume, false when halted. */
  private assignmentReady: Promise<boolean> = Promise.resolve(false);
  private state: { status: ConsumerStatus; problem?: string } = { status: 'stopped' };
  private readonly failingSince = new Map<string, { since: number; error: unknown }>();
  private restartTimer?: NodeJS.Timeout;
  private restartDelayMs: number;

  constructor(private readonly opts: BatchConsumerOptions) {
    this.restartDelayMs = opts.restartBackoffMs?.initial ?? 1_000;
  }

  /** Resolves once the consumer has joined its group and partitions are assigned. */
  async start(): Promise<void> {
    this.admin = this.opts.kafka.admin();
    await this.admin.connect();
    this.clusterId = (await this.admin.describeCluster()).clusterId;
    this.setStatus('starting');
    await this.launch();
  }

  health(): ConsumerHealth {
    const stallAfter = this.opts.stallAfterMs ?? 30_000;
    const now = Date.now();
    const stuck = [...this.failingSince].find(([, f]) => now - f.since >= stallAfter);
    const problem = this.state.problem ?? (stuck && `${stuck[0]} has failed for ${Math.round((now - stuck[1].since) / 1000)} s: ${messageOf(stuck[1].error)}`);
    return { groupId: this.opts.groupId, status: this.state.status, problem, stalled: stuck !== undefined };
  }

  private setStatus(status: ConsumerStatus, problem?: string, cause?: unknown): void {
    this.state = { status, problem };
    this.opts.onStatus?.(this.health(), cause);
  }

  private async launch(): Promise<void> {
    const { kafka, groupId, topics } = this.opts;
    const consumer = kafka.consumer({
      groupId,
      sessionTimeout: this.opts.sessionTimeoutMs ?? 10_000,
      heartbeatInterval: 1_000,
      allowAutoTopicCreation: false,
    });
    this.consumer = consumer;
    const joined = new Promise<void>((resolve) => {
      consumer.on(consumer.events.GROUP_JOIN, (event) => {
        if (this.consumer !== consumer) return;
        // A new assignment: verify and position it before any batch of it is applied.
        this.positioned.clear();
        this.failingSince.clear();
        this.assignmentReady = this.prepareAssignment(consumer, event.payload.memberAssignment);
        resolve();
      });
      consumer.on(consumer.events.CRASH, (event) => {
        if (this.consumer !== consumer) return;
        const { error, restart } = event.payload;
        // restart: kafkajs rejoins by itself (e.g. a coordinator still loading), and GROUP_JOIN follows.
        // Otherwise it has left the group for good (e.g. a batch compressed with a codec it lacks):
        // start a new consumer, with backoff. Either way the service runs on, reported unready.
        if (restart) {
          this.setStatus('restarting', `consumer crashed, kafkajs restarts it: ${messageOf(error)}`, error);
        } else {
          this.restartLater('restarting', `consumer crashed and left its group: ${messageOf(error)}`, error, this.nextRestartDelay());
          resolve();
        }
      });
    });
    await consumer.connect();
    await consumer.subscribe({ topics, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: this.opts.partitionConcurrency ?? 3,
      eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale, commitOffsetsIfNecessary }) => {
        if (!(await this.assignmentReady) || this.consumer !== consumer) return;
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
          if (!isRunning() || isStale() || this.consumer !== consumer) return;
          const slice: ConsumedBatch = {
            topic: batch.topic,
            partition: batch.partition,
            records: records.slice(i, i + max),
            highWatermark: batch.highWatermark,
            clusterId: this.clusterId,
          };
          const applied = await this.applyWithRetry(slice, heartbeat, () => isRunning() && !isStale() && this.consumer === consumer);
          if (!applied) return;
          const last = slice.records[slice.records.length - 1].offset;
          resolveOffset(last);
          const next = (BigInt(last) + 1n).toString();
          // Through the batch's own commit, not consumer.commitOffsets: once stop() has begun, kafkajs
          // silently drops the latter, and the slice that was finishing would be redelivered after a restart.
          await commitOffsetsIfNecessary({ topics: [{ topic: batch.topic, partitions: [{ partition: batch.partition, offset: next }] }] });
          this.opts.onApplied?.(slice);
          await heartbeat();
        }
      },
    });
    await joined;
  }

  /**
   * Verifies every assigned partition (a stored position from another cluster, or beyond the end,
   * halts the consumer), then seeks those whose stored position lies before the group's committed
   * offset (a gap the database never applied). Where they agree, or the database is ahead, the
   * consumer already starts at the right place. Batches wait for this, so none races it.
   */
  private async prepareAssignment(consumer: Consumer, assignment: Record<string, number[]>): Promise<boolean> {
    const { storedPosition, verifyPosition, groupId } = this.opts;
    try {
      for (const [topic, partitions] of Object.entries(assignment)) {
        const [offsets] = storedPosition ? await this.admin!.fetchOffsets({ groupId, topics: [topic] }) : [undefined];
        let ends: Promise<Map<number, bigint>> | undefined;
        const endOffsets = () => (ends ??= this.admin!.fetchTopicOffsets(topic).then((o) => new Map(o.map((p) => [p.partition, BigInt(p.high)]))));
        for (const partition of partitions) {
          const problem = await verifyPosition?.({
            clusterId: this.clusterId,
            topic,
            partition,
            endOffset: async () => (await endOffsets()).get(partition) ?? 0n,
          });
          if (problem) {
            this.halt(problem);
            return false;
          }
          if (!storedPosition) continue;
          const committed = BigInt(offsets?.partitions.find((p) => p.partition === partition)?.offset ?? '-1');
          const stored = await storedPosition(topic, partition);
          if (committed >= 0n && stored < committed) consumer.seek({ topic, partition, offset: stored.toString() });
        }
      }
    } catch (error) {
      if (this.opts.isFatal?.(error)) {
        this.halt(messageOf(error), error);
        return false;
      }
      // Could not check now (Kafka or Postgres briefly away): start over rather than consume unchecked.
      this.restartLater('restarting', `could not verify the assigned partitions: ${messageOf(error)}`, error, this.nextRestartDelay());
      return false;
    }
    this.restartDelayMs = this.opts.restartBackoffMs?.initial ?? 1_000;
    this.setStatus('running');
    return true;
  }

  /** Stops consuming until the cause is fixed; tries again now and then (a rebuild may have fixed it). */
  private halt(problem: string, cause?: unknown): void {
    const hint = this.opts.haltHint ? `; to fix it: ${this.opts.haltHint}` : '';
    this.restartLater('halted', `${problem}${hint}`, cause, this.opts.haltRetryMs ?? 30_000);
  }

  private nextRestartDelay(): number {
    const delay = this.restartDelayMs;
    this.restartDelayMs = Math.min(delay * 2, this.opts.restartBackoffMs?.max ?? 30_000);
    return delay;
  }

  /**
   * Leaves the group at once (outside any batch: disconnecting waits for the batch in flight, which
   * returns promptly once this consumer is replaced) and starts a new consumer after `delayMs`.
   */
  private restartLater(status: 'restarting' | 'halted', problem: string, cause: unknown, delayMs: number): void {
    if (this.stopped()) return;
    this.setStatus(status, problem, cause);
    if (this.restartTimer) return;
    const old = this.consumer;
    this.consumer = undefined;
    const left = new Promise((r) => setImmediate(r)).then(() => old?.disconnect()).catch(() => undefined);
    this.restartTimer = setTimeout(async () => {
      await left;
      this.restartTimer = undefined;
      if (this.stopped()) return;
      try {
        await this.launch();
      } catch (error) {
        this.restartLater('restarting', `restart failed: ${messageOf(error)}`, error, this.nextRestartDelay());
      }
    }, delayMs);
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
    const key = `${batch.topic}:${batch.partition}`;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.opts.handle(batch);
        this.failingSince.delete(key);
        return true;
      } catch (error) {
        if (this.opts.isFatal?.(error)) {
          this.halt(messageOf(error), error);
          return false;
        }
        if (!this.failingSince.has(key)) this.failingSince.set(key, { since: Date.now(), error });
        else this.failingSince.get(key)!.error = error;
        this.opts.onError?.(error, batch, attempt);
        if (!stillOwned()) return false;
        await new Promise((r) => setTimeout(r, Math.min(5_000, 100 * 2 ** Math.min(attempt, 6))));
        await heartbeat().catch(() => undefined);
        if (!stillOwned()) return false;
      }
    }
  }

  private stopped(): boolean {
    return this.state.status === 'stopped';
  }

  /** Stops fetching, lets the in-flight batch finish (its offsets are committed) and leaves the group. */
  async stop(): Promise<void> {
    this.setStatus('stopped');
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    const consumer = this.consumer;
    this.consumer = undefined;
    await consumer?.disconnect();
    await this.admin?.disconnect().catch(() => undefined);
    this.admin = undefined;
  }
}

/** The offset a consumer group resumes from once `batch` is applied. */
export const nextOffsetOf = (batch: ConsumedBatch): string => (BigInt(batch.records[batch.records.length - 1].offset) + 1n).toString();
