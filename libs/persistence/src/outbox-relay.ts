import { createHash, randomUUID } from 'node:crypto';
import { cloudEventHeaders, makeEnvelope } from '@im/contracts';
import type { PoolClient, QueryResult } from 'pg';
import { DataSource, QueryRunner } from 'typeorm';
import { crashPoint } from './crash-point';
import { isRetryable, quoteIdent } from './data-source';
import { EventStore, NewEvent, PublishedEvent, StoredEvent, toStoredEvent } from './event-store';
import { runPipelined, Statement } from './pipeline';

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
  /** A batch marker older than this is taken for a writer that crashed before publishing it. */
  staleBatchMs?: number;
  onPublished?: (count: number) => void;
  onError?: (error: unknown) => void;
}

/** The transaction of a direct publish (`commitAndPublish`), for statements beyond its first reads. */
export interface DirectTransaction {
  /** Runs statements in the transaction, pipelined: one round trip for all of them. */
  run(statements: readonly Statement[]): Promise<QueryResult[]>;
}

/** One batch of a writer that publishes its own events (see `commitAndPublish`). */
export interface DirectBatch<T> {
  /** Run under the streams' locks right after BEGIN, in the locks' round trip. */
  reads: readonly Statement[];
  /**
   * Decides from the results of `reads`: the caller's answer, the events to publish, and the
   * writes to send with the batch's marker and COMMIT. May be called again (after a deadlock).
   */
  decide(reads: QueryResult[], tx: DirectTransaction): Promise<{ result: T; events: NewEvent[]; writes?: Statement[] }>;
}

/** A batch marker: its records (or, as writers before them left it, its events' positions in the events table). */
interface Marker {
  batch_id: string;
  positions: string[];
  records: OutboxRecord[] | null;
}

export const envelopeOf = (e: PublishedEvent) => makeEnvelope(e.type, e.key, e.data, { id: e.id, occurredAt: e.occurredAt, version: 1 });

/** The Kafka record of a stored event. */
export const recordOf = (e: PublishedEvent): OutboxRecord => ({
  topic: e.topic,
  key: e.key,
  value: JSON.stringify(envelopeOf(e)),
  headers: { ...e.headers, 'x-event-id': e.id, 'x-event-type': e.type, ...cloudEventHeaders(e) },
});

/**
 * Moves committed events from the events table to Kafka.
 *
 * Rows are claimed by status (`published_at IS NULL`), never by "position greater than the last one
 * seen", so a row whose transaction commits late is still picked up. One transaction-scoped advisory
 * lock per schema serialises flushes across all replicas, which keeps each stream's events in order
 * on Kafka; a row is marked published in the same transaction that held it, after the broker acked.
 * A crash between ack and commit republishes the batch: consumers deduplicate by event id / version.
 *
 * Writers on a hot path publish their own committed batch instead (`commitAndPublish`): its events
 * are stored as published under one batch marker, so nothing is updated per event, and no
 * schema-wide lock is held while waiting for Kafka.
 */
export class OutboxRelay {
  private readonly table: string;
  private readonly batches: string;
  private readonly lockKey: string;
  private readonly batchSize: number;
  private readonly store: EventStore;
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private rerun?: Promise<void>;
  private stopped = false;
  /** Marker deletes and unlocks of direct publishes still running (see `commitAndPublish`). */
  private readonly cleanups = new Set<Promise<void>>();

