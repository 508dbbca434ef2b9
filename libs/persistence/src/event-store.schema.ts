import { quoteIdent } from './data-source';
import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * DDL of the tables every service's event store needs. Used from each service's first migration,
 * so the shape is defined once.
 *
 * - events: the append-only source of truth and, through `published_at`, the outbox.
 * - processed_commands: ids of Kafka commands already applied, so a redelivered command is a no-op.
 * - consumer_checkpoints: the next offset each consumer group has applied per partition, written in
 *   the same transaction as the projection it feeds; the read barrier compares it with end offsets.
 */
export function eventStoreDdl(schema: string): string[] {
  const s = quoteIdent(schema);
  return [
    `CREATE TABLE ${s}.events (
      position      bigserial PRIMARY KEY,
      event_id      uuid        NOT NULL UNIQUE,
      stream_id     text        NOT NULL,
      version       bigint      NOT NULL,
      type          text        NOT NULL,
      schema_version int        NOT NULL DEFAULT 1,
      data          jsonb       NOT NULL,
      topic         text        NOT NULL,
      key           text        NOT NULL,
      headers       jsonb       NOT NULL DEFAULT '{}'::jsonb,
      occurred_at   timestamptz NOT NULL,
      published_at  timestamptz NULL,
      CONSTRAINT events_stream_version_uq UNIQUE (stream_id, version)
    )`,
    `CREATE INDEX events_unpublished_idx ON ${s}.events (position) WHERE published_at IS NULL`,
    `CREATE TABLE ${s}.processed_commands (
      command_id   text        PRIMARY KEY,
      processed_at timestamptz NOT NULL DEFAULT now()
    )`,
    `CREATE TABLE ${s}.consumer_checkpoints (
      group_id    text        NOT NULL,
      topic       text        NOT NULL,
      partition   int         NOT NULL,
      next_offset bigint      NOT NULL,
      updated_at  timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (group_id, topic, partition)
    )`,
  ];
}

export function dropEventStoreDdl(schema: string): string[] {
  const s = quoteIdent(schema);
  return [`DROP TABLE ${s}.consumer_checkpoints`, `DROP TABLE ${s}.processed_commands`, `DROP TABLE ${s}.events`];
}

/**
 * A migration that records, with every consumer checkpoint, the Kafka cluster it was taken on
 * (NULL for checkpoints written before; they adopt the cluster they are next verified against).
 */
export function checkpointClusterMigration(schema: string, timestamp: number): new () => MigrationInterface {
  const table = `${quoteIdent(schema)}.consumer_checkpoints`;
  return class implements MigrationInterface {
    name = `CheckpointCluster${timestamp}`;

    async up(q: QueryRunner): Promise<void> {
      await q.query(`ALTER TABLE ${table} ADD COLUMN cluster_id text NULL`);
    }

    async down(q: QueryRunner): Promise<void> {
      await q.query(`ALTER TABLE ${table} DROP COLUMN cluster_id`);
    }
  };
}

/**
 * A migration adding the markers of batches that their writer publishes itself, right after
 * commit, instead of through the relay: one row per batch (not an update per event), deleted once
 * the batch is on Kafka. A marker left by a writer that crashed in between is re-published, in
 * stream order, by the next writer to the same streams or by the relay of any instance.
 */
export function outboxBatchesMigration(schema: string, timestamp: number): new () => MigrationInterface {
  const table = `${quoteIdent(schema)}.outbox_batches`;
  return class implements MigrationInterface {
    name = `OutboxBatches${timestamp}`;

    async up(q: QueryRunner): Promise<void> {
      await q.query(`CREATE TABLE ${table} (
        batch_id   uuid        PRIMARY KEY,
        positions  bigint[]    NOT NULL,
        stream_ids text[]      NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    }

    async down(q: QueryRunner): Promise<void> {
      await q.query(`DROP TABLE ${table}`);
    }
  };
}

/**
 * A migration letting a batch marker carry the batch's Kafka records, so a writer that publishes
 * its own batches stores no event rows: the records wait in the one marker row until they are on
 * Kafka (ADR 12). Markers written before keep their `positions` in the events table.
 */
export function outboxBatchRecordsMigration(schema: string, timestamp: number): new () => MigrationInterface {
  const table = `${quoteIdent(schema)}.outbox_batches`;
  return class implements MigrationInterface {
    name = `OutboxBatchRecords${timestamp}`;

    async up(q: QueryRunner): Promise<void> {
      await q.query(`ALTER TABLE ${table} ADD COLUMN records jsonb NULL`);
    }

    async down(q: QueryRunner): Promise<void> {
      await q.query(`ALTER TABLE ${table} DROP COLUMN records`);
    }
  };
}
