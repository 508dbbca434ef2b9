import { uniqueId } from '@im/testing';
import { assertGroupsNotShared } from './broker-guard';
import { CpuSampler, CpuUsage } from './cpu-usage';
import { profileClockNow } from './cpu-profile';
import { EventLoopProbe, GcPauses } from './event-loop-probe';
import { SendBatchProbe, SendBatchSummary } from './send-batch-probe';
import { IngressStreams } from './ingress';
import { clientMsgNo, FASTEST_MODE, Gateways, StreamMode } from './gateways';
import { fmt, latencySummary, log, runConcurrently } from './lib';
import { LoadResult, OpenLoopResult, runClosedLoop, runOpenLoop, Task } from './load';
import { SendBenchSettings } from './send-settings';
import { StatementProbe, StatementStats } from './statement-probe';
import { SystemUnderTest } from './system';

/**
 * The measured parts of bench:send. A phase is one load run (closed or open loop) on a set of
 * groups, optionally with gateways attached, while the fanout's event loop is probed; it ends
 * when the deliveries it caused have arrived (or stopped arriving).
 */

export interface Group {
  channel: { channelId: string; channelType: number };
  members: string[];
}

export interface PhaseResult {
  load: LoadResult | OpenLoopResult;
  p50Ms: number;
  p99Ms: number;
  /** Undefined when no gateway was attached; `streamsEnded` counts since the gateways opened. */
  delivery?: { delivered: number; expected: number; perSec: number; streamsEnded: number };
  stallMaxMs: number | undefined;
  /** The fanout's garbage-collector pauses by kind over the same span as `stallMaxMs`. */
  gc?: Record<string, GcPauses>;
  /** The fanout's send batches during the load (sizes and stage times). */
  batches?: SendBatchSummary;
  cpu?: CpuUsage;
  /** Postgres's time per statement during a closed-loop phase (pg_stat_statements). */
  statements?: StatementStats;
  /** When the load ran, on the CPU profiles' clock. */
  window: { fromUs: number; toUs: number };
}

export interface Target {
  sys: SystemUnderTest;
  groups: Group[];
  gateways?: Gateways;
  /** When set, sends go over these SendMessages streams instead of unary SendMessage calls. */
  ingress?: IngressStreams;
}

const PAYLOAD = Buffer.alloc(200, 'x');
let phases = 0;

/** Creates `count` group channels of `members` subscribers each. */
export async function createGroups(sys: SystemUnderTest, count: number, members: number): Promise<Group[]> {
  const groups: Group[] = Array.from({ length: count }, () => {
    const channelId = uniqueId('bench');
    return { channel: { channelId, channelType: 2 }, members: Array.from({ length: members }, (_, m) => `${channelId}-u${m}`) };
  });
  await runConcurrently(groups.length, 16, async (i) => {
    const g = groups[i];
    await sys.channels.createChannel({ channel: g.channel });
    for (let k = 0; k < g.members.length; k += 10_000) await sys.subscriptions.addSubscribers({ channel: g.channel, uids: g.members.slice(k, k + 10_000) });
  });
  return groups;
}

/** Send i goes to group i mod n, from one of its members in turn. */
const sendTask =
  (target: Target, phase: string): Task =>
  async (i) => {
    const g = target.groups[i % target.groups.length];
    const fromUid = g.members[Math.floor(i / target.groups.length) % g.members.length];
    const message = { fromUid, channel: g.channel, payload: PAYLOAD, clientMsgNo: clientMsgNo(phase, i) };
    await (target.ingress ? target.ingress.send(message) : target.sys.messages.sendMessage(message));
  };

/** Every member is attached once, so each acknowledged send owes one delivery per member. */
async function awaitDelivery(
  gateways: Gateways,
  phase: string,
  expected: number,
  startedAt: number,
  settings: SendBenchSettings,
): Promise<PhaseResult['delivery']> {
  const arrived = await gateways.awaitDeliveries(phase, expected, settings.deliveryQuietMs);
  const seconds = (arrived.lastAt - startedAt) / 1000;
  return { delivered: arrived.deliveries, expected, perSec: seconds > 0 ? arrived.deliveries / seconds : 0, streamsEnded: gateways.ended.length };
}

