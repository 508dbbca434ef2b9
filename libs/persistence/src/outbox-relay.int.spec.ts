import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { ConsumerCheckpoints } from './checkpoints';
import { createServiceDataSource, inTransaction } from './data-source';
import { EventStore, NewEvent } from './event-store';
import { checkpointClusterMigration, eventStoreDdl, outboxBatchesMigration, outboxBatchRecordsMigration } from './event-store.schema';
import { OutboxRecord, OutboxRelay } from './outbox-relay';
import { testDatabaseUrl } from './test/database-url';

jest.setTimeout(60_000);

const uniqueId = (prefix: string) => `${prefix}_${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;

/** Real Postgres; the Kafka side of the relay is exercised by the services' integration tests. */
describe('event store, outbox relay and checkpoints on Postgres', () => {
  const schema = uniqueId('pt').toLowerCase();
  let ds: DataSource;
  let store: EventStore;

  beforeAll(async () => {
    ds = createServiceDataSource({ url: testDatabaseUrl(), schema, migrations: [] });
    await ds.initialize();
    await ds.query(`CREATE SCHEMA "${schema}"`);
    for (const sql of eventStoreDdl(schema)) await ds.query(sql);
    const runner = ds.createQueryRunner();
    for (const migration of [checkpointClusterMigration(schema, 1), outboxBatchesMigration(schema, 2), outboxBatchRecordsMigration(schema, 3)])
      await new migration().up(runner);
    await runner.release();
    store = new EventStore(schema);
  });

  afterAll(async () => {
    await ds.query(`DROP SCHEMA "${schema}" CASCADE`);
    await ds.destroy();
  });

  const event = (streamId: string, version: number): NewEvent => ({
    streamId,
    version,
    type: 'thing.happened',
    data: { n: version },
    topic: 't',
    key: streamId,
    occurredAt: new Date().toISOString(),
  });

  it('rejects a second writer of the same stream version (optimistic concurrency)', async () => {
    await inTransaction(ds, (em) => store.append(em, [event('s-occ', 1)]));
    const error = await inTransaction(ds, (em) => store.append(em, [event('s-occ', 1)]), { retries: 0 }).catch((e) => e);
    expect(error?.driverError?.constraint ?? error?.constraint).toBe('events_stream_version_uq');
  });

  it('publishes a row whose transaction commits late, instead of skipping it', async () => {
    const published: OutboxRecord[] = [];
    const relay = new OutboxRelay(ds, async (records) => void published.push(...records), { schema });
    await relay.flush();
    published.length = 0;

    // The early transaction takes the lower position but commits after a later one.
    const runner = ds.createQueryRunner();
    await runner.connect();
    await runner.startTransaction();
    await store.append(runner.manager, [event('late', 1)]);
    await inTransaction(ds, (em) => store.append(em, [event('early', 1)]));

    await relay.flush();
    expect(published.map((r) => r.key)).toEqual(['early']);

    await runner.commitTransaction();
    await runner.release();
    await relay.flush();
    expect(published.map((r) => r.key)).toEqual(['early', 'late']);

    const envelope = JSON.parse(published[1].value);
    expect(envelope).toMatchObject({ type: 'thing.happened', version: 1, key: 'late', data: { n: 1 } });
    expect(published[1].headers['x-event-id']).toBe(envelope.id);
    // CloudEvents binary content mode, for event tooling: the envelope is the event's data.
    expect(published[1].headers).toMatchObject({
      ce_specversion: '1.0',
      ce_id: envelope.id,
      ce_type: 'im.thing.happened',
      ce_time: envelope.occurred_at,
      ce_subject: 'late',
      'content-type': 'application/json',
    });
    expect(published[1].headers.ce_source).toMatch(/^\/im\//);
  });

  it('keeps per-stream order across concurrent flushes from two relays (two replicas)', async () => {
    const published: OutboxRecord[] = [];
    const slowPublish = async (records: OutboxRecord[]) => {
      await new Promise((r) => setTimeout(r, 5));
      published.push(...records);
    };
    const a = new OutboxRelay(ds, slowPublish, { schema, batchSize: 3 });
    const b = new OutboxRelay(ds, slowPublish, { schema, batchSize: 3 });
    await a.flush();
    published.length = 0;
    const writes: Promise<unknown>[] = [];
    for (let v = 1; v <= 30; v++) {
      await inTransaction(ds, (em) => store.append(em, [event('ordered', v)]));
      writes.push((v % 2 ? a : b).flush());
    }
    await Promise.all(writes);
    await a.flush();
    const versions = published.filter((r) => r.key === 'ordered').map((r) => JSON.parse(r.value).data.n);
    expect(versions).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    expect(await a.backlog()).toBe(0);
  });

  describe('writers that publish their own batches', () => {
    const keysOf = (records: OutboxRecord[], stream: string) => records.filter((r) => r.key === stream).map((r) => JSON.parse(r.value).data.n);
    const markers = async () => (await ds.query(`SELECT count(*)::int AS n FROM "${schema}".outbox_batches`))[0].n;

    it('publish right after commit, in order per stream across concurrent writers, leaving no marker and nothing for the relay', async () => {
      const published: OutboxRecord[] = [];
      const publish = async (records: OutboxRecord[]) => {
        await new Promise((r) => setTimeout(r, Math.random() * 4));
        published.push(...records);
      };
      const writers = [new OutboxRelay(ds, publish, { schema }), new OutboxRelay(ds, publish, { schema })];
      // The writers' own state (as the message log is the fanout's): each batch reads the last n and writes the next.
      await ds.query(`CREATE TABLE "${schema}".direct_log (n int PRIMARY KEY)`);
      await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          writers[i % 2].commitAndPublish(['direct'], {
            reads: [{ text: `SELECT coalesce(max(n), 0)::int AS n FROM "${schema}".direct_log` }],
            decide: async ([last]) => {
              const next = last.rows[0].n + 1;
              return {
                result: undefined,
                events: [event('direct', next)],
                writes: [{ text: `INSERT INTO "${schema}".direct_log VALUES ($1)`, values: [next] }],
              };
            },
          }),
        ),
      );
      expect(keysOf(published, 'direct')).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
      await Promise.all(writers.map((w) => w.settled()));
      expect(await markers()).toBe(0);
      expect(await writers[0].backlog()).toBe(0);
    });

    /** A writer that dies between commit and publish: its marker, with the batch's records, stays behind. */
    const dieAfterCommit = async (stream: string, n: number) => {
      const dying = new OutboxRelay(ds, async () => Promise.reject(new Error('died before publishing')), { schema });
      await expect(dying.commitAndPublish([stream], { reads: [], decide: async () => ({ result: undefined, events: [event(stream, n)] }) })).rejects.toThrow(
        'died',
      );
    };
    /** As writers left markers before their records were kept in them: events in the events table, positions in the marker. */
    const dieAfterCommitLeavingPositions = (stream: string, n: number) =>
      inTransaction(ds, async (em) => {
        const [stored] = await store.append(em, [event(stream, n)]);
        await em.query(`INSERT INTO "${schema}".outbox_batches (batch_id, positions, stream_ids) VALUES ($1, $2, $3)`, [
          randomUUID(),
          [stored.position],
          [stream],
        ]);
        await em.query(`UPDATE "${schema}".events SET published_at = now() WHERE position = $1`, [stored.position]);
      });

    const deadWriters = [
      ['with its records in the marker', dieAfterCommit],
      ['with its events in the events table (markers written before)', dieAfterCommitLeavingPositions],
    ] as const;

    it('store no event rows: the records wait in the marker until they are on Kafka', async () => {
      const relay = new OutboxRelay(ds, async () => undefined, { schema });
      await relay.commitAndPublish(['rowless'], { reads: [], decide: async () => ({ result: undefined, events: [event('rowless', 1)] }) });
      await relay.settled();
      expect((await ds.query(`SELECT count(*)::int AS n FROM "${schema}".events WHERE stream_id = 'rowless'`))[0].n).toBe(0);
      await dieAfterCommit('rowless', 2);
      const [marker] = await ds.query(`SELECT positions, records FROM "${schema}".outbox_batches WHERE 'rowless' = ANY(stream_ids)`);
      expect(marker.positions).toEqual([]);
      expect(marker.records.map((r: OutboxRecord) => JSON.parse(r.value).data.n)).toEqual([2]);
      await ds.query(`DELETE FROM "${schema}".outbox_batches WHERE 'rowless' = ANY(stream_ids)`);
    });

    it.each(deadWriters)('publish first what a writer that died between commit and publish left on the same stream, %s', async (_, die) => {
      const stream = uniqueId('orphaned');
      await die(stream, 1);
      await die(stream, 2);
      const published: OutboxRecord[] = [];
      const relay = new OutboxRelay(ds, async (records) => void published.push(...records), { schema });
      await relay.commitAndPublish([stream], { reads: [], decide: async () => ({ result: undefined, events: [event(stream, 3)] }) });
      expect(keysOf(published, stream)).toEqual([1, 2, 3]);
      expect(published[0].headers['x-event-type']).toBe('thing.happened');
      await relay.settled();
      expect(await markers()).toBe(0);
    });

    it.each(deadWriters)("leave to the relay a dead writer's batch on a stream nobody writes to again, once it is stale, %s", async (_, die) => {
      const stream = uniqueId('quiet');
      await die(stream, 1);
      const published: OutboxRecord[] = [];
      const relay = new OutboxRelay(ds, async (records) => void published.push(...records), { schema, staleBatchMs: 200 });
      await relay.flush();
      expect(keysOf(published, stream)).toEqual([]);
      expect(await relay.backlog()).toBe(0);
      await new Promise((r) => setTimeout(r, 250));
      expect(await relay.backlog()).toBe(1);
      await relay.flush();
      expect(keysOf(published, stream)).toEqual([1]);
      expect(await markers()).toBe(0);
    });
  });

  it('does not mark rows published when the publish fails, and retries them', async () => {
    let fail = true;
    const published: string[] = [];
    const relay = new OutboxRelay(
      ds,
      async (records) => {
        if (fail) throw new Error('broker down');
        published.push(...records.map((r) => r.key));
      },
      { schema },
    );
    await inTransaction(ds, (em) => store.append(em, [event('retry-me', 1)]));
    await expect(relay.flush()).rejects.toThrow('broker down');
    expect(await relay.backlog()).toBeGreaterThan(0);
    fail = false;
    await relay.flush();
    expect(published).toContain('retry-me');
    expect(await relay.backlog()).toBe(0);
  });

  it('claims a command id once', async () => {
    const id = uniqueId('cmd');
    expect(await inTransaction(ds, (em) => store.claimCommand(em, id))).toBe(true);
    expect(await inTransaction(ds, (em) => store.claimCommand(em, id))).toBe(false);
  });

  it('applies each record once, whatever is redelivered', async () => {
    const checkpoints = new ConsumerCheckpoints(schema, 'g1');
    const applied: string[] = [];
    const batch = (offsets: string[]) => ({ topic: 'x', partition: 0, records: offsets.map((offset) => ({ offset })) });
    const apply = (offsets: string[]) =>
      inTransaction(ds, (em) => checkpoints.applyOnce(em, batch(offsets), async (records) => void applied.push(...records.map((r) => r.offset))));

    expect(await apply(['0', '1', '2'])).toBe(3);
    expect(await apply(['1', '2', '3'])).toBe(1);
    expect(await apply(['0'])).toBe(0);
    expect(applied).toEqual(['0', '1', '2', '3']);
    expect((await checkpoints.positions(ds, ['x'])).get('x:0')).toBe(4n);

    // A failed apply leaves the checkpoint where it was.
    await expect(
      inTransaction(ds, (em) =>
        checkpoints.applyOnce(em, batch(['4']), async () => {
          throw new Error('boom');
        }),
      ),
    ).rejects.toThrow('boom');
    expect((await checkpoints.positions(ds, ['x'])).get('x:0')).toBe(4n);
  });
});
