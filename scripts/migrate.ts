import 'reflect-metadata';
import { createServiceDataSource, migrate } from '@im/persistence';
import { CHANNELS_MIGRATIONS } from '../apps/channels/src/migrations';
import { CONVERSATIONS_MIGRATIONS } from '../apps/conversations/src/migrations';
import { FANOUT_MIGRATIONS } from '../apps/fanout/src/migrations';
import { SUBSCRIPTIONS_MIGRATIONS } from '../apps/subscriptions/src/migrations';

/** Every service's schema and migrations. Run once per deploy (a Job), never raced by replicas. */
export const SERVICE_MIGRATIONS = {
  channels: CHANNELS_MIGRATIONS,
  subscriptions: SUBSCRIPTIONS_MIGRATIONS,
  fanout: FANOUT_MIGRATIONS,
  conversations: CONVERSATIONS_MIGRATIONS,
};

export async function migrateAll(url: string, only?: string[]): Promise<void> {
  for (const [schema, migrations] of Object.entries(SERVICE_MIGRATIONS)) {
    if (only && only.length > 0 && !only.includes(schema)) continue;
    const dataSource = createServiceDataSource({ url, schema, migrations, poolSize: 1, applicationName: `migrate-${schema}` });
    try {
      const applied = await migrate(dataSource, schema);
      console.log(`${schema}: ${applied.length ? `applied ${applied.join(', ')}` : 'up to date'}`);
    } finally {
      await dataSource.destroy();
    }
  }
}

if (require.main === module) {
  const url = process.env.DATABASE_URL;
  if (!url) {
    console.error('DATABASE_URL is required (e.g. postgres://postgres@127.0.0.1:5432/im)');
    process.exit(2);
  }
  migrateAll(url, process.argv.slice(2)).catch((error) => {
    console.error(`migration failed: ${error instanceof Error ? error.message : error}`);
    process.exit(1);
  });
}
