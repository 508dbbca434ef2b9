import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Where the channel_messages pruner stands in each channel (ADR 14): the head seq it last pruned
 * the channel up to (a channel whose head is still there has nothing new to prune), and the
 * (membership_version, seq) position its next scan of the channel starts after. Derived from
 * channel_messages, so a rebuild of the read model clears it with that table.
 */
export class ConversationsMessageRetention1767225600233 implements MigrationInterface {
  name = 'ConversationsMessageRetention1767225600233';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE conversations.channel_prune_marks (
      channel_type   int    NOT NULL,
      channel_id     text   NOT NULL,
      pruned_seq     bigint NOT NULL,
      resume_version bigint NOT NULL,
      resume_seq     bigint NOT NULL,
      PRIMARY KEY (channel_type, channel_id)
    )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE conversations.channel_prune_marks');
  }
}
