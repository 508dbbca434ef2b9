import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Read diffusion: per message one channel_messages row and one channel_heads update; per
 * (uid, channel) one members row (membership interval, own last sent seq) and, once the uid acts,
 * one cursors row (read seq, delete floor). Unread and visibility are computed at sync time.
 *
 * channel_messages, channel_heads and members are projections of upstream topics (rebuildable
 * from offset 0); cursors and version_counter are this service's own state and survive a rebuild.
 */
export class ConversationsReadModel1767225600013 implements MigrationInterface {
  name = 'ConversationsReadModel1767225600013';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE conversations.channel_messages (
      channel_type       int    NOT NULL,
      channel_id         text   NOT NULL,
      seq                bigint NOT NULL,
      message_id         text   NOT NULL,
      from_uid           text   NOT NULL,
      client_msg_no      text   NOT NULL,
      payload            text   NOT NULL,
      sent_at_ms         bigint NOT NULL,
      membership_version bigint NOT NULL,
      PRIMARY KEY (channel_type, channel_id, seq)
    )`);
    // Join floors and leave ceilings: the highest seq stamped below a membership version.
    await q.query('CREATE INDEX channel_messages_membership_idx ON conversations.channel_messages (channel_type, channel_id, membership_version, seq)');
    await q.query(`CREATE TABLE conversations.channel_heads (
      channel_type       int    NOT NULL,
      channel_id         text   NOT NULL,
      last_seq           bigint NOT NULL,
      last_sent_at_ms    bigint NOT NULL,
      membership_version bigint NOT NULL,
      version            bigint NOT NULL,
      PRIMARY KEY (channel_type, channel_id)
    )`);
    await q.query(`CREATE TABLE conversations.members (
      uid                text   NOT NULL,
      channel_type       int    NOT NULL,
      channel_id         text   NOT NULL,
      join_version       bigint NULL,
      left_version       bigint NULL,
      applied_version    bigint NOT NULL DEFAULT 0,
      own_last_sent_seq  bigint NOT NULL DEFAULT 0,
      version            bigint NOT NULL,
      updated_at_ms      bigint NOT NULL,
      CONSTRAINT members_uid_channel_uq PRIMARY KEY (uid, channel_type, channel_id)
    )`);
    await q.query('CREATE INDEX members_channel_idx ON conversations.members (channel_type, channel_id)');
    await q.query(`CREATE TABLE conversations.cursors (
      uid                text   NOT NULL,
      channel_type       int    NOT NULL,
      channel_id         text   NOT NULL,
      read_seq           bigint NOT NULL DEFAULT 0,
      delete_floor_seq   bigint NOT NULL DEFAULT 0,
      version            bigint NOT NULL,
      updated_at_ms      bigint NOT NULL,
      CONSTRAINT cursors_uid_channel_uq PRIMARY KEY (uid, channel_type, channel_id)
    )`);
    // One row: conversation versions come from here, allocated under its row lock so they commit in order.
    await q.query('CREATE TABLE conversations.version_counter (id int PRIMARY KEY CHECK (id = 1), value bigint NOT NULL)');
    await q.query('INSERT INTO conversations.version_counter (id, value) VALUES (1, 0)');
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of ['version_counter', 'cursors', 'members', 'channel_heads', 'channel_messages']) {
      await q.query(`DROP TABLE conversations.${table}`);
    }
  }
}
