import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Conversation versions come from transaction ids (ADR 15), so the single counter row every writer
 * locked goes. The ledger records, per slice of a partition as first applied, the base of its
 * events' versions, so a replay from offset 0 gives every change its first version again. Like the
 * cursors, it is this service's own state and survives a rebuild.
 */
export class ConversationsVersionLedger1767225600223 implements MigrationInterface {
  name = 'ConversationsVersionLedger1767225600223';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE conversations.version_ledger (
      topic        text   NOT NULL,
      partition    int    NOT NULL,
      first_offset bigint NOT NULL,
      last_offset  bigint NOT NULL,
      base_version bigint NOT NULL,
      cluster_id   text   NULL,
      PRIMARY KEY (topic, partition, first_offset)
    )`);
    await q.query('DROP TABLE conversations.version_counter');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('CREATE TABLE conversations.version_counter (id int PRIMARY KEY CHECK (id = 1), value bigint NOT NULL)');
    await q.query(`INSERT INTO conversations.version_counter (id, value)
                   SELECT 1, GREATEST((SELECT max(version) FROM conversations.members), (SELECT max(version) FROM conversations.cursors),
                                    (SELECT max(version) FROM conversations.channel_heads), (SELECT max(changed_version) FROM conversations.channel_states), 0)`);
    await q.query('DROP TABLE conversations.version_ledger');
  }
}
