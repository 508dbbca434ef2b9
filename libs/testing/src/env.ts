import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const REPO_ROOT = resolve(__dirname, '../../..');

export interface TestEnv {
  kafkaBrokers: string;
  databaseUrl: string;
}

/**
 * Where the real broker and database are: the environment first, else what the project's
 * provisioning script (`npm run infra:up`) wrote. Tests never fall back to fakes.
 */
export function testEnv(): TestEnv {
  const fromFile: Record<string, string> = {};
  const file = join(REPO_ROOT, '.cache/infra/env');
  if (existsSync(file)) {
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const m = /^(?:export\s+)?([A-Z_]+)=["']?(.*?)["']?$/.exec(line.trim());
      if (m) fromFile[m[1]] = m[2];
    }
  }
  const kafkaBrokers = process.env.KAFKA_BROKERS ?? fromFile.KAFKA_BROKERS;
  const databaseUrl = process.env.TEST_DATABASE_URL ?? process.env.DATABASE_URL ?? fromFile.DATABASE_URL;
  if (!kafkaBrokers || !databaseUrl) {
    throw new Error('no Kafka/Postgres for tests: run `npm test` (or `npm run infra:up`), or set KAFKA_BROKERS and DATABASE_URL');
  }
  return { kafkaBrokers, databaseUrl };
}

export const uniqueId = (prefix: string) => `${prefix}_${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;

export async function eventually<T>(probe: () => Promise<T | undefined | false>, what: string, timeoutMs = 20_000, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${lastError ? `: ${(lastError as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
