import { createServer, Socket } from 'node:net';
import { DataSource } from 'typeorm';
import { createServiceDataSource } from './data-source';
import { CoalescingSocket, runPipelined } from './pipeline';
import { testDatabaseUrl } from './test/database-url';

jest.setTimeout(30_000);

describe('pipelined statements on Postgres', () => {
  let ds: DataSource;
  const table = `pipeline_${Date.now().toString(36)}`;

  beforeAll(async () => {
    ds = createServiceDataSource({ url: testDatabaseUrl(), schema: 'public', migrations: [] });
    await ds.initialize();
    await ds.query(`CREATE TABLE ${table} (n int PRIMARY KEY)`);
  });

  afterAll(async () => {
    await ds.query(`DROP TABLE ${table}`);
    await ds.destroy();
  });

  const withClient = async <T>(work: (client: Parameters<typeof runPipelined>[0]) => Promise<T>): Promise<T> => {
    const runner = ds.createQueryRunner();
    try {
      return await work(await runner.connect());
    } finally {
      await runner.release();
    }
  };

  it('answers every statement in order, each seeing what the ones before it did, and leaves the client as it was', async () => {
    await withClient(async (client) => {
      const results = await runPipelined(client, [
        { text: 'BEGIN' },
        { text: `INSERT INTO ${table} VALUES ($1), ($2)`, values: [1, 2] },
        { name: `${table}.count`, text: `SELECT count(*)::int AS n FROM ${table}` },
        { text: `INSERT INTO ${table} VALUES ($1)`, values: [3] },
        { name: `${table}.count`, text: `SELECT count(*)::int AS n FROM ${table}` },
        { text: 'COMMIT' },
      ]);
      expect(results.map((r) => r.command)).toEqual(['BEGIN', 'INSERT', 'SELECT', 'INSERT', 'SELECT', 'COMMIT']);
      expect([results[2].rows[0].n, results[4].rows[0].n]).toEqual([2, 3]);
      expect((client as { pipeline?: boolean }).pipeline).toBe(false);
      // The client works as before for statements awaited one by one.
      expect((await client.query(`SELECT count(*)::int AS n FROM ${table}`)).rows[0].n).toBe(3);
    });
  });

  it('rejects with the first failure, and nothing of the failed transaction is applied', async () => {
    await withClient(async (client) => {
      const error = await runPipelined(client, [
        { text: 'BEGIN' },
        { text: `INSERT INTO ${table} VALUES ($1)`, values: [10] },
        { text: `INSERT INTO ${table} VALUES ($1)`, values: [1] }, // duplicate key
        { text: `INSERT INTO ${table} VALUES ($1)`, values: [11] },
        { text: 'COMMIT' },
      ]).catch((e) => e);
      expect(error).toMatchObject({ code: '23505' });
      await client.query('ROLLBACK');
      expect((await client.query(`SELECT n FROM ${table} WHERE n >= 10`)).rows).toEqual([]);
    });
  });
});

describe('CoalescingSocket', () => {
  it('sends what is written in one tick as one write to the operating system', async () => {
    const server = createServer((s) => s.resume());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    const socket = new CoalescingSocket();
    await new Promise<void>((resolve) => socket.connect(port, '127.0.0.1', resolve));
    const single = jest.spyOn(socket as unknown as { _write: Socket['_write'] }, '_write');
    const many = jest.spyOn(socket as unknown as { _writev: NonNullable<Socket['_writev']> }, '_writev');
    socket.write('parse');
    socket.write('bind');
    socket.write(Buffer.from('execute'));
    await new Promise((r) => setImmediate(r));
    expect(single).not.toHaveBeenCalled();
    expect(many).toHaveBeenCalledTimes(1);
    expect(many.mock.calls[0][0]).toHaveLength(3);
    socket.destroy();
    await new Promise((r) => server.close(r));
  });
});