export async function runPhase(
  target: Target,
  settings: SendBenchSettings,
  load: (task: Task) => Promise<LoadResult>,
  opts: { sampleCpu?: boolean } = {},
): Promise<PhaseResult> {
  const phase = `p${++phases}`;
  await assertGroupsNotShared();
  const probe = new EventLoopProbe(target.sys.fanout.httpPort);
  await probe.start();
  const batchProbe = new SendBatchProbe(target.sys.fanout.httpPort);
  await batchProbe.start();
  // Reset before the CPU sampler starts: the probe's VACUUM is not part of the phase.
  const statementProbe = opts.sampleCpu ? new StatementProbe() : undefined;
  await statementProbe?.start();
  const cpu = opts.sampleCpu ? new CpuSampler(target.sys.cpuTargets()) : undefined;
  cpu?.start();
  const t0 = performance.now();
  const fromUs = profileClockNow();
  const result = await load(sendTask(target, phase));
  const window = { fromUs, toUs: profileClockNow() };
  const cpuUsage = cpu?.stop();
  const statements = await statementProbe?.stop();
  const batches = await batchProbe.stop();
  const delivery = target.gateways && (await awaitDelivery(target.gateways, phase, result.acked * (target.groups[0]?.members.length ?? 0), t0, settings));
  const stalls = await probe.stop();
  await assertGroupsNotShared();
  const latency = latencySummary(result.latenciesMs);
  if (result.errors > 0) log(`${fmt(result.errors)} sends failed: ${result.errorReasons.join('; ')}`);
  return {
    load: result,
    p50Ms: latency.p50,
    p99Ms: latency.p99,
    delivery,
    stallMaxMs: stalls.maxMs,
    gc: stalls.gc,
    batches,
    cpu: cpuUsage,
    statements,
    window,
  };
}

/** Closed loop at the workload's concurrency: gateways sending on SendMessages streams carry many users' sends at once. */
export const closedLoop = (settings: SendBenchSettings, spec?: WorkloadSpec) => (task: Task) =>
  runClosedLoop({ concurrency: sendersOf(settings, spec), durationMs: settings.closedLoopMs, task });

export const sendersOf = (settings: SendBenchSettings, spec?: WorkloadSpec) => (spec?.ingressStreams ? settings.ingressSenders : settings.senders);

export const openLoop = (settings: SendBenchSettings, ratePerSec: number, durationMs: number) => (task: Task) =>
  runOpenLoop({
    ratePerSec,
    durationMs,
    // Bounded in count as well as time, with room for Poisson bursts.
    maxCount: Math.ceil((ratePerSec * durationMs) / 1000) * 2 + 10,
    maxInFlight: settings.maxInFlight,
    arrivals: settings.arrivals,
    task,
  });

export interface WorkloadSpec {
  key: 'a' | 'b' | 'c';
  groups: number;
  members: number;
  /** Whether gateways are attached (then both stream modes are run). */
  gateways: boolean;
  /** Sends over this many SendMessages streams instead of unary calls (the streaming-ingress variant). */
  ingressStreams?: number;
}

export interface ModeResult {
  spec: WorkloadSpec;
  mode: StreamMode | undefined;
  /** How the server actually delivered on these streams. */
  frames?: Gateways['frames'];
  streamsEnded: string[];
  closed: PhaseResult;
  open?: PhaseResult;
}

/** Closed loop for the maximum rate, then open loop at half of it; per stream mode when gateways are attached. */
export async function runWorkload(sys: SystemUnderTest, spec: WorkloadSpec, settings: SendBenchSettings): Promise<ModeResult[]> {
  log(`workload ${spec.key}: creating ${fmt(spec.groups)} × ${fmt(spec.members)} members`);
  const groups = await createGroups(sys, spec.groups, spec.members);
  const results: ModeResult[] = [];
  for (const mode of spec.gateways ? (['per-uid', 'batched', 'audiences'] as const) : [undefined]) {
    const gateways =
      mode &&
      (await Gateways.open(
        sys.fanout.grpcAddress,
        groups.flatMap((g) => g.members),
        { count: settings.gatewayStreams, mode },
      ));
    const ingress = spec.ingressStreams ? new IngressStreams(sys.fanout.grpcAddress, spec.ingressStreams) : undefined;
    const target = { sys, groups, gateways, ingress };
    try {
      log(`workload ${spec.key}${mode ? ` (${mode} streams)` : ''}: closed loop, ${sendersOf(settings, spec)} senders`);
      const closed = await runPhase(target, settings, closedLoop(settings, spec), { sampleCpu: true });
      const half = closed.load.ackedPerSec / 2;
      log(`  ${fmt(closed.load.ackedPerSec)} msg/s; open loop at ${fmt(half, 1)} msg/s`);
      const open = half > 0 ? await runPhase(target, settings, openLoop(settings, half, settings.openLoopMs)) : undefined;
      results.push({ spec, mode, frames: gateways ? { ...gateways.frames } : undefined, streamsEnded: gateways ? [...gateways.ended] : [], closed, open });
    } finally {
      ingress?.close();
      await gateways?.close();
    }
  }
  return results;
}

