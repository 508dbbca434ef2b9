import { DataSource } from 'typeorm';
import { createServiceDataSource } from './data-source';
import { queryPrepared } from './prepared';
import { inReadSnapshot } from './read-snapshot';
import { testDatabaseUrl } from './test/database-url';

jest.setTimeout(30_000);

describe('a pipelined read snapshot', () => {
  let ds: DataSource;
  const table = `snapshot_${Date.now().toString(36)}`;

  beforeAll(async () => {
    ds = createServiceDataSource({ url: testDatabaseUrl(), schema: 'public', migrations: [] });
    await ds.initialize();
    await ds.query(`CREATE TABLE ${table} (k int PRIMARY KEY, v int NOT NULL)`);
    await ds.query(`INSERT INTO ${table} VALUES (1, 1)`);
  });

  afterAll(async () => {
    await ds.query(`DROP TABLE ${table}`);
    await ds.destroy();
  });

  const read = (em: Parameters<typeof queryPrepared>[0]) => queryPrepared<{ v: number }>(em, `SELECT v FROM ${table} WHERE k = 1`).then(([row]) => row.v);

  it('reads one snapshot: a change committed between its statements is not seen', async () => {
    const seen = await inReadSnapshot(ds, async ({ em }) => {
      const first = await read(em);
      await ds.query(`UPDATE ${table} SET v = v + 1 WHERE k = 1`);
      return [first, await read(em)];
    });
    expect(seen[1]).toBe(seen[0]);
    expect(await inReadSnapshot(ds, async ({ em }) => read(em))).toBe(seen[0] + 1);
  });

  it('runs what was issued before COMMIT inside the transaction, even when issued together with it', async () => {
    const [setting] = await inReadSnapshot(ds, ({ em, commit }) =>
      Promise.all([
        queryPrepared<{ iso: string; ro: string }>(
          em,
          "SELECT current_setting('transaction_isolation') AS iso, current_setting('transaction_read_only') AS ro",
        ),
        commit(),
      ]),
    );
    expect(setting).toEqual([{ iso: 'repeatable read', ro: 'on' }]);
  });

  it('refuses writes, and after a failed statement rolls back and hands a clean connection back to the pool', async () => {
    await expect(inReadSnapshot(ds, ({ em }) => queryPrepared(em, `UPDATE ${table} SET v = 0 WHERE k = 1`))).rejects.toThrow(/read-only transaction/);
    // Every connection of the pool is reused after that: none is left in a transaction or in pipeline mode.
    const states = await Promise.all(
      Array.from({ length: 12 }, () => inReadSnapshot(ds, async ({ em }) => (await em.query("SELECT current_setting('transaction_isolation') AS iso"))[0].iso)),
    );
    expect(new Set(states)).toEqual(new Set(['repeatable read']));
    expect((await ds.query("SELECT current_setting('transaction_isolation') AS iso"))[0].iso).toBe('read committed');
  });
});
