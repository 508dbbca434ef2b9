import { randomUUID } from 'node:crypto';
import { EntityManager } from 'typeorm';
import { isUniqueViolation, quoteIdent } from './data-source';
import { ambientEventHeaders } from './event-context';

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

/** An event with everything its Kafka record needs. */
export type PublishedEvent = Required<NewEvent>;

export interface StoredEvent extends PublishedEvent {
  position: string;
}

/** Another writer appended the same stream version first; the command should be decided again. */
export const isStreamConflict = (error: unknown) => isUniqueViolation(error, 'events_stream_version_uq');

export class EventStore {
  private readonly table: string;
  private readonly processed: string;

  constructor(schema: string) {
    this.table = `${quoteIdent(schema)}.events`;
    this.processed = `${quoteIdent(schema)}.processed_commands`;
  }

  /**
   * Appends events in the caller's transaction. The unique (stream_id, version) key is the optimistic
   * concurrency check: a concurrent append of the same version fails with a stream conflict.
   */
  async append(em: EntityManager, events: NewEvent[]): Promise<StoredEvent[]> {
    if (events.length === 0) return [];
    const rows = this.withIds(events);
    const result: { position: string; event_id: string }[] = await em.query(
      `INSERT INTO ${this.table} (event_id, stream_id, version, type, data, topic, key, headers, occurred_at)
       SELECT * FROM unnest($1::uuid[], $2::text[], $3::bigint[], $4::text[], $5::jsonb[], $6::text[], $7::text[], $8::jsonb[], $9::timestamptz[])
       RETURNING position, event_id`,
      [
        rows.map((r) => r.id),
        rows.map((r) => r.streamId),
        rows.map((r) => r.version),
        rows.map((r) => r.type),
        rows.map((r) => JSON.stringify(r.data)),
        rows.map((r) => r.topic),
        rows.map((r) => r.key),
        rows.map((r) => JSON.stringify(r.headers)),
        rows.map((r) => r.occurredAt),
      ],
    );
    const positions = new Map(result.map((r) => [r.event_id, r.position]));
    return rows.map((r) => ({ ...r, position: positions.get(r.id)! }));
  }

  /** The events as they are stored and published: ids given, explicit headers over the ambient ones (correlation id, trace context). */
  withIds(events: NewEvent[]): PublishedEvent[] {
    const ambient = ambientEventHeaders();
    return events.map((e) => ({ ...e, id: e.id ?? randomUUID(), headers: { ...ambient, ...e.headers } }));
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
