import { TOPICS } from '@im/contracts';
import { GrpcTestClient, testDb, testEnv, uniqueId } from '@im/testing';
import { randomUUID } from 'node:crypto';
import { assertGroupsNotShared } from './broker-guard';
import { CpuSampler, CpuUsage } from './cpu-usage';
import { clientMsgNo } from './gateways';
import { fmt, latencySummary, log, runConcurrently } from './lib';
import { LoadResult, OpenLoopResult, runClosedLoop, runOpenLoop, Task } from './load';
import { NoticeTap } from './pg-notice-tap';
import { LagTrace } from './projection-lag';
import { createGroups, Group } from './send-phases';
import { autoExplainUrl, CapturedStatement, parsePlanNotice, PlanCapture, planCaptureSupport, resetStatementStats, statementStats } from './sync-explain';
import { awaitProjection, conversationSeed, envelope, HistoryChannel, produceAll, produceSeed, seedHistory } from './sync-seed';
import { SyncBenchSettings } from './sync-settings';
import { SyncSystem } from './sync-system';

/** The measured steps of bench:sync; each returns its figures, sync-report.ts renders them. */

type Latency = ReturnType<typeof latencySummary>;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const PAYLOAD = Buffer.alloc(200, 'x');

// ------------------------------------------------------------------------------------------ sync

export interface SyncLatencyRow {
  size: number;
  /** How long the projection took to apply the user's seed (produce included). */
  seedSeconds: number;
  full: Latency;
  incremental: Latency;
  /** Conversations the incremental sync returned (1 expected: exactly one change). */
  incrementalListed: number;
  /** Where a full sync's time goes, means over its calls: as the bench saw it, inside the service's handler, and at the read barrier. */
  fullSplit: TimeSplit;
}

export interface TimeSplit {
  clientMs: number;
  serviceMs: number;
  barrierMs: number;
}

/** Sums and counts of the service's own histograms: its SyncConversations handler and the read barrier of the conversations projection. */
async function serviceTimes(httpPort: number) {
  const metrics = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  const value = (pattern: RegExp) => Number(pattern.exec(metrics)?.[1] ?? 0);
  return {
    serviceS: value(/^im_grpc_request_duration_seconds_sum\{method="im\.v1\.ConversationService\/SyncConversations"\} (\S+)/m),
    calls: value(/^im_grpc_request_duration_seconds_count\{method="im\.v1\.ConversationService\/SyncConversations"\} (\S+)/m),
    barrierS: value(/^im_read_barrier_wait_seconds_sum\{group="conversations\.read-model",outcome="ok"\} (\S+)/m),
    waits: value(/^im_read_barrier_wait_seconds_count\{group="conversations\.read-model",outcome="ok"\} (\S+)/m),
  };
}

/**
 * Full sync (since_version 0, first page of 100, 1 recent message) and incremental sync with one
 * change, `syncCalls` calls each, one at a time. The change is applied by the projection before the
 * incremental calls start, so they measure the query and not the wait for the projection.
 */
