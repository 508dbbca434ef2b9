import { CpuUsage } from './cpu-usage';
import { fmt, latencySummary, table } from './lib';
import { LagTrace } from './projection-lag';
import { CapturedStatement } from './sync-explain';
import {
  CostResult,
  ExplainResult,
  IDLE_WINDOW_MS,
  HistoryResult,
  LagResult,
  StorageFigures,
  StorageResult,
  SyncLatencyRow,
  VisibleResult,
} from './sync-steps';
import { SyncBenchSettings } from './sync-settings';

/** The `## bench:sync` section of docs/benchmarks.md and the plans file, from the results of one run. */

export interface SyncBenchResults {
  settings: SyncBenchSettings;
  date: string;
  machine: string;
  /** File the full plans were written to, relative to docs/benchmarks.md's folder or the repository. */
  explainFile: string;
  sync?: SyncLatencyRow[];
  explain?: ExplainResult;
  history?: HistoryResult;
  lag?: LagResult;
  visible?: VisibleResult;
  cost?: CostResult;
  storage?: StorageResult;
}

const ms = (v: number) => fmt(v, 1);
const s1 = (v: number) => fmt(v / 1000, 1);
const mib = (bytes: number) => fmt(bytes / 2 ** 20, 1);
const short = (sql: string, max = 90) => (sql.length > max ? `${sql.slice(0, max - 1)}…` : sql).replace(/\|/g, '\\|');

function syncSection(rows: SyncLatencyRow[], calls: number): string {
  const odd = rows.filter((r) => r.incrementalListed !== 1);
  return `### SyncConversations

${calls} calls each, one at a time (full: \`since_version\` 0, first page of 100, newest first,
1 recent message; incremental: from the version just before exactly one new conversation, which the
projection has applied before the calls start). Seeded: from the first seed record produced until
the projection had applied them all (one \`subscribers.added\` and one \`message.stored\` per conversation).

${table(
  ['conversations of the user', 'seeded in (s)', 'full p50 (ms)', 'full p99 (ms)', 'incremental p50 (ms)', 'incremental p99 (ms)'],
  rows.map((r) => [fmt(r.size), fmt(r.seedSeconds, 1), ms(r.full.p50), ms(r.full.p99), ms(r.incremental.p50), ms(r.incremental.p99)]),
  'rrrrrr',
)}
${odd.length ? `\nThe incremental sync listed ${odd.map((r) => `${r.incrementalListed} conversations for the user with ${fmt(r.size)}`).join(', ')} (1 expected).\n` : ''}
Where a full sync's time goes (means over the same calls): the call as the bench timed it; inside
the service's handler (\`im_grpc_request_duration_seconds\`, from the request decoded to the response
handed to grpc-js); of that, the read barrier (\`im_read_barrier_wait_seconds\`: one ListOffsets for
the projection's input topics, and a wait when it is behind). The rest of the handler is the
snapshot's statements and building the response; the rest of the call is gRPC on both sides and the
bench's own process.

${table(
  ['conversations of the user', 'call (ms)', 'service handler (ms)', 'of which read barrier (ms)'],
  rows.map((r) => [fmt(r.size), ms(r.fullSplit.clientMs), ms(r.fullSplit.serviceMs), ms(r.fullSplit.barrierMs)]),
  'rrrr',
)}
`;
}

const statementRows = (statements: CapturedStatement[], withPlans: boolean) =>
  statements.map((st) =>
    withPlans
      ? [`\`${short(st.sql)}\``, st.topNode, fmt(st.rowsExamined), fmt(st.sharedBuffers), ms(st.durationMs)]
      : [`\`${short(st.sql)}\``, fmt(st.calls ?? 0), fmt(st.rowsExamined, 1), fmt(st.sharedBuffers, 1), ms(st.durationMs)],
  );

