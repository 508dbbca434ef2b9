import { ProfileSummary } from './cpu-profile';
import { CpuUsage } from './cpu-usage';
import { EVENT_LOOP_MAX_METRIC, GC_DURATION_METRIC } from './event-loop-probe';
import { batchedContractSupport, FASTEST_MODE, Gateways } from './gateways';
import { fmt, table } from './lib';
import { OpenLoopResult } from './load';
import { KafkaRawLimit, PostgresRawLimits } from './raw-limits';
import { SEND_BATCH_STAGES } from './send-batch-probe';
import { ModeResult, PhaseResult, SweepResult, WorkloadSpec } from './send-phases';
import { SendBenchSettings } from './send-settings';

/** The `## bench:send` section of docs/benchmarks.md, from the results of one run. */

export interface SendBenchResults {
  settings: SendBenchSettings;
  date: string;
  machine: string;
  cores: number;
  contract: ReturnType<typeof batchedContractSupport>;
  workloads: ModeResult[];
  sweep?: SweepResult & { spec: WorkloadSpec; chartFile: string };
  raw?: { kafka: KafkaRawLimit; postgres: PostgresRawLimits };
  profile?: { spec: WorkloadSpec; run: PhaseResult; summaries: Record<string, ProfileSummary> };
}

const ms = (v: number | undefined) => (v === undefined ? 'n/a' : fmt(v, 1));

/** "over of all" for scavenges and mark-compacts: e.g. `12 of 306 / 11 of 16`. */
function gcLabel(phase: PhaseResult): string {
  if (!phase.gc) return 'n/a';
  const of = (kind: string) => (phase.gc?.[kind] ? `${fmt(phase.gc[kind].over10ms)} of ${fmt(phase.gc[kind].all)}` : '0 of 0');
  return `${of('minor')} / ${of('major')}`;
}
const pct = (share: number) => `${fmt(share * 100, 1)} %`;
const groupsName = (spec: WorkloadSpec) => `${fmt(spec.groups)} group${spec.groups === 1 ? '' : 's'} × ${fmt(spec.members)} members`;
const workloadName = (spec: WorkloadSpec) =>
  `${spec.key}) ${groupsName(spec)}${spec.gateways ? '' : ', no gateway'}${spec.ingressStreams ? `, sent on ${spec.ingressStreams} SendMessages streams` : ''}`;

function streamsLabel(r: { mode?: string; frames?: Gateways['frames'] }): string {
  if (!r.mode || !r.frames) return 'none';
  const kinds = [
    r.frames.audience > 0 && `audience frames (${pct(r.frames.audienceDefinitions / r.frames.audience)} defining one)`,
    r.frames.batched > 0 && 'batched frames',
    r.frames.perUid > 0 && 'per-uid frames',
  ].filter(Boolean);
  const sent = kinds.length > 0 ? kinds.join(' and ') : 'no frames';
  const odd = r.frames.withoutRecipient > 0 ? `, ${fmt(r.frames.withoutRecipient)} frames without recipient` : '';
  return `${r.mode} asked → ${sent}${odd}`;
}

function loadLabel(settings: SendBenchSettings, phase: PhaseResult): string {
  const open = phase.load as Partial<OpenLoopResult>;
  return open.offeredPerSec === undefined
    ? `closed, ${phase.load.concurrency ?? settings.senders} senders`
    : `open, ${fmt(open.offeredPerSec, 1)} msg/s offered`;
}

/** A reason short enough for a table cell, without the characters that would break it. */
const cell = (text: string) => (text.length > 120 ? `${text.slice(0, 117)}...` : text).replace(/[|\n]/g, ' ');

/** Failed sends and open-loop cap hits, so that no figure hides them. */
function phaseNotes(phase: PhaseResult): string {
  const open = phase.load as Partial<OpenLoopResult>;
  const notes = [
    phase.load.errors > 0 ? `${fmt(phase.load.errors)} failed (${phase.load.errorReasons.map(cell).join('; ')})` : '',
    open.capHits ? `in-flight cap hit ${fmt(open.capHits)}×` : '',
  ].filter(Boolean);
  return notes.join('; ') || '—';
}