export async function measureSync(ctx: SyncSystem, s: SyncBenchSettings): Promise<SyncLatencyRow[]> {
  const rows: SyncLatencyRow[] = [];
  for (const size of s.conversationSizes) {
    const { uid, seedSeconds } = await ctx.user(size);
    const conversations = ctx.conversations.client;
    log(`SyncConversations, ${fmt(size)} conversations: ${s.syncCalls} full syncs`);
    await conversations.syncConversations({ uid, sinceVersion: 0, limit: 100, msgCount: 1 }); // warm-up
    const before = await serviceTimes(ctx.conversations.httpPort);
    const full = await runConcurrently(s.syncCalls, 1, async () => {
      await conversations.syncConversations({ uid, sinceVersion: 0, limit: 100, msgCount: 1 });
    });
    const after = await serviceTimes(ctx.conversations.httpPort);
    const fullSplit = {
      clientMs: full.reduce((sum, v) => sum + v, 0) / full.length,
      serviceMs: ((after.serviceS - before.serviceS) * 1000) / Math.max(1, after.calls - before.calls),
      barrierMs: ((after.barrierS - before.barrierS) * 1000) / Math.max(1, after.waits - before.waits),
    };
    const { version } = await conversations.syncConversations({ uid, sinceVersion: 0, limit: 1 });
    // One more change, then incremental syncs from just before it.
    await produceSeed(ctx.producer, conversationSeed(uid, 1));
    await awaitProjection(conversations, uid);
    const first = await conversations.syncConversations({ uid, sinceVersion: version, limit: 100, msgCount: 1 });
    log(`  ${s.syncCalls} incremental syncs`);
    const incremental = await runConcurrently(s.syncCalls, 1, async () => {
      await conversations.syncConversations({ uid, sinceVersion: version, limit: 100, msgCount: 1 });
    });
    rows.push({
      size,
      seedSeconds,
      full: latencySummary(full),
      incremental: latencySummary(incremental),
      incrementalListed: first.conversations.length,
      fullSplit,
    });
  }
  return rows;
}

// --------------------------------------------------------------------------------------- explain

export interface ExplainedSync {
  size: number;
  /** Wall time of the explained call (auto_explain's instrumentation slows it down). */
  callMs: number;
  statements: CapturedStatement[];
  /** Statements captured during the call that also ran with no call in flight (the outbox relay's polling and the like), left out. */
  background: string[];
}

/** How long the service's own background statements are watched for, with no call in flight. */
export const IDLE_WINDOW_MS = 3_000;

export interface ExplainResult {
  capture: PlanCapture;
  users: ExplainedSync[];
  /** Rows in each table of the conversations schema at the time (plans depend on them, not only on the user's conversations). */
  tableRows: { name: string; rows: number }[];
}

async function schemaTableRows(schema: string): Promise<{ name: string; rows: number }[]> {
  const db = await testDb();
  try {
    const tables = await db.rows<{ name: string }>(
      "SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'r' ORDER BY 1",
      [schema],
    );
    const counts = [];
    for (const t of tables) {
      const [{ n }] = await db.rows<{ n: string }>(`SELECT count(*) AS n FROM "${schema}"."${t.name.replace(/"/g, '""')}"`);
      counts.push({ name: t.name, rows: Number(n) });
    }
    return counts.sort((a, b) => b.rows - a.rows);
  } finally {
    await db.end();
  }
}

const fullSync = (client: GrpcTestClient, uid: string) => client.syncConversations({ uid, sinceVersion: 0, limit: 100, msgCount: 1 });

/**
 * The statements of one full sync (limit 100, 1 recent message) for each of the largest users, as
 * the conversations service runs them. With auto_explain the service is restarted with its sessions
 * going through a NoticeTap, and restarted as before at the end.
 */
export async function measureExplain(ctx: SyncSystem, s: SyncBenchSettings): Promise<ExplainResult> {
  const uids = new Map<number, string>();
  for (const size of s.explainSizes) uids.set(size, (await ctx.user(size)).uid);
  const { databaseUrl } = testEnv();
  const capture = await planCaptureSupport(databaseUrl);
  log(`EXPLAIN of the full sync: ${capture.method}${capture.method === 'none' ? ` (${capture.reason})` : ''}`);
  const users: ExplainedSync[] = [];
  if (capture.method === 'auto_explain') {
    const db = new URL(databaseUrl);
    const tap = await NoticeTap.start({ host: db.hostname, port: Number(db.port || 5432) });
    try {
      await ctx.conversations.restart({ DATABASE_URL: autoExplainUrl(databaseUrl, tap.port) });
      for (const [size, uid] of uids) {
        const client = ctx.conversations.client;
        await awaitProjection(client, uid);
        await fullSync(client, uid); // warm caches, as the measured syncs had them
        tap.record();
        const t0 = performance.now();
        await fullSync(client, uid);
        const callMs = performance.now() - t0;
        const captured = tap.take().flatMap((n) => parsePlanNotice(n) ?? []);
        tap.record();
        await sleep(IDLE_WINDOW_MS);
        const idle = new Set(tap.take().flatMap((n) => parsePlanNotice(n)?.sql ?? []));
        const statements = captured.filter((st) => !idle.has(st.sql));
        const background = [...new Set(captured.filter((st) => idle.has(st.sql)).map((st) => st.sql))];
        users.push({ size, callMs, statements, background });
      }
    } finally {
      await ctx.conversations.restart();
      await tap.close();
    }
  } else if (capture.method === 'pg_stat_statements') {
    for (const [size, uid] of uids) {
      const client = ctx.conversations.client;
      await fullSync(client, uid);
      await resetStatementStats();
      const t0 = performance.now();
      for (let i = 0; i < 10; i++) await fullSync(client, uid);
      users.push({ size, callMs: (performance.now() - t0) / 10, statements: await statementStats(), background: [] });
    }
  }
  return { capture, users, tableRows: await schemaTableRows('conversations') };
}

