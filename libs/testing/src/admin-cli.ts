import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT, testEnv } from './env';

/** The compiled admin CLI, as operators run it (`npm run admin -- …`). */
export const ADMIN_CLI = join(REPO_ROOT, 'dist/out-tsc/scripts/admin.js');

/** The environment the admin CLI gets: the test broker and database, nothing else. */
export const adminCliEnv = () => ({ PATH: process.env.PATH, KAFKA_BROKERS: testEnv().kafkaBrokers, DATABASE_URL: testEnv().databaseUrl });

/** Runs the admin CLI to completion; a non-zero exit is returned, not thrown. */
export const adminCli = (...args: string[]) => adminCliWith(adminCliEnv(), ...args);

/** The admin CLI against another broker or database than the suite's. */
export async function adminCliWith(
  env: { KAFKA_BROKERS: string; DATABASE_URL: string },
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [ADMIN_CLI, ...args], {
      env: { PATH: process.env.PATH, ...env },
      cwd: REPO_ROOT,
      timeout: 120_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}
