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
    private readonly stateDir: string,
  ) {}

  static async start(instance = 'kafka-second', port = 19292): Promise<SecondBroker> {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      KAFKA_INSTANCE: instance,
      KAFKA_PORT: String(port),
      KAFKA_CONTROLLER_PORT: String(port + 1),
      KAFKA_FRESH: '1',
      // The database is the suite's: provision none.
      DATABASE_URL: testEnv().databaseUrl,
    };
    delete env.KAFKA_BROKERS;
    await promisify(execFile)('bash', ['scripts/infra/up.sh'], { cwd: REPO_ROOT, env, timeout: 180_000 });
    return new SecondBroker(`127.0.0.1:${port}`, join(REPO_ROOT, '.cache', instance));
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