// --------------------------------------------------------------------------------------- history

export interface HistoryPage {
  label: string;
  startSeq: number;
  latency: Latency;
  /** Messages in the first answer (100 expected). */
  returned: number;
}

export interface HistoryResult {
  history: HistoryChannel;
  pages: HistoryPage[];
}

/** SyncMessages pages of 100 (newest, middle, oldest) from the seeded channel, one call at a time. */
export async function measureHistory(ctx: SyncSystem, s: SyncBenchSettings): Promise<HistoryResult> {
  const history = await seedHistory(ctx.services, s.historyMessages);
  const n = history.messages;
  const positions = [
    { label: 'newest page', startSeq: n - 99 },
    { label: 'middle of the history', startSeq: Math.floor(n / 2) + 1 },
    { label: 'oldest page', startSeq: 1 },
  ];
  const pages: HistoryPage[] = [];
  for (const p of positions) {
    log(`SyncMessages, ${p.label} (seq ${fmt(p.startSeq)}…): ${s.historyCalls} calls`);
    const request = { uid: history.reader, channel: history.channel, startSeq: p.startSeq, endSeq: p.startSeq + 99, limit: 100 };
    const first = await ctx.sys.messages.syncMessages(request);
    const latencies = await runConcurrently(s.historyCalls, 1, async () => {
      await ctx.sys.messages.syncMessages(request);
    });
    pages.push({ ...p, latency: latencySummary(latencies), returned: first.messages.length });
  }
  return { history, pages };
}

// ------------------------------------------------------------------------------------------- lag

/** Send i goes to group i mod n, from its members in turn; message ids are unique per phase. */
const sendTask =
  (ctx: SyncSystem, groups: Group[], phase: string): Task =>
  async (i) => {
    const g = groups[i % groups.length];
    const fromUid = g.members[Math.floor(i / groups.length) % g.members.length];
    await ctx.sys.messages.sendMessage({ fromUid, channel: g.channel, payload: PAYLOAD, clientMsgNo: clientMsgNo(phase, i) });
  };

export interface LagResult {
  groups: number;
  senders: number;
  durationMs: number;
  load: LoadResult;
  send: Latency;
  lag: LagTrace;
  /** When the load stopped, on the samples' clock. */
  loadEndMs: number;
  /** ms after the load stopped until the lag was 0 again; undefined when it was not within `settleMaxMs`. */
  zeroAfterMs: number | undefined;
  settleMaxMs: number;
  sampleMs: number;
  cpu: CpuUsage;
}