  constructor(
    private readonly dataSource: DataSource,
    private readonly publish: OutboxPublisher,
    private readonly opts: OutboxRelayOptions,
  ) {
    this.table = `${quoteIdent(opts.schema)}.events`;
    this.batches = `${quoteIdent(opts.schema)}.outbox_batches`;
    // A stable 63-bit key derived from the schema, so services sharing a database never contend.
    this.lockKey = BigInt.asIntN(64, BigInt('0x' + createHash('sha256').update(`outbox:${opts.schema}`).digest('hex').slice(0, 16))).toString();
    this.batchSize = opts.batchSize ?? 500;
    this.store = new EventStore(opts.schema);
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
    await Promise.allSettled([this.running, this.rerun, this.settled()]);
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

  /**
   * The direct path: one transaction on a connection that holds session locks on `streamIds`,
   * whose events are published as soon as it committed; resolves once the broker acknowledged
   * them. The locks are held until the batch's marker is deleted after that, so a writer of another
   * instance to the same streams waits, and each stream reaches Kafka in order. Under those locks, a
   * marker of the same streams can only have been left by a writer that died between commit and
   * publish: its events are published first, in the same send. `onLocked` is called once the locks
   * are held (a caller may order its writers by it), `onCommitted` once the transaction committed.
   *
   * The batch's events are not stored as rows of the events table: their Kafka records are kept in
   * the batch's marker, one row, until they are on Kafka, so the writer's own rows (e.g. the message
   * log) are the only copy that stays.
   *
   * Round trips are what this path costs (each is a write syscall and a wake-up on both sides), so
   * the statements are pipelined (runPipelined): the locks, BEGIN, the marker lookup and the batch's
   * `reads` go in one round trip; its `writes`, the marker and COMMIT in a second. The marker
   * delete and the unlock run after the promise resolved: the caller's answer does not wait for them
   * (`settled` does).
   */
  async commitAndPublish<T>(streamIds: readonly string[], batch: DirectBatch<T>, opts: { onLocked?: () => void; onCommitted?: () => void } = {}): Promise<T> {
    const runner = this.dataSource.createQueryRunner();
    const client: PoolClient = await runner.connect();
    const tx: DirectTransaction = { run: (statements) => runPipelined(client, statements) };
    let published = false;
    try {
      const batchId = randomUUID();
      let locked = false;
      for (let attempt = 0; ; attempt++) {
        try {
          const lock = locked ? [] : [{ name: 'outbox.lock-streams', text: lockStreamsSql('pg_advisory_lock'), values: [[...streamIds]] }];
          const first = await tx.run([...lock, ...BEGIN_DIRECT, this.markersStatement(streamIds), ...batch.reads]);
          if (!locked) opts.onLocked?.();
          locked = true;
          const [markers, ...reads] = first.slice(lock.length + BEGIN_DIRECT.length);
          const orphans = await this.orphansOf(markers.rows, async (s) => (await tx.run([s]))[0].rows);
          const { result, events, writes = [] } = await batch.decide(reads, tx);
          const records = this.store.withIds(events).map(recordOf);
          await tx.run([...writes, ...(records.length > 0 ? [this.markerStatement(batchId, streamIds, records)] : []), { text: 'COMMIT' }]);
          opts.onCommitted?.();
          crashPoint(`${this.opts.schema}:after-commit`);
          await this.publish([...orphans.records, ...records]);
          published = true;
          this.track(this.forgetAndUnlock(runner, [batchId, ...orphans.batchIds]));
          return result;
        } catch (error) {
          // A deadlock or serialization failure is decided again from fresh reads, under the locks
          // (taken again if the first round trip failed: a session lock taken twice is released
          // by the same unlock-all).
          if (!isRetryable(error) || attempt >= 5) throw error;
          await runner.query('ROLLBACK');
        }
      }
    } finally {
      if (!published) await this.unlockAndRelease(runner);
    }
  }

  /** Resolves once every marker delete and unlock that `commitAndPublish` left running has finished. */
  async settled(): Promise<void> {
    while (this.cleanups.size > 0) await Promise.allSettled([...this.cleanups]);
  }

  private track(cleanup: Promise<void>): void {
    const done = cleanup.catch((error) => this.opts.onError?.(error));
    this.cleanups.add(done);
    void done.finally(() => this.cleanups.delete(done));
  }

  /**
   * Deletes the markers of published batches, then releases the streams' locks and the connection.
   * Losing the delete in a crash only publishes the batch again, so it need not wait for the WAL
   * flush; it commits before the unlock, so the next writer to these streams never sees it.
   */
  private async forgetAndUnlock(runner: QueryRunner, batchIds: string[]): Promise<void> {
    try {
      await runner.query(
        `BEGIN; SET LOCAL synchronous_commit TO off;
         DELETE FROM ${this.batches} WHERE batch_id IN (${batchIds.map(uuidLiteral).join(', ')});
         COMMIT; SELECT pg_advisory_unlock_all()`,
      );
      await runner.release();
    } catch (error) {
      this.opts.onError?.(error);
      await this.unlockAndRelease(runner);
    }
  }

  /** Unlocking fails only on a broken connection, whose session (and locks) is gone with it. */
  private async unlockAndRelease(runner: QueryRunner): Promise<void> {
    await runner.query('ROLLBACK; SELECT pg_advisory_unlock_all()').catch(() => undefined);
    await runner.release();
  }

  /** Markers of these streams' batches, oldest first, locked for this transaction (see `orphansOf`). */
  private markersStatement(streamIds: readonly string[]): Statement {
    return {
      name: `${this.batches}.markers`,
      text: `SELECT batch_id, positions, records FROM ${this.batches} WHERE stream_ids && $1::text[] ORDER BY created_at, batch_id FOR UPDATE`,
      values: [[...streamIds]],
    };
  }

  /** The marker of a batch its writer publishes itself, with the batch's records. */
  private markerStatement(batchId: string, streamIds: readonly string[], records: OutboxRecord[]): Statement {
    return {
      name: `${this.batches}.insert`,
      text: `INSERT INTO ${this.batches} (batch_id, positions, stream_ids, records) VALUES ($1, '{}', $2::text[], $3::jsonb)`,
      values: [batchId, [...streamIds], JSON.stringify(records)],
    };
  }

  /** The records, in order, of markers left by writers that died between commit and publish. */
  private async orphansOf(markers: Marker[], query: (statement: Statement) => Promise<unknown[]>): Promise<{ batchIds: string[]; records: OutboxRecord[] }> {
    if (markers.length === 0) return { batchIds: [], records: [] };
    const positions = markers.flatMap((m) => (m.records ? [] : m.positions));
    const stored =
      positions.length === 0
        ? []
        : await query({ text: `SELECT ${EVENT_COLUMNS} FROM ${this.table} WHERE position = ANY($1::bigint[]) ORDER BY position`, values: [positions] });
    const byPosition = new Map(stored.map(toStoredEvent).map((e) => [e.position, e]));
    const records = markers.flatMap((m) => m.records ?? m.positions.flatMap((p) => (byPosition.has(String(p)) ? [recordOf(byPosition.get(String(p))!)] : [])));
    return { batchIds: markers.map((m) => m.batch_id), records };
  }

  /** Number of committed events not yet on Kafka, stale batches included (a gauge for operators). */
  async backlog(): Promise<number> {
    const [row] = await this.dataSource.query(
      `SELECT ((SELECT count(*) FROM ${this.table} WHERE published_at IS NULL)
             + (SELECT coalesce(sum(coalesce(jsonb_array_length(records), cardinality(positions))), 0) FROM ${this.batches}
                 WHERE created_at < now() - make_interval(secs => $1::double precision / 1000)))::int AS n`,
      [this.opts.staleBatchMs ?? 10_000],
    );
    return row.n;
  }

  private async drain(): Promise<void> {
    await this.republishStaleBatches();
    for (;;) {
      const published = await this.dataSource.transaction(async (em) => {
        await em.query('SELECT pg_advisory_xact_lock($1::bigint)', [this.lockKey]);
        const rows = await em.query(`SELECT ${EVENT_COLUMNS} FROM ${this.table} WHERE published_at IS NULL ORDER BY position LIMIT $1`, [this.batchSize]);
        if (rows.length === 0) return 0;
        const events = rows.map(toStoredEvent);
        await this.publish(events.map(recordOf));
        await em.query(`UPDATE ${this.table} SET published_at = now() WHERE position = ANY($1::bigint[])`, [events.map((e: StoredEvent) => e.position)]);
        return events.length;
      });
      if (published > 0) this.opts.onPublished?.(published);
      if (published < this.batchSize) return;
    }
  }

  /**
   * Batches whose writer died between commit and publish, on streams no writer has touched since:
   * their events go out again (consumers deduplicate), under the streams' locks like a writer's.
   */
  private async republishStaleBatches(): Promise<void> {
    const stale: { batch_id: string; stream_ids: string[] }[] = await this.dataSource.query(
      `SELECT batch_id, stream_ids FROM ${this.batches}
        WHERE created_at < now() - make_interval(secs => $1::double precision / 1000) ORDER BY created_at LIMIT 100`,
      [this.opts.staleBatchMs ?? 10_000],
    );
    for (const marker of stale) {
      const published = await this.dataSource.transaction(async (em) => {
        await em.query(lockStreamsSql('pg_advisory_xact_lock'), [marker.stream_ids]);
        const query = (statement: Statement): Promise<Marker[]> => em.query(statement.text, statement.values);
        const orphans = await this.orphansOf(await query(this.markersStatement(marker.stream_ids)), query);
        if (orphans.batchIds.length === 0) return 0;
        await this.publish(orphans.records);
        await em.query(`DELETE FROM ${this.batches} WHERE batch_id = ANY($1::uuid[])`, [orphans.batchIds]);
        return orphans.records.length;
      });
      if (published > 0) this.opts.onPublished?.(published);
    }
  }
}

const EVENT_COLUMNS = 'position, event_id, stream_id, version, type, data, topic, key, headers, occurred_at';

/**
 * BEGIN for a direct publish. Its statements are prepared (named) and of one shape, with arrays for
 * parameters; left to choose, Postgres planned each execution anew (the custom plans looked cheaper
 * than the generic one), which was a third of its time on the send path (pg_stat_statements).
 */
const BEGIN_DIRECT: Statement[] = [{ text: 'BEGIN' }, { text: 'SET LOCAL plan_cache_mode = force_generic_plan' }];

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A uuid as an SQL literal, for statements sent without parameters (several in one round trip). */
function uuidLiteral(id: string): string {
  if (!UUID.test(id)) throw new Error(`not a uuid: ${JSON.stringify(id)}`);
  return `'${id}'::uuid`;
}

/**
 * Takes the advisory lock of each stream in `$1::text[]`, in one fixed order so that writers and the relay never deadlock: a session lock held by
 * a direct publisher until its events are on Kafka, or a transaction lock held by the relay while it
 * republishes an orphan.
 */
const lockStreamsSql = (lock: 'pg_advisory_lock' | 'pg_advisory_xact_lock') =>
  `SELECT ${lock}(k) FROM (SELECT DISTINCT hashtextextended('outbox.stream:' || s, 0) AS k FROM unnest($1::text[]) AS s ORDER BY 1) AS locks`;
