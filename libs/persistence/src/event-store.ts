import { randomUUID } from 'node:crypto';
import { EntityManager } from 'typeorm';
import { isUniqueViolation, quoteIdent } from './data-source';
import { ambientEventHeaders } from './event-context';
import type { Statement } from './pipeline';

export interface NewEvent {
  streamId: string;
  version: number;
  type: string;
  data: unknown;
  topic: string;
  key: string;
  occurredAt: string;
  id?: string;
  headers?: Record<string, string>;
}

export interface StoredEvent extends Required<NewEvent> {
  position: string;
}

/** Another writer appended the same stream version first; the command should be decided again. */
export const isStreamConflict = (error: unknown) => isUniqueViolation(error, 'events_stream_version_uq');

export class EventStore {
  private readonly table: string;
  private readonly processed: string;
  private readonly batches: string;

  constructor(schema: string) {
    this.table = `${quoteIdent(schema)}.events`;
    this.batches = `${quoteIdent(schema)}.outbox_batches`;
    this.processed = `${quoteIdent(schema)}.processed_commands`;
  }

  /**
   * Appends events in the caller's transaction. The unique (stream_id, version) key is the optimistic
   * concurrency check: a concurrent append of the same version fails with a stream conflict.
   *
   * With `publishedBy`, the writer publishes these events itself right after commit (see
   * OutboxRelay.commitAndPublish): they are stored as published, under one batch marker that is
   * re-published from if the writer never confirms.
   */
  async append(em: EntityManager, events: NewEvent[], opts: { publishedBy?: string } = {}): Promise<StoredEvent[]> {
    if (events.length === 0) return [];
    const { statement, events: rows } = this.appendStatement(events, opts);
    const result: { position: string; event_id: string }[] = await em.query(statement.text, statement.values);
    const positions = new Map(result.map((r) => [r.event_id, r.position]));
    return rows.map((r) => ({ ...r, position: positions.get(r.id)! }));
  }

  /**
   * The statement `append` runs, for a caller that sends it with others in one round trip (see
   * runPipelined), with the events as they will be stored (ids and headers filled in). It returns
   * each appended event's position and id.
   */
  appendStatement(events: NewEvent[], opts: { publishedBy?: string } = {}): { statement: Statement; events: Omit<StoredEvent, 'position'>[] } {
    // Explicit headers win over the ambient ones (correlation id and trace context of the request).
    const ambient = ambientEventHeaders();
    const rows = events.map((e) => ({ ...e, id: e.id ?? randomUUID(), headers: { ...ambient, ...e.headers } }));
    // One statement for the events and their batch marker: round trips are what a hot path costs.
    const statement: Statement = {
      name: `${this.table}.append`,
      text: `WITH appended AS (
         INSERT INTO ${this.table} (event_id, stream_id, version, type, data, topic, key, headers, occurred_at, published_at)
         SELECT e.*, CASE WHEN $10::uuid IS NOT NULL THEN now() END
           FROM unnest($1::uuid[], $2::text[], $3::bigint[], $4::text[], $5::jsonb[], $6::text[], $7::text[], $8::jsonb[], $9::timestamptz[]) AS e
         RETURNING position, event_id
       ), marker AS (
         INSERT INTO ${this.batches} (batch_id, positions, stream_ids)
         SELECT $10::uuid, array_agg(position ORDER BY position), $11::text[] FROM appended HAVING $10::uuid IS NOT NULL
       )
       SELECT position, event_id FROM appended`,
      values: [
        rows.map((r) => r.id),
        rows.map((r) => r.streamId),
        rows.map((r) => r.version),
        rows.map((r) => r.type),
        rows.map((r) => JSON.stringify(r.data)),
        rows.map((r) => r.topic),
        rows.map((r) => r.key),
        rows.map((r) => JSON.stringify(r.headers)),
        rows.map((r) => r.occurredAt),
        opts.publishedBy ?? null,
        [...new Set(rows.map((r) => r.streamId))],
      ],
    };
    return { statement, events: rows };
  }

  async readStream(em: EntityManager, streamId: string): Promise<StoredEvent[]> {
    const rows = await em.query(
      `SELECT position, event_id, stream_id, version, type, data, topic, key, headers, occurred_at
       FROM ${this.table} WHERE stream_id = $1 ORDER BY version`,
      [streamId],
    );
    return rows.map(toStoredEvent);
  }

  /**
   * Records that a command id has been applied. Returns false when it was applied before, in which
   * case the caller must not apply it again (Kafka redelivers at least once).
   */
  async claimCommand(em: EntityManager, commandId: string): Promise<boolean> {
    const rows = await em.query(`INSERT INTO ${this.processed} (command_id) VALUES ($1) ON CONFLICT DO NOTHING RETURNING command_id`, [commandId]);
    return rows.length === 1;
  }
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const toStoredEvent = (r: any): StoredEvent => ({
  position: String(r.position),
  id: r.event_id,
  streamId: r.stream_id,
  version: Number(r.version),
  type: r.type,
  data: r.data,
  topic: r.topic,
  key: r.key,
  headers: r.headers ?? {},
  occurredAt: r.occurred_at instanceof Date ? r.occurred_at.toISOString() : String(r.occurred_at),
});