/** Sends at the maximum rate (closed loop) for `lagLoadMs` while the projection's lag is sampled; then waits for it to return to 0. */
export async function measureLag(ctx: SyncSystem, s: SyncBenchSettings): Promise<LagResult> {
  const groups = await ctx.loadGroups();
  await awaitProjection(ctx.conversations.client, 'bench-idle');
  await assertGroupsNotShared();
  log(`projection lag: closed loop, ${s.senders} senders on ${fmt(groups.length)} groups × 2 for ${fmt(s.lagLoadMs / 1000)} s`);
  const cpu = new CpuSampler(ctx.cpuTargets());
  ctx.lag.start(s.lagSampleMs);
  cpu.start();
  const load = await runClosedLoop({ concurrency: s.senders, durationMs: s.lagLoadMs, task: sendTask(ctx, groups, uniqueId('lag')) });
  const loadEndMs = ctx.lag.now();
  const cpuUsage = cpu.stop();
  log(`  ${fmt(load.ackedPerSec)} msg/s acknowledged; waiting for the lag to return to 0`);
  const zero = await ctx.lag.waitForZero(loadEndMs, s.lagSettleMaxMs);
  const lag = await ctx.lag.stop();
  await assertGroupsNotShared();
  if (load.errors > 0) log(`  ${fmt(load.errors)} sends failed: ${load.errorReasons.join('; ')}`);
  return {
    groups: groups.length,
    senders: s.senders,
    durationMs: s.lagLoadMs,
    load,
    send: latencySummary(load.latenciesMs),
    lag,
    loadEndMs,
    zeroAfterMs: zero && zero.atMs - loadEndMs,
    settleMaxMs: s.lagSettleMaxMs,
    sampleMs: s.lagSampleMs,
    cpu: cpuUsage,
  };
}

// ----------------------------------------------------------------------------------- visible

export interface VisibleResult {
  maxRatePerSec: number;
  /** Where the maximum rate comes from: the lag step, or a short closed loop of its own. */
  maxRateSource: string;
  background: OpenLoopResult;
  probes: Latency;
  /** Probes whose message was not listed within the time allowed. */
  probeTimeouts: number;
  lag: LagTrace;
}

const PROBE_TIMEOUT_MS = 30_000;

/**
 * Send → visible: a probe sends into a 10-member group and one recipient syncs until the message
 * is listed, one probe after the other, while background sends offer half the maximum rate (open
 * loop, to the load groups) for `visibleMs`.
 */
export async function measureVisible(ctx: SyncSystem, s: SyncBenchSettings, lag: LagResult | undefined): Promise<VisibleResult> {
  const loadGroups = await ctx.loadGroups();
  let maxRatePerSec = lag?.load.ackedPerSec ?? 0;
  let maxRateSource = 'the lag step';
  if (!lag) {
    const ms = Math.max(5_000, Math.round(15_000 * s.scale));
    log(`send → visible: measuring the maximum rate first (closed loop, ${s.senders} senders, ${fmt(ms / 1000)} s)`);
    const closed = await runClosedLoop({ concurrency: s.senders, durationMs: ms, task: sendTask(ctx, loadGroups, uniqueId('max')) });
    maxRatePerSec = closed.ackedPerSec;
    maxRateSource = `a closed loop of ${fmt(ms / 1000)} s (${s.senders} senders)`;
    await awaitProjection(ctx.conversations.client, 'bench-idle');
  }
  const rate = maxRatePerSec / 2;
  const probeGroups = await createGroups(ctx.sys, 20, 10);
  await awaitProjection(ctx.conversations.client, probeGroups[0].members[1]);
  log(`send → visible: background sends at ${fmt(rate, 1)} msg/s (half of ${fmt(maxRatePerSec, 1)}) for ${fmt(s.visibleMs / 1000)} s`);
  ctx.lag.start(s.lagSampleMs);
  let running = true;
  const background = runOpenLoop({
    ratePerSec: rate,
    durationMs: s.visibleMs,
    maxCount: Math.ceil((rate * s.visibleMs) / 1000) * 2 + 10,
    maxInFlight: s.maxInFlight,
    arrivals: s.arrivals,
    task: sendTask(ctx, loadGroups, uniqueId('bg')),
  }).finally(() => (running = false));
  await sleep(1_000);
  const samples: number[] = [];
  let timeouts = 0;
  const conversations = ctx.conversations.client;
  for (let i = 0; running; i++) {
    const g = probeGroups[i % probeGroups.length];
    const reader = g.members[1 + (i % 9)];
    const t0 = performance.now();
    const sent = await ctx.sys.messages.sendMessage({ fromUid: g.members[0], channel: g.channel, payload: Buffer.from('probe'), clientMsgNo: `probe${i}` });
    for (;;) {
      const page = await conversations.syncConversations({ uid: reader, sinceVersion: 0, limit: 100 }).catch(() => undefined);
      const conv = page?.conversations.find((c: { channel: { channelId: string } }) => c.channel.channelId === g.channel.channelId);
      if (conv && conv.lastMsgSeq >= sent.messageSeq) {
        samples.push(performance.now() - t0);
        break;
      }
      if (performance.now() - t0 > PROBE_TIMEOUT_MS) {
        timeouts++;
        break;
      }
    }
  }
  const load = await background;
  const trace = await ctx.lag.stop();
  if (load.errors > 0) log(`  ${fmt(load.errors)} background sends failed: ${load.errorReasons.join('; ')}`);
  return { maxRatePerSec, maxRateSource, background: load, probes: latencySummary(samples), probeTimeouts: timeouts, lag: trace };
}

