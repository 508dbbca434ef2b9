import { flag, positive } from './env-settings';

/**
 * The knobs of bench:send, all from the environment so `npm run bench:send` passes them through:
 *
 *   BENCH_SCALE=1            shrinks every workload (groups or members, durations, raw-limit sizes);
 *                            e.g. 0.05 for a smoke run on a busy machine
 *   BENCH_STEPS=a,b,c,sweep,raw,profile   the parts to run (default: all)
 *   BENCH_PROFILE=1|0        CPU-profile the services in an extra saturated 100 × 100 run (default 1 at full scale)
 *   BENCH_PROFILE_WORKLOAD=b the workload of that profiled run: a (2-member groups, no gateway), a-streams (the
 *                            same, sent on BENCH_INGRESS_STREAMS SendMessages streams, default 4), b (default)
 *                            or c (1 group × 10,000 members); b and c on audience streams (FASTEST_MODE)
 *   BENCH_ARRIVALS=poisson|even           open-loop arrivals (default poisson)
 *   BENCH_MAX_IN_FLIGHT=512  open-loop cap on outstanding sends
 *   BENCH_SENDERS=64         closed-loop concurrent senders
 *   BENCH_INGRESS_SENDERS=256  closed-loop concurrent senders of the SendMessages variant: a gateway's
 *                            streams carry the sends of all its users at once
 *   BENCH_BROKER_WAIT_S=600  how long to wait for other consumers to leave the services' groups on the broker
 *   BENCH_SWEEP_START=...    first offered rate of the sweep (default a fifth of the 100 × 100 batched closed-loop rate)
 *   BENCH_INGRESS_STREAMS=4  when above 0, workload a) runs a second time with its sends on this many
 *                            SendMessages streams (the gateways' batched ingress) instead of unary calls
 *                            (default 4 at full scale, 0 otherwise)
 *   BENCH_SERVICE_ENV=...    settings for the services, NAME=value,NAME=value (e.g. SEND_BATCHES_IN_FLIGHT=2)
 *   BENCH_WRITE_DOCS=1|0     write docs/benchmarks.md and docs/bench-send-latency.svg (default 1 at full
 *                            scale); otherwise the report goes to .cache/bench/
 */

export const STEPS = ['a', 'b', 'c', 'sweep', 'raw', 'profile'] as const;
export type Step = (typeof STEPS)[number];

export interface SendBenchSettings {
  scale: number;
  steps: Set<Step>;
  profile: boolean;
  profileWorkload: 'a' | 'a-streams' | 'b' | 'c';
  arrivals: 'poisson' | 'even';
  maxInFlight: number;
  senders: number;
  ingressSenders: number;
  sweepStartPerSec: number | undefined;
  writeDocs: boolean;
  brokerWaitMs: number;
  /** SendMessages streams for the streaming-ingress variant of workload a); 0 = not run. */
  ingressStreams: number;
  /** Gateway streams the members are spread over, as connection servers would hold them. */
  gatewayStreams: number;
  closedLoopMs: number;
  openLoopMs: number;
  sweepStepMs: number;
  /** How long deliveries may make no progress before a phase stops waiting for the rest. */
  deliveryQuietMs: number;
}

export function sendBenchSettings(env: NodeJS.ProcessEnv = process.env): SendBenchSettings {
  const scale = positive('BENCH_SCALE', env.BENCH_SCALE, 1);
  const full = scale >= 1;
  const steps = new Set((env.BENCH_STEPS ? env.BENCH_STEPS.split(',') : STEPS).map((s) => s.trim()));
  for (const s of steps) if (!STEPS.includes(s as Step)) throw new Error(`BENCH_STEPS: unknown step "${s}" (known: ${STEPS.join(', ')})`);
  const arrivals = env.BENCH_ARRIVALS ?? 'poisson';
  if (arrivals !== 'poisson' && arrivals !== 'even') throw new Error('BENCH_ARRIVALS must be poisson or even');
  const profile = flag(env.BENCH_PROFILE, full);
  const profileWorkload = (env.BENCH_PROFILE_WORKLOAD ?? 'b') as SendBenchSettings['profileWorkload'];
  if (!['a', 'a-streams', 'b', 'c'].includes(profileWorkload)) throw new Error('BENCH_PROFILE_WORKLOAD must be a, a-streams, b or c');
  if (!profile) steps.delete('profile');
  // Durations shrink with the scale, down to floors that still give a handful of samples.
  const duration = (fullMs: number, floorMs: number) => Math.max(floorMs, Math.round(fullMs * scale));
  return {
    scale,
    steps: steps as Set<Step>,
    profile,
    profileWorkload,
    arrivals,
    maxInFlight: positive('BENCH_MAX_IN_FLIGHT', env.BENCH_MAX_IN_FLIGHT, 512),
    senders: positive('BENCH_SENDERS', env.BENCH_SENDERS, 64),
    ingressSenders: positive('BENCH_INGRESS_SENDERS', env.BENCH_INGRESS_SENDERS, 256),
    sweepStartPerSec: env.BENCH_SWEEP_START ? positive('BENCH_SWEEP_START', env.BENCH_SWEEP_START, 1) : undefined,
    writeDocs: flag(env.BENCH_WRITE_DOCS, full),
    brokerWaitMs: positive('BENCH_BROKER_WAIT_S', env.BENCH_BROKER_WAIT_S, 600) * 1000,
    ingressStreams: env.BENCH_INGRESS_STREAMS
      ? Math.round(positive('BENCH_INGRESS_STREAMS', env.BENCH_INGRESS_STREAMS, 0))
      : full || (profile && profileWorkload === 'a-streams')
        ? 4
        : 0,
    gatewayStreams: 10,
    closedLoopMs: duration(15_000, 2_000),
    openLoopMs: duration(10_000, 2_000),
    sweepStepMs: duration(5_000, 2_000),
    deliveryQuietMs: 10_000,
  };
}

/** A workload size after scaling, never below `min`. */
export const scaled = (settings: SendBenchSettings, full: number, min = 1) => Math.max(min, Math.round(full * settings.scale));
