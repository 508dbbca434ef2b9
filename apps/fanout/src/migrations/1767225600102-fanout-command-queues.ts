import { MigrationInterface, QueryRunner } from 'typeorm';

/** Per-uid command queues (write diffusion): one cursor row per uid, one row per queued command. */
export class FanoutCommandQueues1767225600102 implements MigrationInterface {
  name = 'FanoutCommandQueues1767225600102';

  async up(q: QueryRunner): Promise<void> {
    // last_seq allocates the uid's next gapless cmd_seq (its row lock serialises writers per uid);
    // acked_seq only moves forward.
    await q.query(`CREATE TABLE fanout.cmd_cursors (
      uid        text        PRIMARY KEY,
      last_seq   bigint      NOT NULL DEFAULT 0,
      acked_seq  bigint      NOT NULL DEFAULT 0,
      updated_at timestamptz NOT NULL DEFAULT now(),
      CHECK (acked_seq <= last_seq)
    )`);
    await q.query(`CREATE TABLE fanout.cmd_queue (
      uid          text        NOT NULL,
      cmd_seq      bigint      NOT NULL,
      type         text        NOT NULL,
      channel_type int         NOT NULL,
      channel_id   text        NOT NULL,
      version      bigint      NOT NULL,
      payload      bytea       NOT NULL,
      source_id    text        NOT NULL,
      created_at   timestamptz NOT NULL,
      PRIMARY KEY (uid, cmd_seq),
      CONSTRAINT cmd_queue_source_uq UNIQUE (uid, source_id)
    )`);
    // What caused a fan-out (a channel event id or a sent command id): claimed once, so a
    // redelivered or replayed cause never queues twice.
    await q.query(`CREATE TABLE fanout.cmd_sources (
      source_id  text        PRIMARY KEY,
      recipients int         NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE fanout.cmd_sources');
    await q.query('DROP TABLE fanout.cmd_queue');
    await q.query('DROP TABLE fanout.cmd_cursors');
  }
}