function workloadRows(r: SendBenchResults): string[][] {
  return r.workloads.flatMap((w) =>
    [w.closed, w.open].flatMap((phase) =>
      phase
        ? [
            [
              workloadName(w.spec),
              streamsLabel(w),
              loadLabel(r.settings, phase),
              fmt(phase.load.acked),
              fmt(phase.load.ackedPerSec),
              phase.delivery ? fmt(phase.delivery.perSec) : '—',
              phase.delivery ? `${fmt(phase.delivery.delivered)} / ${fmt(phase.delivery.expected)}` : '—',
              phase.delivery ? String(phase.delivery.streamsEnded) : '—',
              ms(phase.p50Ms),
              ms(phase.p99Ms),
              ms(phase.stallMaxMs),
              gcLabel(phase),
              phaseNotes(phase),
            ],
          ]
        : [],
    ),
  );
}

function contractSentence(c: SendBenchResults['contract'], workloads: ModeResult[]): string {
  const fields = {
    '`Attach.batched`': c.attachBatched,
    '`Delivery.uids`': c.deliveryUids,
    '`Attach.audiences`': c.attachAudiences,
    '`Delivery.audience`': c.deliveryAudience,
  };
  const missing = Object.keys(fields).filter((name) => !fields[name as keyof typeof fields]);
  const contract =
    missing.length === 0
      ? `The contract this run was built with has ${Object.keys(fields).join(', ')}`
      : `The contract this run was built with lacks ${missing.join(' and ')}, so those requests went out without them`;
  const asked = workloads.filter((w) => w.mode === 'batched' || w.mode === 'audiences');
  const got = (kind: 'batched' | 'audience') => asked.some((w) => (w.frames?.[kind] ?? 0) > 0);
  const sent = [got('batched') && 'batched frames', got('audience') && 'audience frames'].filter(Boolean).join(' and ');
  return `${contract}; ${asked.length === 0 ? 'no batched streams were run.' : sent ? `the server sent ${sent}.` : 'the server sent per-uid frames on the streams that asked for batching.'}`;
}

function workloadSection(r: SendBenchResults): string {
  if (r.workloads.length === 0) return '';
  const s = r.settings;
  return `### Send and delivery

Each workload runs closed loop first (${s.senders} senders, ${s.ingressSenders} for the SendMessages variant, whose streams
carry many users' sends at once as a gateway's do; each sender sends again as soon as its previous send is
acknowledged, ${fmt(s.closedLoopMs / 1000, 1)} s: the maximum acknowledged rate), then open loop at half that rate
(${s.arrivals} arrivals for ${fmt(s.openLoopMs / 1000, 1)} s, at most ${fmt(s.maxInFlight)} sends in flight, latency from each send's
scheduled arrival: the latency at a load the system sustains). Messages/s counts
acknowledged sends; deliveries are counted by the simulated gateways (${s.gatewayStreams} StreamDeliveries streams
sharing the members, one connection), a batched frame counting once per uid it lists, an audience frame once per uid its
audience id names; delivered / expected
compares them with acknowledged sends × members. "Streams" gives the mode the gateways asked for and the frames the
server actually sent; "streams ended" counts streams the server closed (e.g. STREAM_BEHIND) since they opened.
Then the fanout's longest event-loop stall during the phase (see below); notes list failed sends and open-loop
in-flight cap hits.

${table(
  [
    'workload',
    'streams',
    'load',
    'acked sends',
    'messages/s',
    'deliveries/s',
    'delivered / expected',
    'streams ended',
    'send-ack p50 (ms)',
    'send-ack p99 (ms)',
    'fanout max event-loop stall (ms)',
    'fanout GC pauses over 10 ms: scavenges / mark-compacts',
    'notes',
  ],
  workloadRows(r),
  'lllrrrrrrrrrl',
)}

${contractSentence(r.contract, r.workloads)}

Fanout event-loop stalls: \`${EVENT_LOOP_MAX_METRIC}\` scraped from the fanout's /metrics about once a
second from the start of the phase until its deliveries arrived; prom-client takes it from a perf_hooks
event-loop delay histogram and resets that histogram at every scrape, so the maximum over the scrapes is the
longest stall in the phase. The histogram samples every 10 ms and records the time between samples, so about
10 ms means no stall. Beside it, from the same scrapes, the fanout's garbage-collector pauses longer than 10 ms among
all of its pauses in the phase (\`${GC_DURATION_METRIC}\`, prom-client's histogram of perf_hooks GC entries: \`minor\`
scavenges of the young generation, \`major\` mark-compacts of the whole heap), to tell stalls of the collector from
stalls of the code.`;
}