function explainSection(e: ExplainResult, explainFile: string): string {
  if (e.capture.method === 'none') return `### EXPLAIN of the full sync\n\nNot captured: ${e.capture.reason}.\n`;
  const autoExplain = e.capture.method === 'auto_explain';
  const intro = autoExplain
    ? `Every statement one full sync ran (limit 100, 1 recent message), captured with auto_explain
(ANALYZE, BUFFERS) in the conversations service's own sessions, with the parameters it bound; the
call was repeated once before, so caches were warm. Rows examined: rows read by scan nodes (rows × loops,
plus rows removed by their filters); buffers: shared hit + read. Full plans: [${explainFile}](${explainFile}).`
    : `auto_explain could not be loaded into the service's sessions; pg_stat_statements per statement over
10 full syncs (limit 100, 1 recent message): mean time, rows returned and buffers per call, no plans.`;
  const rows = e.tableRows
    .filter((t) => t.rows > 0)
    .slice(0, 6)
    .map((t) => `\`${t.name}\` ${fmt(t.rows)}`)
    .join(', ');
  const parts = [`### EXPLAIN of the full sync\n\n${intro} Rows in the conversations tables at the time (every user's, every channel's): ${rows}.`];
  for (const u of e.users) {
    const headers = autoExplain
      ? ['statement', 'top node', 'rows examined', 'buffers', 'time (ms)']
      : ['statement', 'calls', 'rows per call', 'buffers per call', 'mean time (ms)'];
    const total = u.statements.reduce((n, st) => n + st.rowsExamined, 0);
    const left = u.background.length
      ? `\n\nLeft out: ${u.background.length} statement${u.background.length === 1 ? '' : 's'} that also ran in the ${s1(IDLE_WINDOW_MS)} s after the call, with no call in flight (the service's background work): ${u.background.map((sql) => `\`${short(sql, 60)}\``).join(', ')}.`
      : '';
    parts.push(
      `User with ${fmt(u.size)} conversations (call took ${ms(u.callMs)} ms${autoExplain ? ` under auto_explain; ${fmt(total)} rows examined in all` : ''}):\n\n${table(headers, statementRows(u.statements, autoExplain), 'llrrr')}${left}`,
    );
  }
  if (autoExplain && e.users.length === 2) {
    const [a, b] = e.users.map((u) => u.statements.reduce((n, st) => n + st.rowsExamined, 0));
    const [sa, sb] = e.users.map((u) => u.size);
    if (a > 0) parts.push(`Rows examined grow ×${fmt(b / a, 1)} for ×${fmt(sb / sa, 1)} conversations.`);
  }
  return parts.join('\n\n') + '\n';
}

function historySection(h: HistoryResult, calls: number): string {
  const seeded = h.history.seededNow > 0 ? `seeded by this run in ${fmt(h.history.seedSeconds, 1)} s` : 'seeded by an earlier run on the same database';
  return `### SyncMessages history

A group channel with ${fmt(h.history.messages)} messages (200-byte payloads), ${seeded}. The channel and
its member were created through the services; the messages were written **directly in SQL**
(generate_series) into \`fanout.messages\` in the layout the fanout's send path writes, with the
channel head's \`last_seq\` moved as a send moves it. Their \`message.stored\` events (fanout events /
outbox rows, Kafka records) were not written: SyncMessages reads none of them. Pages of 100
(\`start_seq\` … \`start_seq\` + 99, limit 100), ${calls} calls each, one at a time:

${table(
  ['page', 'start_seq', 'messages returned', 'p50 (ms)', 'p99 (ms)'],
  h.pages.map((p) => [p.label, fmt(p.startSeq), fmt(p.returned), ms(p.latency.p50), ms(p.latency.p99)]),
  'lrrrr',
)}
`;
}

/** The trace every ~5 s, for a table short enough to read. */
function lagTimeline(trace: LagTrace, loadEndMs: number): string[][] {
  const rows: string[][] = [];
  let next = 0;
  for (const sample of trace.samples) {
    if (sample.atMs < next && sample !== trace.samples[trace.samples.length - 1]) continue;
    rows.push([s1(sample.atMs), sample.atMs <= loadEndMs ? 'sending' : 'after', fmt(sample.records), sample.gauge === undefined ? 'n/a' : fmt(sample.gauge)]);
    next = sample.atMs + 5_000;
  }
  return rows;
}

function cpuLine(cpu: CpuUsage): string {
  const shares = cpu.shares.map((sh) => `${sh.label} ${fmt(sh.cores, 2)}`).join(', ');
  return `Cores used while sending: ${shares}; machine busy ${fmt(cpu.machineCores, 2)} (of all its cores, anything running).`;
}

