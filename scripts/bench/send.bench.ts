import { REPO_ROOT } from '@im/testing';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, relative } from 'node:path';
import { summariseProfile } from './cpu-profile';
import { batchedContractSupport, FASTEST_MODE } from './gateways';
import { fmt, log, machine, writeReportSection } from './lib';
import { OpenLoopResult } from './load';
import { kafkaRawProduceLimit, postgresRawInsertLimits } from './raw-limits';
import { ModeResult, PhaseResult, runSaturated, runSweep, runWorkload, WorkloadSpec } from './send-phases';
import { renderSendReport, SendBenchResults } from './send-report';
import { scaled, SendBenchSettings, sendBenchSettings } from './send-settings';
import { latencyChartSvg } from './svg-chart';
import { SystemUnderTest } from './system';

/**
 * bench:send — acknowledged sends/s, deliveries/s and send-ack latency of the real chain (channels,
 * subscriptions, fanout on Kafka and Postgres) for 2-member groups without gateways, 100 × 100 and
 * 1 × 10,000 over per-uid, batched and audience gateway streams; the fanout's event-loop stalls; an offered-load
 * sweep charted to docs/bench-send-latency.svg; CPU by process and CPU profiles of the saturated
 * run; the raw limits of the broker and the database. Usage: npm run bench:send (knobs: send-settings.ts).
 */

const CHART = 'bench-send-latency.svg';

const workloads = (s: SendBenchSettings): WorkloadSpec[] => [
  { key: 'a', groups: scaled(s, 1000, 2), members: 2, gateways: false },
  { key: 'b', groups: scaled(s, 100, 2), members: 100, gateways: true },
  { key: 'c', groups: 1, members: scaled(s, 10_000, 100), gateways: true },
  // Optional: workload a) with its sends on SendMessages streams instead of unary calls.
  ...(s.ingressStreams > 0 ? [{ key: 'a' as const, groups: scaled(s, 1000, 2), members: 2, gateways: false, ingressStreams: s.ingressStreams }] : []),
];

/** Where the report goes: docs/ for a full run, .cache/bench/ for smoke runs. */
const outputDir = (s: SendBenchSettings) => (s.writeDocs ? join(REPO_ROOT, 'docs') : join(REPO_ROOT, '.cache/bench'));

/** The sweep starts low: a fifth of the 100 × 100 batched closed-loop rate, unless given. */
function sweepStart(s: SendBenchSettings, done: ModeResult[]): number {
  const closed = done.find((w) => w.spec.key === 'b' && w.mode === FASTEST_MODE)?.closed.load.ackedPerSec;
  return s.sweepStartPerSec ?? Math.max(2, (closed ?? 50) / 5);
}

async function measureSystem(s: SendBenchSettings, results: SendBenchResults): Promise<void> {
  const sys = await SystemUnderTest.start({ brokerWaitMs: s.brokerWaitMs });
  try {
    for (const spec of workloads(s).filter((w) => s.steps.has(w.key))) results.workloads.push(...(await runWorkload(sys, spec, s)));
    if (s.steps.has('sweep')) {
      const spec = workloads(s)[1];
      const sweep = await runSweep(sys, spec, s, sweepStart(s, results.workloads));
      results.sweep = { ...sweep, spec, chartFile: CHART };
    }
  } finally {
    await sys.stop();
  }
}

async function measureRawLimits(s: SendBenchSettings, results: SendBenchResults): Promise<void> {
  log('raw limits: Kafka ProducerPerformance, Postgres inserts into a logged table');
  const kafka = kafkaRawProduceLimit(scaled(s, 200_000, 10_000));
  const postgres = await postgresRawInsertLimits({ batchedRows: scaled(s, 200_000, 10_000), batch: 500, singleRows: scaled(s, 5_000, 200) });
  results.raw = { kafka, postgres };
}

async function measureProfiles(s: SendBenchSettings, results: SendBenchResults): Promise<void> {
  const dir = join(REPO_ROOT, '.cache/bench/profiles', new Date().toISOString().replace(/[:.]/g, '-'));
  const spec = workloads(s).find((w) => (s.profileWorkload === 'a-streams' ? w.key === 'a' && w.ingressStreams : w.key === s.profileWorkload))!;
  log(
    `profiled saturated run: ${fmt(spec.groups)} × ${spec.members}${spec.gateways ? `, ${FASTEST_MODE} streams` : ', no gateway'}${spec.ingressStreams ? `, sent on ${spec.ingressStreams} SendMessages streams` : ''}`,
  );
  const sys = await SystemUnderTest.start({ brokerWaitMs: s.brokerWaitMs, profileDir: dir });
  let run: PhaseResult | undefined;
  try {
    run = await runSaturated(sys, spec, s);
  } finally {
    const files = await sys.stop();
    if (run) {
      const window = run.window;
      const summaries = Object.fromEntries(Object.entries(files).map(([service, file]) => [service, summariseProfile(file, window, REPO_ROOT)]));
      results.profile = { spec, run, summaries };
    }
    log(`CPU profiles kept in ${relative(REPO_ROOT, dir)} (open them in Chrome DevTools or VS Code)`);
  }
}

function writeReport(s: SendBenchSettings, results: SendBenchResults): void {
  const dir = outputDir(s);
  mkdirSync(dir, { recursive: true });
  if (results.sweep) {
    const points = results.sweep.steps.map((step) => ({
      offeredPerSec: (step.load as OpenLoopResult).offeredPerSec,
      achievedPerSec: step.load.ackedPerSec,
      p50Ms: step.p50Ms,
      p99Ms: step.p99Ms,
    }));
    const spec = results.sweep.spec;
    const title = `bench:send — send-ack latency against offered load`;
    const subtitles = [
      `${fmt(spec.groups)} groups × ${fmt(spec.members)} members, ${s.gatewayStreams} batched gateway streams, ${s.arrivals} arrivals, ${fmt(s.sweepStepMs / 1000, 1)} s per step`,
      `${results.date}, ${results.machine}${s.scale !== 1 ? `, scale ${s.scale}` : ''}`,
    ];
    writeFileSync(join(dir, CHART), latencyChartSvg(points, title, subtitles));
  }
  const file = s.writeDocs ? join(dir, 'benchmarks.md') : join(dir, 'send-report.md');
  writeReportSection('bench:send', renderSendReport(results), file);
}

async function main() {
  const s = sendBenchSettings();
  log(`scale ${s.scale}, steps ${[...s.steps].join(',')}`);
  const results: SendBenchResults = {
    settings: s,
    date: new Date().toISOString().slice(0, 10),
    machine: machine(),
    cores: cpus().length,
    contract: batchedContractSupport(),
    workloads: [],
  };
  await measureSystem(s, results);
  if (s.steps.has('raw')) await measureRawLimits(s, results);
  if (s.steps.has('profile')) await measureProfiles(s, results);
  writeReport(s, results);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
