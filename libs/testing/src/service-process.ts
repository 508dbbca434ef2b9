import { ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { eventually, REPO_ROOT, testEnv } from './env';

/**
 * Ports for the services a test starts, taken below the kernel's ephemeral range (32768–60999 on
 * Linux): a port the kernel hands out for `listen(0)` can be taken by any outgoing connection (a
 * Kafka or Postgres client) before the service binds it. Each port is probed and handed out once
 * per test process.
 */
const SERVICE_PORTS = { first: 20_000, last: 32_000 };
const handedOut = new Set<number>();
let nextPort = SERVICE_PORTS.first + ((process.pid * 97) % (SERVICE_PORTS.last - SERVICE_PORTS.first));

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

export async function freePort(): Promise<number> {
  for (let tries = 0; tries < SERVICE_PORTS.last - SERVICE_PORTS.first; tries++) {
    const port = nextPort;
    nextPort = port >= SERVICE_PORTS.last ? SERVICE_PORTS.first : port + 1;
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    if (await bindable(port)) return port;
  }
  throw new Error(`no free port between ${SERVICE_PORTS.first} and ${SERVICE_PORTS.last}`);
}

/**
 * Every child still running, killed when a plain node process (a benchmark) exits. Under jest the
 * sandbox never sees 'exit'; there the preload below ends each child when its stdin closes.
 */
const EXIT_WITH_PARENT = join(REPO_ROOT, 'libs/testing/src/exit-with-parent.cjs');
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/**
 * A service started the way production starts it: the compiled entry point in its own process,
 * on real Kafka and Postgres, on free ports. Can be stopped gracefully or killed outright.
 */
export class ServiceProcess {
  private output: string[] = [];
  readonly exited: Promise<number | null>;

  private constructor(
    readonly name: string,
    readonly grpcPort: number,
    readonly httpPort: number,
    private readonly child: ChildProcess,
  ) {
    child.stdout?.on('data', (d) => this.output.push(String(d)));
    child.stderr?.on('data', (d) => this.output.push(String(d)));
    running.add(child);
    // A child never keeps the test runner alive (a failed test that never stops its services must
    // not hang the run); when the runner ends, the child's stdin closes and the child ends too.
    child.unref();
    for (const stream of [child.stdin, child.stdout, child.stderr]) (stream as unknown as { unref?: () => void } | null)?.unref?.();
    this.exited = new Promise((resolve) =>
      child.on('exit', (code, signal) => {
        running.delete(child);
        resolve(code ?? (signal ? -1 : null));
      }),
    );
  }

  /**
   * `opts.nodeArgs` go to node before the entry point, for flags NODE_OPTIONS refuses (e.g.
   * `--cpu-prof`, whose profile is written when the process exits, so stop it gracefully).
   */
  static async start(name: string, env: Record<string, string> = {}, opts: { waitReady?: boolean; nodeArgs?: string[] } = {}): Promise<ServiceProcess> {
    const entry = join(REPO_ROOT, 'dist/out-tsc/apps', name, 'src/main.js');
    if (!existsSync(entry)) throw new Error(`${entry} is missing: run \`npm run build\` first`);
    const { kafkaBrokers, databaseUrl } = testEnv();
    const grpcPort = Number(env.GRPC_PORT ?? (await freePort()));
    const httpPort = Number(env.HTTP_PORT ?? (await freePort()));
    const child = spawn(process.execPath, ['--require', EXIT_WITH_PARENT, ...(opts.nodeArgs ?? []), entry], {
      cwd: REPO_ROOT,
      env: {
        PATH: process.env.PATH,
        KAFKA_BROKERS: kafkaBrokers,
        DATABASE_URL: databaseUrl,
        GRPC_HOST: '127.0.0.1',
        HTTP_HOST: '127.0.0.1',
        GRPC_PORT: String(grpcPort),
        HTTP_PORT: String(httpPort),
        LOG_LEVEL: 'warn',
        ...env,
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const service = new ServiceProcess(name, grpcPort, httpPort, child);
    if (opts.waitReady !== false) {
      try {
        await service.waitReady();
      } catch (error) {
        await service.kill(); // a process that never became ready must not linger either
        throw error;
      }
    }
    return service;
  }

  /**
   * Services started side by side: when one fails to start, the others are stopped before the
   * error is thrown (a test that never got its services cannot stop them).
   */
  static async together<T extends ServiceProcess[]>(starts: { [K in keyof T]: Promise<T[K]> }): Promise<T> {
    const settled = await Promise.allSettled(starts);
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (!failed) return settled.map((s) => (s as PromiseFulfilledResult<ServiceProcess>).value) as T;
    await Promise.all(settled.map((s) => (s.status === 'fulfilled' ? s.value.kill() : undefined)));
    throw failed.reason;
  }

  get logs(): string {
    return this.output.join('');
  }

  /** The operating-system process id, e.g. to read its CPU time from /proc. */
  get pid(): number | undefined {
    return this.child.pid;
  }

  get grpcAddress(): string {
    return `127.0.0.1:${this.grpcPort}`;
  }

  async waitReady(timeoutMs = 60_000): Promise<void> {
    let exitCode: number | null | undefined;
    void this.exited.then((c) => (exitCode = c));
    await eventually(
      async () => {
        if (exitCode !== undefined) throw new Error(`${this.name} exited with ${exitCode}:\n${this.logs}`);
        const res = await fetch(`http://127.0.0.1:${this.httpPort}/health/ready`);
        return res.status === 200;
      },
      `${this.name} to become ready`,
      timeoutMs,
      100,
    ).catch((error) => {
      throw new Error(`${(error as Error).message}\n--- ${this.name} output ---\n${this.logs}`);
    });
  }

  /**
   * Waits until every consumer group of the service has applied all its topics hold, as its own
   * gauge `im_kafka_consumer_lag` reports. Topics are shared by every suite on a broker, so a service
   * started after others may first replay their records; a test that reads through the read barrier
   * must not race that replay.
   */
  async waitCaughtUp(timeoutMs = 120_000): Promise<void> {
    await eventually(
      async () => {
        const metrics = await (await fetch(`http://127.0.0.1:${this.httpPort}/metrics`)).text();
        const lags = metrics
          .split('\n')
          .filter((line) => line.startsWith('im_kafka_consumer_lag{'))
          .map((line) => Number(line.slice(line.lastIndexOf(' ') + 1)));
        // No series at all means the reader failed this scrape (see the gauge), not that nothing is left.
        return lags.length > 0 && lags.every((records) => records === 0);
      },
      `${this.name} to apply the records its topics hold`,
      timeoutMs,
      250,
    ).catch((error) => {
      throw new Error(`${(error as Error).message}\n--- ${this.name} output ---\n${this.logs}`);
    });
  }

  /** SIGTERM: the graceful path (drain, commit, leave the group). */
  async stop(): Promise<number | null> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return this.exited;
    this.child.kill('SIGTERM');
    return whileAlive(this.exited);
  }

  /** SIGKILL: the process vanishes mid-flight, as in a crash. */
  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await whileAlive(this.exited);
  }
}

/**
 * The child and its pipes are unref'd, so a plain node process (a benchmark) waiting only for a
 * child to exit would end at once, mid-await: a timer keeps it alive until the wait is over.
 */
function whileAlive<T>(wait: Promise<T>): Promise<T> {
  const timer = setInterval(() => undefined, 60_000);
  return wait.finally(() => clearInterval(timer));
}
