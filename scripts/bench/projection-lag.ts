import { testDb, testKafka } from '@im/testing';
import { Admin } from 'kafkajs';

/**
 * The lag of a projection, sampled while a load runs: records on its input topics that it has not
 * applied yet, as the read barrier sees it (each partition's end offset minus the group's checkpoint
 * in the service's schema), and, beside it, the service's own gauge `im_kafka_consumer_lag` (read
 * the same way when scraped) summed over the group.
 */

export interface LagSample {
  /** ms since the sampler started. */
  atMs: number;
  /** End offsets minus checkpoints, summed over the input partitions. */
  records: number;
  /** The service's gauge summed over the group's partitions (undefined when /metrics did not answer). */
  gauge: number | undefined;
}

export interface LagTrace {
  samples: LagSample[];
  max: LagSample | undefined;
  maxGauge: number | undefined;
}

const LAG_GAUGE = 'im_kafka_consumer_lag';

export class ProjectionLagSampler {
  private timer: NodeJS.Timeout | undefined;
  private chain: Promise<void> = Promise.resolve();
  private t0 = 0;
  readonly samples: LagSample[] = [];

  private constructor(
    private readonly admin: Admin,
    private readonly db: Awaited<ReturnType<typeof testDb>>,
    private readonly opts: { schema: string; group: string; topics: string[]; metricsPort: () => number },
  ) {}

  static async open(opts: { schema: string; group: string; topics: string[]; metricsPort: () => number }): Promise<ProjectionLagSampler> {
    const admin = testKafka().admin();
    await admin.connect();
    return new ProjectionLagSampler(admin, await testDb(), opts);
  }

  /** Starts sampling every `intervalMs`; earlier samples are forgotten. */
  start(intervalMs: number): void {
    this.samples.length = 0;
    this.t0 = performance.now();
    const tick = () => (this.chain = this.chain.then(() => this.record()));
    tick();
    this.timer = setInterval(tick, intervalMs);
  }

  /** ms since start(), on the samples' clock. */
  now(): number {
    return performance.now() - this.t0;
  }

  /** Resolves with the first sample taken after `afterMs` whose lag is 0, or undefined after `timeoutMs`. */
  async waitForZero(afterMs: number, timeoutMs: number): Promise<LagSample | undefined> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const zero = this.samples.find((s) => s.atMs >= afterMs && s.records === 0);
      if (zero) return zero;
      if (performance.now() > deadline) return undefined;
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  async stop(): Promise<LagTrace> {
    clearInterval(this.timer);
    await this.chain;
    return trace(this.samples);
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.chain;
    await this.admin.disconnect();
    await this.db.end();
  }

  /** One sample now, outside the timer. */
  async sample(): Promise<LagSample> {
    const [records, gauge] = await Promise.all([this.checkpointLag(), this.gaugeLag()]);
    return { atMs: this.now(), records, gauge };
  }

  private async record(): Promise<void> {
    try {
      this.samples.push(await this.sample());
    } catch {
      // a missed sample leaves a gap, nothing more
    }
  }

  private async checkpointLag(): Promise<number> {
    // Checkpoints first: a checkpoint read before the end offset never makes the lag look smaller.
    const rows = await this.db.rows<{ topic: string; partition: number; next_offset: string }>(
      `SELECT topic, partition, next_offset FROM ${this.opts.schema}.consumer_checkpoints WHERE group_id = $1`,
      [this.opts.group],
    );
    const applied = new Map(rows.map((r) => [`${r.topic}:${r.partition}`, BigInt(r.next_offset)]));
    let lag = 0n;
    for (const topic of this.opts.topics) {
      for (const p of await this.admin.fetchTopicOffsets(topic)) {
        const from = applied.get(`${topic}:${p.partition}`) ?? BigInt(p.low);
        const behind = BigInt(p.high) - from;
        if (behind > 0n) lag += behind;
      }
    }
    return Number(lag);
  }

  private async gaugeLag(): Promise<number | undefined> {
    try {
      const res = await fetch(`http://127.0.0.1:${this.opts.metricsPort()}/metrics`, { signal: AbortSignal.timeout(5_000) });
      const text = await res.text();
      let sum = 0;
      for (const m of text.matchAll(new RegExp(`^${LAG_GAUGE}\\{([^}]*)\\}\\s+(\\S+)`, 'gm'))) {
        if (m[1].includes(`group="${this.opts.group}"`)) sum += Number(m[2]);
      }
      return sum;
    } catch {
      return undefined;
    }
  }
}

function trace(samples: LagSample[]): LagTrace {
  let max: LagSample | undefined;
  let maxGauge: number | undefined;
  for (const s of samples) {
    if (!max || s.records > max.records) max = s;
    if (s.gauge !== undefined) maxGauge = Math.max(maxGauge ?? 0, s.gauge);
  }
  return { samples: [...samples], max, maxGauge };
}