// ------------------------------------------------------------------------------------------ cost

export interface CostRow {
  members: number;
  rowsPerMessage: number;
  msPerMessage: number;
}

/** Rows written in the conversations schema and time until visible, per message, for one channel size. */
async function costPerMessage(conversations: GrpcTestClient, producer: SyncSystem['producer'], members: number, messages: number): Promise<CostRow> {
  const db = await testDb();
  try {
    const channel = { channelId: uniqueId(`c${members}`), channelType: 2 };
    const key = `2:${channel.channelId}`;
    const uids = Array.from({ length: members }, (_, i) => `${channel.channelId}-u${i}`);
    const adds = [];
    for (let i = 0; i < uids.length; i += 1000)
      adds.push(envelope('subscribers.added', key, { channel, uids: uids.slice(i, i + 1000), membershipVersion: adds.length + 1 }));
    await produceAll(producer, TOPICS.subscriptionsEvents, adds);
    await awaitProjection(conversations, uids[0]); // memberships applied

    const writes = async () => {
      await db.query('SELECT pg_stat_clear_snapshot()');
      const [r] = await db.rows<{ n: string }>(
        "SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) AS n FROM pg_stat_user_tables WHERE schemaname = 'conversations'",
      );
      return Number(r.n);
    };
    await sleep(1500); // table statistics are published about once a second
    const before = await writes();
    const stored = Array.from({ length: messages }, (_, i) =>
      envelope('message.stored', key, {
        message: {
          messageId: randomUUID(),
          messageSeq: i + 1,
          channel,
          fromUid: uids[0],
          clientMsgNo: `c${i}`,
          payload: Buffer.from('x').toString('base64'),
          sentAtMs: Date.now(),
          membershipVersion: adds.length,
        },
      }),
    );
    const t0 = performance.now();
    await produceAll(producer, TOPICS.fanoutEvents, stored);
    for (;;) {
      const page = await conversations.syncConversations({ uid: uids[uids.length - 1], sinceVersion: 0, limit: 1 }).catch(() => undefined);
      if (page?.conversations[0]?.lastMsgSeq >= messages) break;
      if (!page) await sleep(50);
    }
    const elapsedMs = performance.now() - t0;
    await sleep(1500);
    const after = await writes();
    return { members, rowsPerMessage: (after - before) / messages, msPerMessage: elapsedMs / messages };
  } finally {
    await db.end();
  }
}

export interface CostResult {
  messages: number;
  rows: CostRow[];
}

export async function measureCost(ctx: SyncSystem, s: SyncBenchSettings): Promise<CostResult> {
  log(`cost per message: ${fmt(s.costMembers)} members against 2`);
  const rows = [];
  for (const members of [s.costMembers, 2]) rows.push(await costPerMessage(ctx.conversations.client, ctx.producer, members, s.costMessages));
  return { messages: s.costMessages, rows };
}

// --------------------------------------------------------------------------------------- storage

