import { Admin } from 'kafkajs';

export class BarrierTimeoutError extends Error {
  constructor(readonly behind: string[]) {
    super(`projection has not caught up with ${behind.join(', ')}`);
    this.name = 'BarrierTimeoutError';
  }
}

export interface ReadBarrierOptions {
  admin: Admin;
  topics: string[];
  /** Next offset applied per `topic:partition`, as stored with the projection (see ConsumerCheckpoints). */
  appliedPositions: () => Promise<Map<string, bigint>>;
  timeoutMs?: number;
  pollIntervalMs?: number;
}

type Target = Map<string, bigint>;

interface Waiter {
  target: Target;
  deadline: number;
  resolve: () => void;
  reject: (error: Error) => void;
}

/**
 * Read-your-writes across services without tokens: before answering from a projection, wait until it
 * has applied every record that was on the upstream topics when the query started. Upstream services
 * acknowledge a command only after its event is on Kafka, so anything acknowledged before the query
 * is visible to it.
 *
 * Concurrent callers are coalesced: one end-offset fetch serves everyone who arrived before it
 * started, and one poller of applied positions serves all waiters.
 */
export class ReadBarrier {
  private pendingFetch?: { promise: Promise<Target>; started: boolean };
  private waiters: Waiter[] = [];
  private polling = false;

  constructor(private readonly opts: ReadBarrierOptions) {}

  async wait(): Promise<void> {
    const target = await this.endOffsets();
    const deadline = Date.now() + (this.opts.timeoutMs ?? 5_000);
    if (this.satisfied(target, await this.opts.appliedPositions())) return;
    await new Promise<void>((resolve, reject) => {
      this.waiters.push({ target, deadline, resolve, reject });
      void this.poll();
    });
  }

  /** An end-offset fetch that starts no earlier than this call; joins one that has not started yet. */
  private endOffsets(): Promise<Target> {
    if (this.pendingFetch && !this.pendingFetch.started) return this.pendingFetch.promise;
    const entry: { promise: Promise<Target>; started: boolean } = { promise: Promise.resolve(new Map()), started: false };
    entry.promise = new Promise<void>((r) => setImmediate(r)).then(async () => {
      entry.started = true;
      if (this.pendingFetch === entry) this.pendingFetch = undefined;
      const target: Target = new Map();
      const all = await Promise.all(this.opts.topics.map(async (topic) => ({ topic, offsets: await this.opts.admin.fetchTopicOffsets(topic) })));
      for (const { topic, offsets } of all) {
        for (const p of offsets) target.set(`${topic}:${p.partition}`, BigInt(p.high));
      }
      return target;
    });
    this.pendingFetch = entry;
    return entry.promise;
  }

  private satisfied(target: Target, applied: Map<string, bigint>): boolean {
    for (const [tp, high] of target) {
      if (high > 0n && (applied.get(tp) ?? 0n) < high) return false;
    }
    return true;
  }

  private behind(target: Target, applied: Map<string, bigint>): string[] {
    return [...target].filter(([tp, high]) => high > 0n && (applied.get(tp) ?? 0n) < high).map(([tp, high]) => `${tp}@${applied.get(tp) ?? 0n}/${high}`);
  }

  private async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      while (this.waiters.length > 0) {
        await new Promise((r) => setTimeout(r, this.opts.pollIntervalMs ?? 5));
        let applied: Map<string, bigint>;
        try {
          applied = await this.opts.appliedPositions();
        } catch (error) {
          applied = new Map();
          if (this.waiters.every((w) => Date.now() > w.deadline)) {
            for (const w of this.waiters.splice(0)) w.reject(error as Error);
            return;
          }
        }
        const now = Date.now();
        this.waiters = this.waiters.filter((w) => {
          if (this.satisfied(w.target, applied)) {
            w.resolve();
            return false;
          }
          if (now > w.deadline) {
            w.reject(new BarrierTimeoutError(this.behind(w.target, applied)));
            return false;
          }
          return true;
        });
      }
    } finally {
      this.polling = false;
    }
  }
}
