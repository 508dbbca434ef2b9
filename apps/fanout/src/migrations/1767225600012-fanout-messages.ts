import { MigrationInterface, QueryRunner } from 'typeorm';

/** The message log and the read model of channel facts and membership it is written against. */
export class FanoutMessages1767225600012 implements MigrationInterface {
  name = 'FanoutMessages1767225600012';

  async up(q: QueryRunner): Promise<void> {
    // Facts from im.channels.events.v1, upserted only forward by version.
    await q.query(`CREATE TABLE fanout.channels (
      channel_type int     NOT NULL,
      channel_id   text    NOT NULL,
      deleted      boolean NOT NULL,
      ban          boolean NOT NULL,
      send_ban     boolean NOT NULL,
      disband      boolean NOT NULL,
      version      bigint  NOT NULL,
      PRIMARY KEY (channel_type, channel_id)
    )`);
    // One row per channel, locked by every send and every membership change: seqs and the
    // membership version they are stamped with are assigned in one serial order per channel.
    await q.query(`CREATE TABLE fanout.channel_heads (
      channel_type       int    NOT NULL,
      channel_id         text   NOT NULL,
      last_seq           bigint NOT NULL DEFAULT 0,
      membership_version bigint NOT NULL DEFAULT 0,
      PRIMARY KEY (channel_type, channel_id)
    )`);
    // Membership stretches: [join_version, left_version). A rejoin opens a new row, so recipients
    // of older messages stay what they were.
    await q.query(`CREATE TABLE fanout.memberships (
      channel_type int    NOT NULL,
      channel_id   text   NOT NULL,
      uid          text   NOT NULL,
      join_version bigint NOT NULL,
      left_version bigint NULL,
      PRIMARY KEY (channel_type, channel_id, uid, join_version)
    )`);
    await q.query(`CREATE UNIQUE INDEX memberships_current_uq ON fanout.memberships (channel_type, channel_id, uid) WHERE left_version IS NULL`);
    await q.query(`CREATE TABLE fanout.messages (
      channel_type       int         NOT NULL,
      channel_id         text        NOT NULL,
      message_seq        bigint      NOT NULL,
      message_id         uuid        NOT NULL UNIQUE,
      from_uid           text        NOT NULL,
      client_msg_no      text        NOT NULL,
      payload            bytea       NOT NULL,
      sent_at            timestamptz NOT NULL,
      membership_version bigint      NOT NULL,
      PRIMARY KEY (channel_type, channel_id, message_seq),
      CONSTRAINT messages_idempotency_uq UNIQUE (channel_type, channel_id, from_uid, client_msg_no)
    )`);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const t of ['messages', 'memberships', 'channel_heads', 'channels']) await q.query(`DROP TABLE fanout.${t}`);
  }
}
