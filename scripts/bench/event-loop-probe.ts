/**
 * Event-loop stalls of a service, from its own /metrics. prom-client's default metric
 * `nodejs_eventloop_lag_max_seconds` is the maximum of a perf_hooks event-loop delay histogram
 * that prom-client resets at every scrape, so each scrape gives the longest stall since the
 * previous one; nothing else scrapes the services during a bench, so no stall goes unseen.
 */

export const EVENT_LOOP_MAX_METRIC = 'nodejs_eventloop_lag_max_seconds';

/** prom-client's default histogram of garbage-collector pauses, by `kind` (minor, major, incremental, weakcb). */
export const GC_DURATION_METRIC = 'nodejs_gc_duration_seconds';

/** Pauses of one kind of collection during a phase: all of them, and those longer than 10 ms. */
export interface GcPauses {
  all: number;
  over10ms: number;
}

export interface StallSummary {
  /** The longest event-loop delay seen, in ms (undefined when the metric was never readable). */
  maxMs: number | undefined;
  /** Scrapes that returned the metric. */
  scrapes: number;
  /** Collector pauses by kind between the first and the last scrape (undefined when not readable). */
  gc: Record<string, GcPauses> | undefined;
}

const metricValue = (text: string, name: string): number | undefined => {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})?\\s+(\\S+)`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
};

/** Cumulative pause counts by kind, from the `+Inf` and the 10 ms (`le="0.01"`) buckets of the GC histogram. */
function gcCounts(text: string): Record<string, GcPauses> {
  const buckets: Record<string, { all: number; within10ms: number }> = {};
  for (const [, labels, value] of text.matchAll(new RegExp(`^${GC_DURATION_METRIC}_bucket\\{([^}]*)\\}\\s+(\\S+)`, 'gm'))) {
    const kind = /kind="([^"]*)"/.exec(labels)?.[1];
    const le = /le="([^"]*)"/.exec(labels)?.[1];
    if (!kind) continue;
    const b = (buckets[kind] ??= { all: 0, within10ms: 0 });
    if (le === '+Inf') b.all = Number(value);
    else if (le === '0.01') b.within10ms = Number(value);
  }
  return Object.fromEntries(Object.entries(buckets).map(([kind, b]) => [kind, { all: b.all, over10ms: b.all - b.within10ms }]));
}

function gcBetween(start: Record<string, GcPauses>, end: Record<string, GcPauses>): Record<string, GcPauses> {
  const pauses: Record<string, GcPauses> = {};
  for (const [kind, c] of Object.entries(end)) pauses[kind] = { all: c.all - (start[kind]?.all ?? 0), over10ms: c.over10ms - (start[kind]?.over10ms ?? 0) };
  return pauses;
}

export class EventLoopProbe {
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> = Promise.resolve();
  private maxSeconds: number | undefined;
  private scrapes = 0;
  private gcAtStart: Record<string, GcPauses> | undefined;
  private gcLatest: Record<string, GcPauses> | undefined;

  constructor(private readonly httpPort: number) {}

  /** Discards what accumulated before (one scrape resets the histogram), then scrapes every `intervalMs`. */
  async start(intervalMs = 1000): Promise<void> {
    const text = await this.scrape();
    this.gcAtStart = text === undefined ? undefined : gcCounts(text);
    this.gcLatest = undefined;
    this.maxSeconds = undefined;
    this.scrapes = 0;
    this.timer = setInterval(() => {
      this.inFlight = this.inFlight.then(() => this.record());
    }, intervalMs);
  }

  /** One last scrape covers the time since the previous one. */
  async stop(): Promise<StallSummary> {
    clearInterval(this.timer);
    await this.inFlight;
    await this.record();
    const gc = this.gcAtStart && this.gcLatest ? gcBetween(this.gcAtStart, this.gcLatest) : undefined;
    return { maxMs: this.maxSeconds === undefined ? undefined : this.maxSeconds * 1000, scrapes: this.scrapes, gc };
  }

  private async record(): Promise<void> {
    const text = await this.scrape();
    if (text === undefined) return;
    this.gcLatest = gcCounts(text);
    const value = metricValue(text, EVENT_LOOP_MAX_METRIC);
    if (value === undefined || Number.isNaN(value)) return;
    this.scrapes++;
    this.maxSeconds = Math.max(this.maxSeconds ?? 0, value);
  }

  private async scrape(): Promise<string | undefined> {
    try {
      const res = await fetch(`http://127.0.0.1:${this.httpPort}/metrics`, { signal: AbortSignal.timeout(10_000) });
      return await res.text();
    } catch {
      return undefined; // a scrape that times out is itself a sign of a stall; the next one reports it
    }
  }
}
