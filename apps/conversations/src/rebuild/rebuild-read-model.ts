import 'reflect-metadata';
import { createKafka, parseBrokers } from '@im/kafka';
import { ConsumerCheckpoints, createServiceDataSource } from '@im/persistence';
import { Admin } from 'kafkajs';
import { DataSource } from 'typeorm';
import { CONVERSATIONS_SERVICE } from '../config/conversations.config';
import { CONVERSATIONS_PROJECTION_GROUP } from '../conversations/conversations.projection';
import { CONVERSATIONS_MIGRATIONS } from '../migrations';

/**
 * The tables derived from upstream topics; cursors (the uids' own actions) and the version counter
 * stay. The pruner's marks go with channel_messages: replayed rows must be pruned again from the start.
 */
export const PROJECTION_TABLES = ['channel_messages', 'channel_heads', 'channel_states', 'members', 'channel_prune_marks'] as const;

/**
 * Rebuilds the conversations read model from offset 0 of its input topics. Run it with every
 * instance of the service stopped; the next start replays everything.
 *
 * Both positions must go: the checkpoints beside the projection (which skip records already
 * applied) and the group's offsets in Kafka (where a restarted consumer resumes; `fromBeginning`
 * only applies to a group without offsets), so the consumer group is deleted. The version counter
 * is kept, so replayed changes get versions above any a client holds and incremental syncs see them.
 */
export async function rebuildReadModel(dataSource: DataSource, admin: Admin): Promise<void> {
  try {
    await admin.deleteGroups([CONVERSATIONS_PROJECTION_GROUP]);
  } catch (error) {
    const codes = ((error as { groups?: { error?: { type?: string } }[] }).groups ?? []).map((g) => g.error?.type);
    if (codes.includes('NON_EMPTY_GROUP')) throw new Error('the conversations service is still running: stop every instance before a rebuild');
    if (!codes.every((c) => c === 'GROUP_ID_NOT_FOUND')) throw error;
  }
  const schema = CONVERSATIONS_SERVICE.schema;
  await dataSource.transaction(async (em) => {
    await em.query(`TRUNCATE ${PROJECTION_TABLES.map((t) => `${schema}.${t}`).join(', ')}`);
    await new ConsumerCheckpoints(schema, CONVERSATIONS_PROJECTION_GROUP).reset(em);
  });
}

if (require.main === module) {
  const { DATABASE_URL, KAFKA_BROKERS } = process.env;
  if (!DATABASE_URL || !KAFKA_BROKERS) {
    console.error('DATABASE_URL and KAFKA_BROKERS are required');
    process.exit(2);
  }
  void (async () => {
    const dataSource = createServiceDataSource({ url: DATABASE_URL, schema: CONVERSATIONS_SERVICE.schema, migrations: CONVERSATIONS_MIGRATIONS, poolSize: 1, applicationName: 'conversations-rebuild' });
    const admin = createKafka({ brokers: parseBrokers(KAFKA_BROKERS), clientId: 'conversations-rebuild' }).admin();
    try {
      await dataSource.initialize();
      await admin.connect();
      await rebuildReadModel(dataSource, admin);
      console.log('conversations read model cleared: start the service to replay from offset 0');
    } finally {
      await admin.disconnect();
      await dataSource.destroy();
    }
  })().catch((error) => {
    console.error(`rebuild failed: ${error instanceof Error ? error.message : error}`);
    process.exit(1);
  });
}
