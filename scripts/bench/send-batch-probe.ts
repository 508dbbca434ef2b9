/**
 * Where the fanout's send batches spent their time during a phase, from its own /metrics: the
 * histograms `im_send_batch_size` and `im_send_batch_stage_seconds{stage}` read at the start and at
 * the end of the phase, so their sums and counts give the phase's means.
 */

export const SEND_BATCH_STAGES = ['queued', 'barrier', 'locks', 'transaction', 'publish'] as const;
export type SendBatchStage = (typeof SEND_BATCH_STAGES)[number];

export interface SendBatchSummary {
  batches: number;
  meanSize: number;
  /** Mean time of each stage per batch, in ms. */
  stageMeanMs: Record<SendBatchStage, number>;
}

type Totals = Map<string, number>;

/** `<name>_sum` and `<name>_count` series of the text format, keyed by name and labels. */
function histogramTotals(text: string): Totals {
  const totals: Totals = new Map();
  for (const m of text.matchAll(/^(im_send_batch_(?:size|stage_seconds)_(?:sum|count))(\{[^}]*\})?\s+(\S+)$/gm))
    totals.set(`${m[1]}${m[2] ?? ''}`, Number(m[3]));
  return totals;
}

export class SendBatchProbe {
  private before: Totals = new Map();

  constructor(private readonly httpPort: number) {}

  async start(): Promise<void> {
    this.before = await this.read();
  }

  /** Undefined when the fanout exposes no batch metrics (an older build) or committed no batch. */
  async stop(): Promise<SendBatchSummary | undefined> {
    const after = await this.read();
    const delta = (key: string) => (after.get(key) ?? 0) - (this.before.get(key) ?? 0);
    const batches = delta('im_send_batch_size_count');
    if (!(batches > 0)) return undefined;
    const stageMeanMs = Object.fromEntries(
      SEND_BATCH_STAGES.map((stage) => {
        const count = delta(`im_send_batch_stage_seconds_count{stage="${stage}"}`);
        return [stage, count > 0 ? (delta(`im_send_batch_stage_seconds_sum{stage="${stage}"}`) / count) * 1000 : 0];
      }),
    ) as Record<SendBatchStage, number>;
    return { batches, meanSize: delta('im_send_batch_size_sum') / batches, stageMeanMs };
  }

  private async read(): Promise<Totals> {
    try {
      const res = await fetch(`http://127.0.0.1:${this.httpPort}/metrics`, { signal: AbortSignal.timeout(10_000) });
      return histogramTotals(await res.text());
    } catch {
      return new Map();
    }
  }
}