function sweepSection(r: SendBenchResults): string {
  if (!r.sweep) return '';
  const rows = r.sweep.steps.map((step) => {
    const load = step.load as OpenLoopResult;
    return [
      fmt(load.offeredPerSec, 1),
      fmt(load.ackedPerSec, 1),
      ms(step.p50Ms),
      ms(step.p99Ms),
      step.delivery ? `${fmt(step.delivery.delivered)} / ${fmt(step.delivery.expected)}` : '—',
      ms(step.stallMaxMs),
      gcLabel(step),
      phaseNotes(step),
    ];
  });
  return `### Offered load against send-ack latency

![send-ack latency against offered load](${r.sweep.chartFile})

${groupsName(r.sweep.spec)} on ${r.settings.gatewayStreams} ${FASTEST_MODE} streams (${streamsLabel({ mode: FASTEST_MODE, frames: r.sweep.frames })}):
after an unreported warm-up step, open loop at offered rates rising × 1.5 per step of ${fmt(r.settings.sweepStepMs / 1000, 1)} s,
${r.settings.arrivals} arrivals, latency measured from each send's scheduled arrival. Achieved is the acknowledgement
rate over the span of the acknowledgements; a step counts as saturated when it falls below 90 % of the arrival rate
actually drawn, when p99 exceeds max(1 s, 10 × the first step's p99), or when sends fail or hit the in-flight cap
(${fmt(r.settings.maxInFlight)}). The sweep stopped because ${r.sweep.stopReason}.

${table(['offered msg/s', 'achieved msg/s', 'send-ack p50 (ms)', 'send-ack p99 (ms)', 'delivered / expected', 'fanout max event-loop stall (ms)', 'fanout GC pauses over 10 ms: scavenges / mark-compacts', 'notes'], rows, 'rrrrrrrl')}`;
}

function cpuSection(r: SendBenchResults): string {
  const runs: { name: string; cpu: CpuUsage }[] = [
    ...r.workloads.flatMap((w) =>
      w.closed.cpu ? [{ name: `${w.spec.key})${w.mode ? ` ${w.mode}` : ''}${w.spec.ingressStreams ? ' SendMessages' : ''}`, cpu: w.closed.cpu }] : [],
    ),
    ...(r.profile?.run.cpu
      ? [
          {
            name: `${r.profile.spec.key})${r.profile.spec.gateways ? ` ${FASTEST_MODE}` : ''}${r.profile.spec.ingressStreams ? ' SendMessages' : ''}, profiled`,
            cpu: r.profile.run.cpu,
          },
        ]
      : []),
  ];
  if (runs.length === 0) return '';
  const labels = runs[0].cpu.shares.map((s) => s.label);
  const coresOf = (cores: number) => fmt(cores, 2);
  const rows = [
    ...labels.map((label, i) => [label, ...runs.map((run) => coresOf(run.cpu.shares[i].cores))]),
    ['everything else on the machine', ...runs.map((run) => coresOf(Math.max(0, run.cpu.machineCores - run.cpu.shares.reduce((n, s) => n + s.cores, 0))))],
    ['**machine busy**', ...runs.map((run) => `**${coresOf(run.cpu.machineCores)}**`)],
  ];
  return `### CPU by process during the saturated runs

Cores used (CPU seconds per second: 1.00 is one core fully busy; the machine has ${r.cores}) while each
closed-loop phase was sending, from utime + stime in /proc/<pid>/stat sampled every second; Postgres is the postmaster
and all its backends. The bench process runs the senders and decodes every delivery frame of the gateways.

${table(['process', ...runs.map((run) => run.name)], rows, 'l' + 'r'.repeat(runs.length))}`;
}