function lagSection(l: LagResult): string {
  const back =
    l.zeroAfterMs === undefined
      ? `did **not** return to 0 within ${s1(l.settleMaxMs)} s after the load stopped`
      : `returned to 0 ${s1(Math.max(0, l.zeroAfterMs))} s after the load stopped`;
  const failed = l.load.errors > 0 ? ` ${fmt(l.load.errors)} sends failed (${l.load.errorReasons.join('; ')}).` : '';
  return `### Conversations projection lag at the maximum send rate

Closed loop (the load generator of bench:send): ${l.senders} senders, each sending again as soon as its
previous send is acknowledged, to ${fmt(l.groups)} groups × 2 members for ${s1(l.durationMs)} s, with all four
services running. ${fmt(l.load.acked)} sends acknowledged: **${fmt(l.load.ackedPerSec)} msg/s** (the maximum rate), send-ack
p50 ${ms(l.send.p50)} ms, p99 ${ms(l.send.p99)} ms.${failed}

Lag = records on the projection's input topics not applied yet (end offsets minus the
\`conversations.read-model\` checkpoints, as the read barrier counts it), sampled every ${fmt(l.sampleMs)} ms; beside it
the service's own gauge \`im_kafka_consumer_lag\` summed over the group, which the service reads the same way
when scraped. Maximum
**${fmt(l.lag.max?.records ?? 0)} records** at ${s1(l.lag.max?.atMs ?? 0)} s (gauge maximum ${l.lag.maxGauge === undefined ? 'n/a' : fmt(l.lag.maxGauge)}); the lag ${back}.

${table(['t (s)', 'load', 'lag (records)', 'gauge'], lagTimeline(l.lag, l.loadEndMs), 'rlrr')}

${cpuLine(l.cpu)}
`;
}

function visibleSection(v: VisibleResult): string {
  const bg = v.background;
  const notes = [
    bg.errors > 0 ? `${fmt(bg.errors)} background sends failed (${bg.errorReasons.join('; ')})` : '',
    bg.capHits > 0 ? `the in-flight cap was hit ${fmt(bg.capHits)}×` : '',
    v.probeTimeouts > 0 ? `${fmt(v.probeTimeouts)} probes not visible within 30 s (left out)` : '',
  ].filter(Boolean);
  return `### Send → visible at half the maximum rate

A probe sends into a 10-member group (through channels, subscriptions, fanout and conversations) and a
recipient calls SyncConversations until the message is listed, one probe after the other, while
background sends offer **${fmt(bg.offeredPerSec, 1)} msg/s** (half of ${fmt(v.maxRatePerSec, 1)} msg/s, the maximum rate from
${v.maxRateSource}; open loop, ${fmt(bg.issued)} sends, ${fmt(bg.ackedPerSec, 1)} msg/s acknowledged, send-ack p99
${ms(latencySummary(bg.latenciesMs).p99)} ms). Send → visible: p50 **${ms(v.probes.p50)} ms**, p99 **${ms(v.probes.p99)} ms** over ${fmt(v.probes.n)}
probes. Projection lag meanwhile: at most ${fmt(v.lag.max?.records ?? 0)} records.${notes.length ? ` Notes: ${notes.join('; ')}.` : ''}
`;
}

function costSection(c: CostResult): string {
  return `### Cost per message in the conversations projection

${c.messages} \`message.stored\` each, produced onto the topic; rows = inserts + updates + deletes in the
conversations schema per message, from Postgres table statistics:

${table(
  ['channel', 'rows written per message', 'ms per message until visible'],
  c.rows.map((r) => [`${fmt(r.members)} members`, fmt(r.rowsPerMessage, 1), fmt(r.msPerMessage, 2)]),
  'lrr',
)}
`;
}

const perMessage = (f: StorageFigures) => (f.messages > 0 ? fmt(f.bytes / f.messages) : 'n/a');

