import { EndOffsets } from './end-offsets';

export class BarrierTimeoutError extends Error {
  constructor(readonly behind: string[]) {
    super(`projection has not caught up with ${behind.join(', ')}`);
    this.name = 'BarrierTimeoutError';
  }
}

export interface ReadBarrierOptions {
  endOffsets: EndOffsets;
  topics: string[];
  /** Next offset applied per `topic:partition`, as stored with the projection (see ConsumerCheckpoints). */
  appliedPositions: () => Promise<Map<string, bigint>>;
  timeoutMs?: number;
  /**
   * How often waiters re-read the stored positions. Partitions this process applies wake waiters at
   * once (`applied`); the poll is for partitions another instance of the group owns.
   */
  pollIntervalMs?: number;
  /** Told how long each wait took, and whether it ended caught up (`ok`) or timed out (`behind`). */
  onWaited?: (ms: number, outcome: 'ok' | 'behind') => void;
}

type Positions = Map<string, bigint>;

interface Waiter {
  target: Positions;
  deadline: number;
  resolve: () => void;
  reject: (error: Error) => void;
}

/**
 * A read shared by every caller that asked before it started; a caller arriving once it has
 * started gets the next one (which then sees everything that happened before that caller asked).
 */
class CoalescedRead<T> {
  private pending?: { promise: Promise<T>; started: boolean };

  constructor(private readonly read: () => Promise<T>) {}

  get(): Promise<T> {
    if (this.pending && !this.pending.started) return this.pending.promise;
    const entry: { promise: Promise<T>; started: boolean } = { promise: Promise.resolve() as Promise<T>, started: false };
    entry.promise = new Promise<void>((r) => setImmediate(r)).then(() => {
      entry.started = true;
      if (this.pending === entry) this.pending = undefined;
      return this.read();
    });
    this.pending = entry;
    return entry.promise;
  }
}

/**
 * Read-your-writes across services without tokens: before answering from a projection, wait until it
 * has applied every record that was on the upstream topics when the query started. Upstream services
 * acknowledge a command only after its event is on Kafka, so anything acknowledged before the query
 * is visible to it.
 *
 * Its cost is per burst of callers, not per caller: one end-offset fetch and at most one checkpoint
 * read serve everyone who arrived before they started; positions known to be applied are kept in
 * memory (they only move forward), and the projection of this process wakes waiters as it applies.
 */
export class ReadBarrier {
  private readonly known: Positions = new Map();
  private waiters: Waiter[] = [];
  private polling = false;
  private readonly ends: CoalescedRead<Positions>;
  private readonly stored: CoalescedRead<Positions>;

  constructor(private readonly opts: ReadBarrierOptions) {
    this.ends = new CoalescedRead(() => this.fetchEnds());
    this.stored = new CoalescedRead(() => this.opts.appliedPositions());
  }

  async wait(): Promise<void> {
    const started = performance.now();
    try {
      await this.waitUntilApplied();
      this.opts.onWaited?.(performance.now() - started, 'ok');
    } catch (error) {
      if (error instanceof BarrierTimeoutError) this.opts.onWaited?.(performance.now() - started, 'behind');
      throw error;
    }
  }

  private async waitUntilApplied(): Promise<void> {
    const target = await this.ends.get();
    if (this.satisfied(target)) return;
    this.learn(await this.stored.get());
    if (this.satisfied(target)) return;
    await new Promise<void>((resolve, reject) => {
      this.waiters.push({ target, deadline: Date.now() + (this.opts.timeoutMs ?? 5_000), resolve, reject });
      void this.poll();
    });
  }

  /** The projection applied a partition up to `nextOffset` (after its transaction committed). */
  applied(topic: string, partition: number, nextOffset: bigint): void {
    this.learn(new Map([[`${topic}:${partition}`, nextOffset]]));
    this.settle();
  }

  private fetchEnds(): Promise<Positions> {
    return this.opts.endOffsets(this.opts.topics);
  }

  private learn(positions: Positions): void {
    for (const [tp, next] of positions) if (next > (this.known.get(tp) ?? -1n)) this.known.set(tp, next);
  }

  private satisfied(target: Positions): boolean {
    for (const [tp, high] of target) {
      if (high > 0n && (this.known.get(tp) ?? 0n) < high) return false;
    }
    return true;
  }

  private behind(target: Positions): string[] {
    return [...target].filter(([tp, high]) => high > 0n && (this.known.get(tp) ?? 0n) < high).map(([tp, high]) => `${tp}@${this.known.get(tp) ?? 0n}/${high}`);
  }

  /** Resolves satisfied waiters, rejects those past their deadline. */
  private settle(): void {
    if (this.waiters.length === 0) return;
    const now = Date.now();
    this.waiters = this.waiters.filter((w) => {
      if (this.satisfied(w.target)) {
        w.resolve();
        return false;
      }
      if (now > w.deadline) {
        w.reject(new BarrierTimeoutError(this.behind(w.target)));
        return false;
      }
      return true;
    });
  }

  private async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      while (this.waiters.length > 0) {
        await new Promise((r) => setTimeout(r, this.opts.pollIntervalMs ?? 20));
        if (this.waiters.length === 0) break;
        try {
          this.learn(await this.stored.get());
        } catch (error) {
          if (this.waiters.every((w) => Date.now() > w.deadline)) {
            for (const w of this.waiters.splice(0)) w.reject(error as Error);
            return;
          }
        }
        this.settle();
      }
    } finally {
      this.polling = false;
    }
  }
}
