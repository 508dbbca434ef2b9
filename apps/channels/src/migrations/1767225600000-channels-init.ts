import { dropEventStoreDdl, eventStoreDdl } from '@im/persistence';
import { MigrationInterface, QueryRunner } from 'typeorm';

export class ChannelsInit1767225600000 implements MigrationInterface {
  name = 'ChannelsInit1767225600000';

  async up(q: QueryRunner): Promise<void> {
    for (const sql of eventStoreDdl('channels')) await q.query(sql);
    // Current state of each channel, written in the same transaction as its events.
    await q.query(`CREATE TABLE channels.channels (
      channel_type int         NOT NULL,
      channel_id   text        NOT NULL,
      status       text        NOT NULL CHECK (status IN ('active', 'deleted')),
      attributes   jsonb       NOT NULL,
      version      bigint      NOT NULL,
      created_at   timestamptz NOT NULL,
      updated_at   timestamptz NOT NULL,
      PRIMARY KEY (channel_type, channel_id)
    )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE channels.channels');
    for (const sql of dropEventStoreDdl('channels')) await q.query(sql);
  }
}
