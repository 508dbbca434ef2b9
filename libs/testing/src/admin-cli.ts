import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT, testEnv } from './env';

/** The compiled admin CLI, as operators run it (`npm run admin -- …`). */
export const ADMIN_CLI = join(REPO_ROOT, 'dist/out-tsc/scripts/admin.js');

/** The environment the admin CLI gets: the test broker and database, nothing else. */
export const adminCliEnv = () => ({ PATH: process.env.PATH, KAFKA_BROKERS: testEnv().kafkaBrokers, DATABASE_URL: testEnv().databaseUrl });

/** Runs the admin CLI to completion; a non-zero exit is returned, not thrown. */
export async function adminCli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [ADMIN_CLI, ...args], { env: adminCliEnv(), cwd: REPO_ROOT, timeout: 120_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}
