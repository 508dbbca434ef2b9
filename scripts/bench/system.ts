import { grpcClient, GrpcTestClient, ServiceProcess, testEnv } from '@im/testing';
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { waitUntilGroupsFree } from './broker-guard';
import { childrenOf, CpuTarget, listeningPid } from './cpu-usage';

/** The services on the send and delivery path, started as production starts them, and their clients. */

const SERVICES = ['channels', 'subscriptions', 'fanout'] as const;
type ServiceName = (typeof SERVICES)[number];

/**
 * Settings passed to every service, from BENCH_SERVICE_ENV (`NAME=value,NAME=value`), to measure
 * another configuration (e.g. SEND_BATCHES_IN_FLIGHT=2) without editing the defaults.
 */
function serviceEnv(raw = process.env.BENCH_SERVICE_ENV ?? ''): Record<string, string> {
  const env: Record<string, string> = {};
  for (const pair of raw.split(',').filter((p) => p.trim() !== '')) {
    const at = pair.indexOf('=');
    if (at <= 0) throw new Error(`BENCH_SERVICE_ENV: expected NAME=value, got "${pair}"`);
    env[pair.slice(0, at).trim()] = pair.slice(at + 1).trim();
  }
  return env;
}

export class SystemUnderTest {
  private constructor(
    private readonly processes: Record<ServiceName, ServiceProcess>,
    readonly channels: GrpcTestClient,
    readonly subscriptions: GrpcTestClient,
    readonly messages: GrpcTestClient,
    private readonly profileDir: string | undefined,
  ) {}

  /**
   * Starts once no other system consumes in the services' groups (waiting up to `brokerWaitMs`). With
   * `profileDir`, each service writes a V8 CPU profile to `<profileDir>/<service>/` when it stops.
   */
  static async start(opts: { brokerWaitMs: number; profileDir?: string }): Promise<SystemUnderTest> {
    await waitUntilGroupsFree(opts.brokerWaitMs);
    const started = await ServiceProcess.together(
      SERVICES.map((name) => {
        const dir = opts.profileDir && join(opts.profileDir, name);
        if (dir) mkdirSync(dir, { recursive: true });
        return ServiceProcess.start(name, serviceEnv(), { nodeArgs: dir ? ['--cpu-prof', `--cpu-prof-dir=${dir}`] : [] });
      }),
    );
    const processes = Object.fromEntries(SERVICES.map((name, i) => [name, started[i]])) as Record<ServiceName, ServiceProcess>;
    return new SystemUnderTest(
      processes,
      grpcClient('ChannelService', processes.channels.grpcAddress),
      grpcClient('SubscriptionService', processes.subscriptions.grpcAddress),
      grpcClient('MessageService', processes.fanout.grpcAddress),
      opts.profileDir,
    );
  }

  get fanout(): ServiceProcess {
    return this.processes.fanout;
  }

  /** Graceful stop (SIGTERM), so that profiles get written; returns each service's profile file, if any. */
  async stop(): Promise<Partial<Record<ServiceName, string>>> {
    [this.channels, this.subscriptions, this.messages].forEach((c) => c.close());
    await Promise.all(Object.values(this.processes).map((p) => p.stop()));
    const profiles: Partial<Record<ServiceName, string>> = {};
    for (const name of SERVICES) {
      const dir = this.profileDir && join(this.profileDir, name);
      // CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile: thread 0 is the main thread.
      const file = dir ? readdirSync(dir).find((f) => f.endsWith('.cpuprofile') && f.split('.')[4] === '0') : undefined;
      if (dir && file) profiles[name] = join(dir, file);
    }
    return profiles;
  }

  /** Who may use CPU during a run: the services, the broker, Postgres (postmaster and backends), this bench. */
  cpuTargets(): CpuTarget[] {
    const env = testEnv();
    const brokerPort = Number(env.kafkaBrokers.split(',')[0].split(':').pop());
    const dbPort = Number(new URL(env.databaseUrl).port || 5432);
    const broker = listeningPid(brokerPort);
    const postmaster = listeningPid(dbPort);
    return [
      ...SERVICES.map((name) => ({ label: `${name} service (node)`, pids: () => [this.processes[name].pid ?? -1] })),
      { label: `Kafka broker (java)${broker ? '' : ', not found on this machine'}`, pids: () => (broker ? [broker] : []) },
      {
        label: `Postgres (all its processes)${postmaster ? '' : ', not found on this machine'}`,
        pids: () => (postmaster ? [postmaster, ...childrenOf(postmaster)] : []),
      },
      { label: 'bench process (senders and gateways)', pids: () => [process.pid] },
    ];
  }
}
