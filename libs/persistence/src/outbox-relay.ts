import { createHash } from 'node:crypto';
import { makeEnvelope } from '@im/contracts';
import { DataSource } from 'typeorm';
import { quoteIdent } from './data-source';
import { StoredEvent, toStoredEvent } from './event-store';

export interface OutboxRecord {
  topic: string;
  key: string;
  value: string;
  headers: Record<string, string>;
}

/** Publishes records and resolves only once the broker has acknowledged all of them (acks=all). */
export type OutboxPublisher = (records: OutboxRecord[]) => Promise<void>;

export interface OutboxRelayOptions {
  schema: string;
  batchSize?: number;
  /** How often to look for rows a crash left unpublished. Writers also flush right after commit. */
  pollIntervalMs?: number;
  onPublished?: (count: number) => void;
  onError?: (error: unknown) => void;
}

export const envelopeOf = (e: StoredEvent) =>
  makeEnvelope(e.type, e.key, e.data, { id: e.id, occurredAt: e.occurredAt, version: 1 });

/**
 * Moves committed events from the events table to Kafka.
 *
 * Rows are claimed by status (`published_at IS NULL`), never by "position greater than the last one
 * seen", so a row whose transaction commits late is still picked up. One transaction-scoped advisory
 * lock per schema serialises flushes across all replicas, which keeps each stream's events in order
 * on Kafka; a row is marked published in the same transaction that held it, after the broker acked.
 * A crash between ack and commit republishes the batch: consumers deduplicate by event id / version.
 */
export class OutboxRelay {
  private readonly table: string;
  private readonly lockKey: string;
  private readonly batchSize: number;
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private rerun?: Promise<void>;
  private stopped = false;

  constructor(
    private readonly dataSource: DataSource,
    private readonly publish: OutboxPublisher,
    private readonly opts: OutboxRelayOptions,
  ) {
    this.table = `${quoteIdent(opts.schema)}.events`;
    // A stable 63-bit key derived from the schema, so services sharing a database never contend.
    this.lockKey = BigInt.asIntN(64, BigInt('0x' + createHash('sha256').update(`outbox:${opts.schema}`).digest('hex').slice(0, 16))).toString();
    this.batchSize = opts.batchSize ?? 500;
  }

  start(): void {
    this.stopped = false;
    const tick = () => {
      if (this.stopped) return;
      this.flush()
        .catch((error) => this.opts.onError?.(error))
        .finally(() => {
          if (!this.stopped) this.timer = setTimeout(tick, this.opts.pollIntervalMs ?? 1000);
        });
    };
    tick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await Promise.allSettled([this.running, this.rerun]);
  }

  /**
   * Resolves once every event committed before the call has been published. Concurrent callers
   * share flushes: a caller that arrives while one runs waits for the next one, which starts after
   * the current finishes and so sees the caller's committed rows.
   */
  flush(): Promise<void> {
    if (!this.running) {
      this.running = this.drain().finally(() => (this.running = undefined));
      return this.running;
    }
    if (!this.rerun) {
      this.rerun = this.running
        .catch(() => undefined)
        .then(() => {
          this.rerun = undefined;
          return this.flush();
        });
    }
    return this.rerun;
  }

  /** Number of committed events not yet on Kafka (a gauge for operators). */
  async backlog(): Promise<number> {
    const [row] = await this.dataSource.query(`SELECT count(*)::int AS n FROM ${this.table} WHERE published_at IS NULL`);
    return row.n;
  }

  private async drain(): Promise<void> {
    for (;;) {
      const published = await this.dataSource.transaction(async (em) => {
        await em.query('SELECT pg_advisory_xact_lock($1::bigint)', [this.lockKey]);
        const rows = await em.query(
          `SELECT position, event_id, stream_id, version, type, data, topic, key, headers, occurred_at
           FROM ${this.table} WHERE published_at IS NULL ORDER BY position LIMIT $1`,
          [this.batchSize],
        );
        if (rows.length === 0) return 0;
        const events = rows.map(toStoredEvent);
        await this.publish(
          events.map((e: StoredEvent) => ({
            topic: e.topic,
            key: e.key,
            value: JSON.stringify(envelopeOf(e)),
            headers: { ...e.headers, 'x-event-id': e.id, 'x-event-type': e.type },
          })),
        );
        await em.query(`UPDATE ${this.table} SET published_at = now() WHERE position = ANY($1::bigint[])`, [events.map((e: StoredEvent) => e.position)]);
        return events.length;
      });
      if (published > 0) this.opts.onPublished?.(published);
      if (published < this.batchSize) return;
    }
  }
}
