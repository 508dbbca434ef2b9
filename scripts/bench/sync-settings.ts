import { flag, positive } from './env-settings';

/**
 * The knobs of bench:sync, all from the environment so `npm run bench:sync` passes them through:
 *
 *   BENCH_SCALE=1            shrinks every size and duration (conversations per user, history length,
 *                            load durations); e.g. 0.05 for a smoke run on a busy machine
 *   BENCH_STEPS=sync,explain,history,lag,visible,cost,storage   the parts to run (default: all)
 *       sync      SyncConversations full / incremental latency for users with 100 … 100,000 conversations
 *       explain   EXPLAIN (ANALYZE, BUFFERS) of the statements a full sync runs, for the two largest users
 *       history   SyncMessages pages from a channel with 1,000,000 messages (seeded in SQL)
 *       lag       the conversations projection's lag while sends run at the maximum rate for 60 s
 *       visible   send → visible in SyncConversations while background sends offer half that rate
 *       cost      rows written in the conversations schema per message, 100,000 members against 2
 *       storage   bytes per message in the conversations schema, before and after the pruner's pass
 *   BENCH_SENDERS=64         closed-loop senders of the lag step (the maximum rate)
 *   BENCH_MAX_IN_FLIGHT=512  open-loop cap on outstanding background sends in the visible step
 *   BENCH_ARRIVALS=poisson|even           open-loop arrivals of the background sends
 *   BENCH_PRUNE_INTERVAL_MS=2000          MESSAGE_PRUNE_INTERVAL_MS given to the conversations service
 *                                         for the storage step's second measurement
 *   BENCH_BROKER_WAIT_S=600  how long to wait for other consumers to leave the services' groups on the broker
 *   BENCH_WRITE_DOCS=1|0     write docs/benchmarks.md and docs/bench-sync-explain.md (default 1 at full
 *                            scale); otherwise the report goes to .cache/bench/
 */

export const SYNC_STEPS = ['sync', 'explain', 'history', 'lag', 'visible', 'cost', 'storage'] as const;
export type SyncStep = (typeof SYNC_STEPS)[number];

export interface SyncBenchSettings {
  scale: number;
  steps: Set<SyncStep>;
  writeDocs: boolean;
  brokerWaitMs: number;
  /** Conversations of each measured user, ascending. */
  conversationSizes: number[];
  /** SyncConversations calls per measurement. */
  syncCalls: number;
  /** Users whose full sync is explained: the two largest sizes. */
  explainSizes: number[];
  historyMessages: number;
  /** SyncMessages calls per page position. */
  historyCalls: number;
  senders: number;
  maxInFlight: number;
  arrivals: 'poisson' | 'even';
  /** 2-member groups the lag and visible steps send to. */
  loadGroups: number;
  lagLoadMs: number;
  /** How long after the load stops the lag may take to return to 0 before the step gives up. */
  lagSettleMaxMs: number;
  lagSampleMs: number;
  /** How long background sends run in the visible step (the probes run meanwhile). */
  visibleMs: number;
  costMembers: number;
  costMessages: number;
  pruneIntervalMs: number;
  /** How long the storage step waits for the pruner to delete anything. */
  pruneWaitMs: number;
}

export function syncBenchSettings(env: NodeJS.ProcessEnv = process.env): SyncBenchSettings {
  const scale = positive('BENCH_SCALE', env.BENCH_SCALE, 1);
  const steps = new Set((env.BENCH_STEPS ? env.BENCH_STEPS.split(',') : SYNC_STEPS).map((s) => s.trim()));
  for (const s of steps) if (!SYNC_STEPS.includes(s as SyncStep)) throw new Error(`BENCH_STEPS: unknown step "${s}" (known: ${SYNC_STEPS.join(', ')})`);
  const arrivals = env.BENCH_ARRIVALS ?? 'poisson';
  if (arrivals !== 'poisson' && arrivals !== 'even') throw new Error('BENCH_ARRIVALS must be poisson or even');
  const size = (full: number, min: number) => Math.max(min, Math.round(full * scale));
  const duration = (fullMs: number, floorMs: number) => Math.max(floorMs, Math.round(fullMs * scale));
  const conversationSizes = [...new Set([100, 1_000, 10_000, 100_000].map((n) => size(n, Math.min(n, 100))))].sort((a, b) => a - b);
  const pruneIntervalMs = positive('BENCH_PRUNE_INTERVAL_MS', env.BENCH_PRUNE_INTERVAL_MS, 2_000);
  return {
    scale,
    steps: steps as Set<SyncStep>,
    writeDocs: flag(env.BENCH_WRITE_DOCS, scale >= 1),
    brokerWaitMs: positive('BENCH_BROKER_WAIT_S', env.BENCH_BROKER_WAIT_S, 600) * 1000,
    conversationSizes,
    syncCalls: 50,
    explainSizes: conversationSizes.slice(-2),
    historyMessages: size(1_000_000, 10_000),
    historyCalls: size(200, 50),
    senders: positive('BENCH_SENDERS', env.BENCH_SENDERS, 64),
    maxInFlight: positive('BENCH_MAX_IN_FLIGHT', env.BENCH_MAX_IN_FLIGHT, 512),
    arrivals,
    loadGroups: size(1_000, 200),
    lagLoadMs: duration(60_000, 10_000),
    lagSettleMaxMs: 120_000,
    lagSampleMs: 500,
    visibleMs: duration(30_000, 10_000),
    costMembers: size(100_000, 1_000),
    costMessages: 200,
    pruneIntervalMs,
    pruneWaitMs: Math.max(15_000, 5 * pruneIntervalMs),
  };
}
