import { DataSource, EntityManager, MigrationInterface } from 'typeorm';
import { CoalescingSocket } from './pipeline';

export interface ServiceDataSourceOptions {
  url: string;
  /** Each service owns one schema; every table it creates lives there. */
  schema: string;
  migrations: (new () => MigrationInterface)[];
  poolSize?: number;
  applicationName?: string;
}

export function createServiceDataSource(opts: ServiceDataSourceOptions): DataSource {
  return new DataSource({
    type: 'postgres',
    url: opts.url,
    schema: opts.schema,
    synchronize: false,
    migrationsRun: false,
    migrations: opts.migrations,
    migrationsTableName: 'migrations',
    entities: [],
    extra: { max: opts.poolSize ?? 10, application_name: opts.applicationName ?? opts.schema, stream: () => new CoalescingSocket() },
  });
}

/** Creates the schema if needed and applies pending migrations, each in its own transaction. */
export async function migrate(dataSource: DataSource, schema: string): Promise<string[]> {
  if (!dataSource.isInitialized) await dataSource.initialize();
  await dataSource.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`);
  const applied = await dataSource.runMigrations({ transaction: 'each' });
  return applied.map((m) => m.name);
}

export const quoteIdent = (name: string) => {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`unsafe SQL identifier: ${name}`);
  return `"${name}"`;
};

const PG_UNIQUE_VIOLATION = '23505';
const PG_SERIALIZATION_FAILURE = '40001';
const PG_DEADLOCK = '40P01';

export const isUniqueViolation = (error: unknown, constraint?: string) => {
  const e = error as { code?: string; driverError?: { code?: string; constraint?: string }; constraint?: string };
  const code = e?.code ?? e?.driverError?.code;
  const name = e?.constraint ?? e?.driverError?.constraint;
  return code === PG_UNIQUE_VIOLATION && (constraint === undefined || name === constraint);
};

/** A deadlock or serialization failure: the transaction may simply be run again. */
export const isRetryable = (error: unknown) => {
  const e = error as { code?: string; driverError?: { code?: string } };
  const code = e?.code ?? e?.driverError?.code;
  return code === PG_SERIALIZATION_FAILURE || code === PG_DEADLOCK;
};

/**
 * Runs `work` in one transaction. Serialization failures and deadlocks are retried; so is a
 * concurrency conflict the caller flags with `retryOn` (e.g. two writers racing for the same stream
 * version), because the next attempt reads the winner's state and decides again.
 */
export async function inTransaction<T>(
  dataSource: DataSource,
  work: (em: EntityManager) => Promise<T>,
  opts: { retries?: number; retryOn?: (error: unknown) => boolean } = {},
): Promise<T> {
  const retries = opts.retries ?? 5;
  for (let attempt = 0; ; attempt++) {
    try {
      return await dataSource.transaction((em) => work(em));
    } catch (error) {
      const retry = isRetryable(error) || (opts.retryOn?.(error) ?? false);
      if (!retry || attempt >= retries) throw error;
      await new Promise((r) => setTimeout(r, Math.min(50, 2 ** attempt) + Math.random() * 5));
    }
  }
}
