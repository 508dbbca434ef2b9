import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { REPO_ROOT, testEnv } from '@im/testing';

/** The broker's and the database's own limits on this machine, measured next to the services. */

export interface KafkaRawLimit {
  recordsPerSec: number;
  mbPerSec: number;
  records: number;
  recordSize: number;
}

/** Kafka's ProducerPerformance, acks=all, idempotent, into a new 3-partition topic (deleted after). */
export function kafkaRawProduceLimit(records = 200_000, recordSize = 300): KafkaRawLimit {
  const lib = join(REPO_ROOT, '.cache/kafka/lib');
  if (!existsSync(lib)) throw new Error('no Kafka jars in .cache/kafka/lib: run `npm run infra:up` first');
  const topic = `bench.raw.${Date.now()}`;
  const java = (main: string, args: string[]) =>
    execFileSync('java', ['-Xmx512m', '-cp', `${lib}/*`, main, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const brokers = testEnv().kafkaBrokers;
  java('org.apache.kafka.tools.TopicCommand', ['--bootstrap-server', brokers, '--create', '--topic', topic, '--partitions', '3', '--replication-factor', '1']);
  try {
    const out = java('org.apache.kafka.tools.ProducerPerformance', [
      '--topic',
      topic,
      '--num-records',
      String(records),
      '--record-size',
      String(recordSize),
      '--throughput',
      '-1',
      '--producer-props',
      `bootstrap.servers=${brokers}`,
      'acks=all',
      'enable.idempotence=true',
      'linger.ms=5',
    ]);
    const last = out.trim().split('\n').pop() ?? '';
    const m = /([\d.]+) records\/sec \(([\d.]+) MB\/sec\)/.exec(last);
    if (!m) throw new Error(`unexpected ProducerPerformance output: ${last}`);
    return { recordsPerSec: Number(m[1]), mbPerSec: Number(m[2]), records, recordSize };
  } finally {
    java('org.apache.kafka.tools.TopicCommand', ['--bootstrap-server', brokers, '--delete', '--topic', topic]);
  }
}

export interface PostgresRawLimits {
  /** Rows shipped from the client as arrays, one INSERT and one COMMIT per batch. */
  batched: { rows: number; batch: number; rowsPerSec: number };
  /** One autocommit INSERT of one row per round trip: one transaction, one commit, per row. */
  singleRow: { rows: number; rowsPerSec: number };
  /** The settings that decide what a commit costs. */
  synchronousCommit: string;
  fsync: string;
}

const ROW_PAYLOAD = 'x'.repeat(200);

/**
 * Inserts into a scratch LOGGED table (WAL-logged and durable like the services' tables), created
 * and dropped here in the bench's database: set-based batches, then one row per transaction.
 */
export async function postgresRawInsertLimits(opts: { batchedRows: number; batch: number; singleRows: number }): Promise<PostgresRawLimits> {
  const client = new Client({ connectionString: testEnv().databaseUrl });
  await client.connect();
  const table = `bench_raw_inserts_${process.pid}`;
  try {
    await client.query(`CREATE TABLE ${table} (channel text NOT NULL, seq bigint NOT NULL, payload text NOT NULL, PRIMARY KEY (channel, seq))`);
    const rowsOf = (from: number, n: number) => {
      const seqs = Array.from({ length: n }, (_, k) => from + k);
      return [seqs.map((s) => `c${s % 100}`), seqs, seqs.map(() => ROW_PAYLOAD)];
    };

    let t0 = performance.now();
    for (let i = 0; i < opts.batchedRows; i += opts.batch) {
      await client.query('BEGIN');
      await client.query(
        `INSERT INTO ${table} SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[])`,
        rowsOf(i, Math.min(opts.batch, opts.batchedRows - i)),
      );
      await client.query('COMMIT');
    }
    const batchedPerSec = opts.batchedRows / ((performance.now() - t0) / 1000);

    t0 = performance.now();
    for (let i = 0; i < opts.singleRows; i++) {
      await client.query(`INSERT INTO ${table} VALUES ($1, $2, $3)`, [`single${i % 100}`, i, ROW_PAYLOAD]);
    }
    const singlePerSec = opts.singleRows / ((performance.now() - t0) / 1000);

    const setting = async (name: string) => (await client.query(`SELECT current_setting('${name}') AS v`)).rows[0].v as string;
    return {
      batched: { rows: opts.batchedRows, batch: opts.batch, rowsPerSec: batchedPerSec },
      singleRow: { rows: opts.singleRows, rowsPerSec: singlePerSec },
      synchronousCommit: await setting('synchronous_commit'),
      fsync: await setting('fsync'),
    };
  } finally {
    await client.query(`DROP TABLE IF EXISTS ${table}`).catch(() => undefined);
    await client.end();
  }
}