function storageSection(st: StorageResult): string {
  const rows = [
    ['after the seeding', st.before],
    ['after the pruner’s pass', st.afterPruning],
    ...(st.compacted ? [['after pruning and VACUUM FULL', st.compacted] as const] : []),
  ] as const;
  const verdict = st.pruned
    ? `The pruner deleted ${fmt(st.before.messages - st.afterPruning.messages)} of ${fmt(st.before.messages)} message rows.`
    : `**Pruner not present**: no message row was deleted within ${s1(st.waitedMs)} s of starting the service with
\`MESSAGE_PRUNE_INTERVAL_MS=${st.pruneIntervalMs}\` (or it found nothing it may prune), so both figures are the same.`;
  const top = st.before.tables
    .slice(0, 6)
    .map((t) => `\`${t.name}\` ${mib(t.bytes)} MiB`)
    .join(', ');
  return `### Storage per message in the conversations schema

Total relation size (\`pg_total_relation_size\`: heap, indexes, TOAST) of every table in the
conversations schema, divided by the messages it stores (rows of \`channel_messages\`), after everything
above was seeded and sent; then again after the conversations service, restarted with
\`MESSAGE_PRUNE_INTERVAL_MS=${st.pruneIntervalMs}\`, made a pruning pass. The schema also holds one members row per
(user, conversation), so the figure counts the conversations seeded above as well as the messages.

${table(
  ['when', 'messages stored', 'total size (MiB)', 'bytes per message'],
  rows.map(([label, f]) => [label, fmt(f.messages), mib(f.bytes), perMessage(f)]),
  'lrrr',
)}

${verdict} Largest tables after the seeding: ${top}.
`;
}

export function renderSyncReport(r: SyncBenchResults): string {
  const s = r.settings;
  const parts = [
    `Reproduce: \`npm run bench:sync\` (starts all four services on the provisioned broker and a \`<db>_bench\`
database; knobs in scripts/bench/sync-settings.ts). Run on ${r.date}, ${r.machine}${s.scale !== 1 ? `, **scale ${s.scale}**` : ''}.
Conversation lists are seeded by producing the upstream events (\`subscribers.added\`,
\`message.stored\`) onto the real topics; every SyncConversations passes the read barrier.`,
  ];
  if (r.sync) parts.push(syncSection(r.sync, s.syncCalls));
  if (r.explain) parts.push(explainSection(r.explain, r.explainFile));
  if (r.history) parts.push(historySection(r.history, s.historyCalls));
  if (r.lag) parts.push(lagSection(r.lag));
  if (r.visible) parts.push(visibleSection(r.visible));
  if (r.cost) parts.push(costSection(r.cost));
  if (r.storage) parts.push(storageSection(r.storage));
  return parts.join('\n\n');
}

/** The full plans of the explain step, as their own markdown file. */
export function renderExplainFile(r: SyncBenchResults): string {
  const e = r.explain;
  const head = `# bench:sync — plans of the full sync

Written by \`npm run bench:sync\` (step \`explain\`); summarised in [benchmarks.md](benchmarks.md#bench-sync).
Run on ${r.date}, ${r.machine}${r.settings.scale !== 1 ? `, scale ${r.settings.scale}` : ''}. Each plan is one statement of one
SyncConversations full sync (limit 100, 1 recent message), as the conversations service ran it,
captured by auto_explain (ANALYZE, BUFFERS) in the service's sessions.${
    e?.tableRows.length ? ` Rows in the conversations tables at the time: ${e.tableRows.map((t) => `\`${t.name}\` ${fmt(t.rows)}`).join(', ')}.` : ''
  }
`;
  if (!e || e.capture.method !== 'auto_explain')
    return `${head}\nNo plans in this run: ${e?.capture.method === 'none' ? e.capture.reason : 'auto_explain was not available'}.\n`;
  const users = e.users.map(
    (u) =>
      `## User with ${fmt(u.size)} conversations\n\n` +
      u.statements
        .map(
          (st, i) =>
            `### Statement ${i + 1}: ${st.topNode}, ${fmt(st.rowsExamined)} rows examined, ${ms(st.durationMs)} ms\n\n\`\`\`sql\n${st.sql}\n\`\`\`\n\n\`\`\`\n${st.plan}\n\`\`\``,
        )
        .join('\n\n'),
  );
  return `${head}\n${users.join('\n\n')}\n`;
}