export interface StorageFigures {
  /** Total relation size (heap, indexes, TOAST) of every table in the conversations schema, in bytes. */
  bytes: number;
  /** Rows of conversations.channel_messages: the messages the schema stores. */
  messages: number;
  tables: { name: string; bytes: number }[];
}

export interface StorageResult {
  before: StorageFigures;
  afterPruning: StorageFigures;
  /** After pruning and VACUUM FULL (space freed by deletes goes back to the files only then); only when rows were pruned. */
  compacted?: StorageFigures;
  pruneIntervalMs: number;
  /** Whether the pruner deleted any message row within `waitedMs`. */
  pruned: boolean;
  waitedMs: number;
}

async function storageFigures(): Promise<StorageFigures> {
  const db = await testDb();
  try {
    const tables = await db.rows<{ name: string; bytes: string }>(
      `SELECT c.relname AS name, pg_total_relation_size(c.oid) AS bytes
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'conversations' AND c.relkind IN ('r', 'p', 'm')
        ORDER BY pg_total_relation_size(c.oid) DESC`,
    );
    const [{ n }] = await db.rows<{ n: string }>('SELECT count(*) AS n FROM conversations.channel_messages');
    return {
      bytes: tables.reduce((sum, t) => sum + Number(t.bytes), 0),
      messages: Number(n),
      tables: tables.map((t) => ({ name: t.name, bytes: Number(t.bytes) })),
    };
  } finally {
    await db.end();
  }
}

const messageRows = async () => {
  const db = await testDb();
  try {
    const [{ n }] = await db.rows<{ n: string }>('SELECT count(*) AS n FROM conversations.channel_messages');
    return Number(n);
  } finally {
    await db.end();
  }
};

/**
 * The storage after the conversations service's pruner has made a pass: the service is restarted
 * with MESSAGE_PRUNE_INTERVAL_MS set small, and the step waits until channel_messages shrinks and
 * then stays the same for a while, or gives up after `pruneWaitMs` (pruner not present, or nothing
 * it may prune). The service keeps running with the pruner until the bench ends.
 */
export async function storageAfterPruning(ctx: SyncSystem, s: SyncBenchSettings, before: StorageFigures): Promise<Omit<StorageResult, 'before'>> {
  log(`storage: restarting conversations with MESSAGE_PRUNE_INTERVAL_MS=${s.pruneIntervalMs}; waiting for a pruning pass`);
  const t0 = performance.now();
  await ctx.conversations.restart({ MESSAGE_PRUNE_INTERVAL_MS: String(s.pruneIntervalMs) });
  const quietMs = Math.max(3_000, 2 * s.pruneIntervalMs);
  let last = before.messages;
  let changedAt: number | undefined;
  for (;;) {
    await sleep(1_000);
    const now = performance.now();
    const rows = await messageRows();
    if (rows !== last) {
      last = rows;
      changedAt = now;
    }
    if (changedAt !== undefined && now - changedAt >= quietMs) break;
    if (changedAt === undefined && now - t0 >= s.pruneWaitMs) break;
  }
  const waitedMs = performance.now() - t0;
  const afterPruning = await storageFigures();
  const pruned = afterPruning.messages < before.messages;
  let compacted: StorageFigures | undefined;
  if (pruned) {
    log('storage: VACUUM FULL of the conversations tables');
    const db = await testDb();
    try {
      for (const t of afterPruning.tables) await db.query(`VACUUM FULL conversations."${t.name.replace(/"/g, '""')}"`);
    } finally {
      await db.end();
    }
    compacted = await storageFigures();
  }
  return { afterPruning, compacted, pruneIntervalMs: s.pruneIntervalMs, pruned, waitedMs };
}

export async function measureStorage(ctx: SyncSystem, s: SyncBenchSettings): Promise<StorageResult> {
  await awaitProjection(ctx.conversations.client, 'bench-idle');
  const before = await storageFigures();
  log(`storage: ${fmt(before.bytes / 2 ** 20, 1)} MiB for ${fmt(before.messages)} messages`);
  return { before, ...(await storageAfterPruning(ctx, s, before)) };
}
