/**
 * Event-loop stalls of a service, from its own /metrics. prom-client's default metric
 * `nodejs_eventloop_lag_max_seconds` is the maximum of a perf_hooks event-loop delay histogram
 * that prom-client resets at every scrape, so each scrape gives the longest stall since the
 * previous one; nothing else scrapes the services during a bench, so no stall goes unseen.
 */

export const EVENT_LOOP_MAX_METRIC = 'nodejs_eventloop_lag_max_seconds';

export interface StallSummary {
  /** The longest event-loop delay seen, in ms (undefined when the metric was never readable). */
  maxMs: number | undefined;
  /** Scrapes that returned the metric. */
  scrapes: number;
}

const metricValue = (text: string, name: string): number | undefined => {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})?\\s+(\\S+)`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
};

export class EventLoopProbe {
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> = Promise.resolve();
  private maxSeconds: number | undefined;
  private scrapes = 0;

  constructor(private readonly httpPort: number) {}

  /** Discards what accumulated before (one scrape resets the histogram), then scrapes every `intervalMs`. */
  async start(intervalMs = 1000): Promise<void> {
    await this.scrape();
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
    return { maxMs: this.maxSeconds === undefined ? undefined : this.maxSeconds * 1000, scrapes: this.scrapes };
  }

  private async record(): Promise<void> {
    const value = await this.scrape();
    if (value === undefined || Number.isNaN(value)) return;
    this.scrapes++;
    this.maxSeconds = Math.max(this.maxSeconds ?? 0, value);
  }

  private async scrape(): Promise<number | undefined> {
    try {
      const res = await fetch(`http://127.0.0.1:${this.httpPort}/metrics`, { signal: AbortSignal.timeout(10_000) });
      return metricValue(await res.text(), EVENT_LOOP_MAX_METRIC);
    } catch {
      return undefined; // a scrape that times out is itself a sign of a stall; the next one reports it
    }
  }
}
