import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT, testEnv } from './env';

/**
 * Another, empty Kafka cluster next to the suite's broker (its own cluster id, ports and state),
 * provisioned by the project's own script: what a service meets after a cluster migration, or a
 * second clone that shares the database.
 */
export class SecondBroker {
  private constructor(
    readonly brokers: string,
    private readonly instance: string,
    private readonly port: number,
  ) {}

  private get stateDir(): string {
    return join(REPO_ROOT, '.cache', this.instance);
  }

  static async start(instance = 'kafka-second', port = 19292): Promise<SecondBroker> {
    const broker = new SecondBroker(`127.0.0.1:${port}`, instance, port);
    await broker.up(true);
    return broker;
  }

  /** Stops the broker and starts it again on the same state, as after a rolling restart or a crash of a one-node cluster. */
  async restart(): Promise<void> {
    await this.stop();
    await this.up(false);
  }

  private async up(fresh: boolean): Promise<void> {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      KAFKA_INSTANCE: this.instance,
      KAFKA_PORT: String(this.port),
      KAFKA_CONTROLLER_PORT: String(this.port + 1),
      // The database is the suite's: provision none.
      DATABASE_URL: testEnv().databaseUrl,
    };
    if (fresh) env.KAFKA_FRESH = '1';
    else delete env.KAFKA_FRESH;
    delete env.KAFKA_BROKERS;
    await promisify(execFile)('bash', ['scripts/infra/up.sh'], { cwd: REPO_ROOT, env, timeout: 180_000 });
  }

  /** SIGTERM (a controlled shutdown) and wait for the broker to exit. */
  async stop(): Promise<void> {
    const pid = Number(readFileSync(join(this.stateDir, 'kafka.pid'), 'utf8').trim());
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      return;
    }
    for (let i = 0; i < 600; i++) {
      try {
        process.kill(pid, 0);
      } catch {
        return;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    process.kill(pid, 'SIGKILL');
  }
}
