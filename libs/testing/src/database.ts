import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { REPO_ROOT, testEnv } from './env';

/** A direct connection for assertions on what was (or was not) stored. */
export async function testDb(): Promise<Client & { rows<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]> }> {
  const client = new Client({ connectionString: testEnv().databaseUrl });
  await client.connect();
  return Object.assign(client, {
    rows: async <T>(sql: string, params: unknown[] = []) => (await client.query(sql, params)).rows as T[],
  });
}

/**
 * A migrated database of its own next to the suite's (dropped and created anew), for a test whose
 * state must not meet any other test's. Resolves to its URL.
 */
export async function separateTestDatabase(suffix: string): Promise<string> {
  const url = new URL(testEnv().databaseUrl);
  const name = `${url.pathname.slice(1)}_${suffix}`;
  const db = await testDb();
  try {
    await db.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await db.query(`CREATE DATABASE "${name}"`);
  } finally {
    await db.end();
  }
  url.pathname = `/${name}`;
  await migrateDatabase(url.toString());
  return url.toString();
}

/** Runs every service's migrations on the database at `url`, as the migration Job does. */
export async function migrateDatabase(url: string): Promise<void> {
  const migrate = join(REPO_ROOT, 'dist/out-tsc/scripts/migrate.js');
  await promisify(execFile)(process.execPath, [migrate], { cwd: REPO_ROOT, env: { PATH: process.env.PATH, DATABASE_URL: url }, timeout: 120_000 });
}
