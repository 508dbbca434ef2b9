import { Client } from 'pg';
import { testEnv } from './env';

/** A direct connection for assertions on what was (or was not) stored. */
export async function testDb(): Promise<Client & { rows<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]> }> {
  const client = new Client({ connectionString: testEnv().databaseUrl });
  await client.connect();
  return Object.assign(client, {
    rows: async <T>(sql: string, params: unknown[] = []) => (await client.query(sql, params)).rows as T[],
  });
}