function batchSection(r: SendBenchResults): string {
  const runs = r.workloads.flatMap((w) =>
    [w.closed, w.open].flatMap((phase) =>
      phase?.batches ? [{ name: `${workloadName(w.spec)}${w.mode ? ` (${w.mode})` : ''}`, load: loadLabel(r.settings, phase), b: phase.batches }] : [],
    ),
  );
  if (runs.length === 0) return '';
  const rows = runs.map(({ name, load, b }) => [name, load, fmt(b.batches), fmt(b.meanSize, 1), ...SEND_BATCH_STAGES.map((stage) => ms(b.stageMeanMs[stage]))]);
  return `### Where a send batch's time goes

From the fanout's own histograms (\`im_send_batch_size\`, \`im_send_batch_stage_seconds\`), read at the start and the
end of each phase: mean per batch of its size and of each stage. Queued: the batch's first send waiting for the
batch to start; barrier: the membership read barrier; locks: waiting for the batch before to commit, then the
round trip that takes the channels' locks and reads what the batch is decided on; transaction: deciding, then the
round trip that writes and commits; publish: COMMIT until the broker acknowledged the events.

${table(['workload', 'load', 'batches', 'sends per batch', ...SEND_BATCH_STAGES.map((stage) => `${stage} (ms)`)], rows, 'llrr' + 'r'.repeat(SEND_BATCH_STAGES.length))}`;
}

/** Postgres's statements of the closed-loop phases that say most about the send path: a) on SendMessages streams, and b) batched. */
function statementSection(r: SendBenchResults): string {
  const runs = r.workloads.filter((w) => (w.spec.key === 'a' && w.spec.ingressStreams) || (w.spec.key === 'b' && w.mode === FASTEST_MODE));
  const parts = runs.flatMap((w) => {
    const stats = w.closed.statements;
    if (!stats) return [];
    const name = `${workloadName(w.spec)}${w.mode ? ` (${w.mode})` : ''}, closed loop`;
    if ('unavailable' in stats) return [`${name}: ${stats.unavailable}.`];
    const batches = w.closed.batches?.batches ?? 0;
    const rows = stats.statements.map((st) => [
      `\`${st.sql.replace(/\|/g, '\\|').replace(/`/g, "'")}\``,
      fmt(st.calls),
      batches > 0 ? fmt(st.calls / batches, 2) : '—',
      fmt(st.plans),
      fmt(st.planMs / Math.max(1, st.calls), 3),
      fmt(st.execMs / Math.max(1, st.calls), 3),
      fmt(st.rows / Math.max(1, st.calls), 1),
    ]);
    return [
      `#### ${name}\n\n${table(['statement', 'calls', 'per send batch', 'plans', 'plan (ms per call)', 'execution (ms per call)', 'rows per call'], rows, 'lrrrrrr')}`,
    ];
  });
  if (parts.length === 0) return '';
  return `### Postgres statements during the saturated runs

From pg_stat_statements (with \`track_planning\`), reset after a VACUUM (ANALYZE) at the start of each closed-loop phase and
read at its end: the ten statements Postgres spent most time on, planning and executing, in the bench database.
"Plans" far below "calls" means a prepared statement running its generic plan.

${parts.join('\n\n')}`;
}

