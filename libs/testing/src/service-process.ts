import { ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { eventually, REPO_ROOT, testEnv } from './env';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/**
 * A service started the way production starts it: the compiled entry point in its own process,
 * on real Kafka and Postgres, on free ports. Can be stopped gracefully or killed outright.
 */
/** Every child still running; killed when the test process exits, so none outlives a run. */
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

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
    const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), entry], {
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
      stdio: ['ignore', 'pipe', 'pipe'],
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

  /** SIGTERM: the graceful path (drain, commit, leave the group). */
  async stop(): Promise<number | null> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return this.exited;
    this.child.kill('SIGTERM');
    return this.exited;
  }

  /** SIGKILL: the process vanishes mid-flight, as in a crash. */
  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.exited;
  }
}
