/**
 * Load generators for the benchmarks. Closed loop: a fixed number of senders, each sending again as
 * soon as its previous send is acknowledged (finds the maximum rate). Open loop: sends arrive at a
 * fixed offered rate whatever the system does (shows latency at a given load).
 */

export interface LoadResult {
  /** Sends acknowledged (the task resolved). */
  acked: number;
  /** Sends that failed, and the first few distinct reasons. */
  errors: number;
  errorReasons: string[];
  /** Send-ack latency of each acknowledged send, in ms. */
  latenciesMs: number[];
  /** Acknowledged sends per second. */
  ackedPerSec: number;
  /** Closed loop: how many senders ran. */
  concurrency?: number;
}

export interface OpenLoopResult extends LoadResult {
  offeredPerSec: number;
  /** The arrival rate actually realised (Poisson counts vary), measured like `ackedPerSec`, over the span of the arrivals. */
  issuedPerSec: number;
  /** Sends started; fewer than planned when the count bound was reached first. */
  issued: number;
  /** Arrivals that found `maxInFlight` sends outstanding and had to wait for one to finish. */
  capHits: number;
}

export type Task = (i: number) => Promise<void>;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Collects outcomes; latencies are measured from a start time the caller chooses. */
class Outcomes {
  readonly latenciesMs: number[] = [];
  errors = 0;
  readonly errorReasons = new Set<string>();
  firstAckAt = Infinity;
  lastAckAt = 0;

  async run(task: Task, i: number, startedAt: number): Promise<void> {
    try {
      await task(i);
      const now = performance.now();
      this.latenciesMs.push(now - startedAt);
      this.firstAckAt = Math.min(this.firstAckAt, now);
      this.lastAckAt = Math.max(this.lastAckAt, now);
    } catch (error) {
      this.errors++;
      if (this.errorReasons.size < 5) this.errorReasons.add(String((error as { details?: string }).details ?? (error as Error).message));
    }
  }

  result(ackedPerSec: number): LoadResult {
    return { acked: this.latenciesMs.length, errors: this.errors, errorReasons: [...this.errorReasons], latenciesMs: this.latenciesMs, ackedPerSec };
  }
}

/** `concurrency` senders back to back for `durationMs` (or until `maxCount` sends have started). */
export async function runClosedLoop(opts: { concurrency: number; durationMs: number; maxCount?: number; task: Task }): Promise<LoadResult> {
  const outcomes = new Outcomes();
  const maxCount = opts.maxCount ?? Number.MAX_SAFE_INTEGER;
  const t0 = performance.now();
  const stopAt = t0 + opts.durationMs;
  let next = 0;
  const sender = async () => {
    while (performance.now() < stopAt && next < maxCount) {
      const i = next++;
      await outcomes.run(opts.task, i, performance.now());
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, sender));
  const elapsedS = (outcomes.lastAckAt - t0) / 1000;
  return { ...outcomes.result(elapsedS > 0 ? outcomes.latenciesMs.length / elapsedS : 0), concurrency: opts.concurrency };
}

/**
 * Sends arrive at `ratePerSec` (Poisson or evenly spaced) for `durationMs`, at most `maxCount` of
 * them. In flight is capped at `maxInFlight`: an arrival that finds the cap reached waits for a slot
 * (counted in `capHits`). Latency runs from the arrival's scheduled time, not from when it could
 * start, so waiting for a slot or a late timer counts against the system (no coordinated omission).
 */
export async function runOpenLoop(opts: {
  ratePerSec: number;
  durationMs: number;
  maxCount: number;
  maxInFlight: number;
  arrivals: 'poisson' | 'even';
  task: Task;
}): Promise<OpenLoopResult> {
  const outcomes = new Outcomes();
  const meanGapMs = 1000 / opts.ratePerSec;
  const nextGap = () => (opts.arrivals === 'even' ? meanGapMs : -Math.log(1 - Math.random()) * meanGapMs);
  const inFlight = new Set<Promise<void>>();
  let capHits = 0;
  let issued = 0;
  let lastArrivalMs = 0;
  const t0 = performance.now();
  for (let at = 0; at < opts.durationMs && issued < opts.maxCount; at += nextGap()) {
    lastArrivalMs = at;
    const scheduledAt = t0 + at;
    const wait = scheduledAt - performance.now();
    if (wait >= 1) await sleep(wait);
    if (inFlight.size >= opts.maxInFlight) {
      capHits++;
      while (inFlight.size >= opts.maxInFlight) await Promise.race(inFlight);
    }
    const send: Promise<void> = outcomes.run(opts.task, issued++, scheduledAt).finally(() => inFlight.delete(send));
    inFlight.add(send);
  }
  await Promise.all(inFlight);
  // Rate over the span of the acknowledgements: unbiased by the first and last latencies when the
  // system keeps up, and the drain rate when it does not.
  const ackSpanS = (outcomes.lastAckAt - outcomes.firstAckAt) / 1000;
  const acked = outcomes.latenciesMs.length;
  const issuedPerSec = lastArrivalMs > 0 ? ((issued - 1) * 1000) / lastArrivalMs : opts.ratePerSec;
  return { ...outcomes.result(ackSpanS > 0 ? (acked - 1) / ackSpanS : 0), offeredPerSec: opts.ratePerSec, issuedPerSec, issued, capHits };
}