function profileSection(r: SendBenchResults): string {
  if (!r.profile) return '';
  const { run, summaries, spec } = r.profile;
  const unprofiled = r.workloads.find(
    (w) => w.spec.key === spec.key && !w.spec.ingressStreams === !spec.ingressStreams && (!spec.gateways || w.mode === FASTEST_MODE),
  )?.closed.load.ackedPerSec;
  const parts = Object.entries(summaries).map(([service, s]) => {
    const busy = s.sampledMs - s.idleMs;
    const heading = `#### ${service}

Busy ${fmt(busy / 1000, 1)} s of ${fmt(s.sampledMs / 1000, 1)} s sampled (${pct(s.sampledMs > 0 ? busy / s.sampledMs : 0)} of its main thread)${s.windowed ? '' : '; the window missed the profile, so this covers the whole process'}.`;
    // A nearly idle thread's top functions are timer and socket noise.
    if (busy < 0.05 * s.sampledMs) return `${heading} Mostly idle: no table.`;
    const rows = Array.from({ length: Math.max(s.byFunction.length, s.byFile.length) }, (_, i) => {
      const f = s.byFunction[i];
      const file = s.byFile[i];
      return [f ? `\`${f.name}\`` : '', f ? pct(f.share) : '', file ? `\`${file.name}\`` : '', file ? pct(file.share) : ''];
    });
    return `${heading}

${table(['function (self time)', 'share of busy', 'file or package (self time)', 'share of busy'], rows, 'lrlr')}`;
  });
  return `### CPU profiles of the saturated run

A separate closed-loop run of ${groupsName(spec)}${spec.gateways ? ` on ${FASTEST_MODE} streams` : ', no gateway,'}${spec.ingressStreams ? ` sent on ${spec.ingressStreams} SendMessages streams,` : ''} with channels, subscriptions and fanout
started under \`node --cpu-prof\` (${fmt(run.load.ackedPerSec)} msg/s under the profiler${unprofiled ? `, ${fmt(unprofiled)} without` : ''}). Self time
of each service's main thread while the senders ran, by function and by file or package (\`pkg\`: node_modules;
\`(garbage collector)\`, \`(program)\`: V8's own); shares are of the thread's busy time.

${parts.join('\n\n')}`;
}

function rawSection(r: SendBenchResults): string {
  if (!r.raw) return '';
  const { kafka, postgres } = r.raw;
  const settings = `synchronous_commit=${postgres.synchronousCommit}, fsync=${postgres.fsync}`;
  return `### Raw limits in the same run

The broker's and the database's own limits on this machine, measured while the services were stopped.

${table(
  ['limit', 'value'],
  [
    [
      `Kafka ProducerPerformance: ${fmt(kafka.records)} records of ${kafka.recordSize} bytes, acks=all, idempotent, linger.ms=5, 3 partitions`,
      `${fmt(kafka.recordsPerSec)} records/s (${fmt(kafka.mbPerSec, 1)} MB/s)`,
    ],
    [
      `Postgres INSERT into a logged table, ${postgres.batched.batch} rows per INSERT (arrays from the client) and one COMMIT per batch, ${fmt(postgres.batched.rows)} rows, ${settings}`,
      `${fmt(postgres.batched.rowsPerSec)} rows/s`,
    ],
    [
      `Postgres INSERT into a logged table, 1 row per transaction (autocommit INSERT, one round trip each), ${fmt(postgres.singleRow.rows)} rows, ${settings}`,
      `${fmt(postgres.singleRow.rowsPerSec)} rows/s`,
    ],
  ],
  'lr',
)}`;
}

export function renderSendReport(r: SendBenchResults): string {
  const s = r.settings;
  const knobs = [
    s.scale !== 1 && `BENCH_SCALE=${s.scale}`,
    s.arrivals !== 'poisson' && `BENCH_ARRIVALS=${s.arrivals}`,
    process.env.BENCH_SERVICE_ENV && `BENCH_SERVICE_ENV=${process.env.BENCH_SERVICE_ENV}`,
  ]
    .filter(Boolean)
    .join(' ');
  return [
    `Reproduce: \`${knobs ? `${knobs} ` : ''}npm run bench:send\` (starts channels, subscriptions and fanout on the provisioned broker and a
\`<db>_bench\` database; Kafka, Postgres, the services and the bench share the machine). Payload 200 bytes. Run on
${r.date}, ${r.machine}.${s.scale !== 1 ? ` Scale ${s.scale}: reduced sizes and durations, not comparable with a full run.` : ''}`,
    workloadSection(r),
    sweepSection(r),
    batchSection(r),
    cpuSection(r),
    statementSection(r),
    profileSection(r),
    rawSection(r),
  ]
    .filter(Boolean)
    .join('\n\n');
}