export interface SweepResult {
  steps: PhaseResult[];
  stopReason: string;
  frames: Gateways['frames'];
  streamsEnded: string[];
}

/** Why a sweep step counts as saturated, or undefined while the system keeps up. */
function saturation(step: PhaseResult, firstP99Ms: number): string | undefined {
  const load = step.load as OpenLoopResult;
  if (load.errors > 0) return `sends failed at ${fmt(load.offeredPerSec)} msg/s offered`;
  if (load.capHits > 0) return `the in-flight cap was reached at ${fmt(load.offeredPerSec)} msg/s offered`;
  // Against the arrivals actually drawn, so that a Poisson step with few arrivals is not taken for saturation.
  if (load.ackedPerSec < 0.9 * load.issuedPerSec) return `achieved fell below 90 % of offered at ${fmt(load.offeredPerSec)} msg/s`;
  if (step.p99Ms > Math.max(1000, 10 * firstP99Ms)) return `p99 exceeded max(1 s, 10 × the first step's p99) at ${fmt(load.offeredPerSec)} msg/s`;
  return undefined;
}

/** Open loop at rising offered rates (× 1.5 per step) on FASTEST_MODE streams, until saturation. */
export async function runSweep(sys: SystemUnderTest, spec: WorkloadSpec, settings: SendBenchSettings, startPerSec: number): Promise<SweepResult> {
  log(`sweep: creating ${fmt(spec.groups)} × ${fmt(spec.members)} members`);
  const groups = await createGroups(sys, spec.groups, spec.members);
  const gateways = await Gateways.open(
    sys.fanout.grpcAddress,
    groups.flatMap((g) => g.members),
    { count: settings.gatewayStreams, mode: FASTEST_MODE },
  );
  const steps: PhaseResult[] = [];
  let stopReason = 'the step limit was reached';
  try {
    log(`sweep: warm-up at ${fmt(startPerSec, 1)} msg/s (not reported)`);
    await runPhase({ sys, groups, gateways }, settings, openLoop(settings, startPerSec, settings.sweepStepMs));
    for (let rate = startPerSec, n = 0; n < 15; rate *= 1.5, n++) {
      log(`sweep: open loop at ${fmt(rate, 1)} msg/s`);
      const step = await runPhase({ sys, groups, gateways }, settings, openLoop(settings, rate, settings.sweepStepMs));
      steps.push(step);
      const reason = saturation(step, steps[0].p99Ms);
      if (reason) {
        stopReason = reason;
        break;
      }
    }
  } finally {
    await gateways.close();
  }
  return { steps, stopReason, frames: { ...gateways.frames }, streamsEnded: [...gateways.ended] };
}

/** A saturated closed-loop run (on FASTEST_MODE streams when the workload has gateways) against the given (profiled) services. */
export async function runSaturated(sys: SystemUnderTest, spec: WorkloadSpec, settings: SendBenchSettings): Promise<PhaseResult> {
  const groups = await createGroups(sys, spec.groups, spec.members);
  const members = spec.gateways ? groups.flatMap((g) => g.members) : [];
  const gateways = await Gateways.open(sys.fanout.grpcAddress, members, { count: spec.gateways ? settings.gatewayStreams : 0, mode: FASTEST_MODE });
  const ingress = spec.ingressStreams ? new IngressStreams(sys.fanout.grpcAddress, spec.ingressStreams) : undefined;
  try {
    return await runPhase({ sys, groups, gateways, ingress }, settings, closedLoop(settings, spec), { sampleCpu: true });
  } finally {
    ingress?.close();
    await gateways.close();
  }
}
