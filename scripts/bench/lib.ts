import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { REPO_ROOT, testEnv } from '@im/testing';

/** Shared by the benchmarks: percentiles, a bounded-concurrency runner, raw limits, the report. */

export const percentile = (sortedMs: number[], p: number) =>
  sortedMs.length === 0 ? 0 : sortedMs[Math.min(sortedMs.length - 1, Math.ceil((p / 100) * sortedMs.length) - 1)];

export function latencySummary(samplesMs: number[]) {
  const sorted = [...samplesMs].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), n: sorted.length };
}

export const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

/** Runs `count` tasks with at most `concurrency` in flight; returns per-task latencies in ms. */
export async function runConcurrently(count: number, concurrency: number, task: (i: number) => Promise<void>): Promise<number[]> {
  const latencies: number[] = new Array(count);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < count; i = next++) {
      const t0 = performance.now();
      await task(i);
      latencies[i] = performance.now() - t0;
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return latencies;
}

export const log = (...parts: unknown[]) => process.stderr.write(`[bench] ${parts.join(' ')}\n`);

/** The broker's own produce limit on this machine: Kafka's ProducerPerformance, acks=all, idempotent. */
export function kafkaRawProduceLimit(records = 200_000, recordSize = 300): { recordsPerSec: number; mbPerSec: number } {
  const lib = join(REPO_ROOT, '.cache/kafka/lib');
  if (!existsSync(lib)) throw new Error('no Kafka jars in .cache/kafka/lib: run `npm run infra:up` first');
  const topic = `bench.raw.${Date.now()}`;
  const java = (main: string, args: string[]) =>
    execFileSync('java', ['-Xmx512m', '-cp', `${lib}/*`, main, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const brokers = testEnv().kafkaBrokers;
  java('org.apache.kafka.tools.TopicCommand', ['--bootstrap-server', brokers, '--create', '--topic', topic, '--partitions', '3', '--replication-factor', '1']);
  try {
    const out = java('org.apache.kafka.tools.ProducerPerformance', [
      '--topic', topic, '--num-records', String(records), '--record-size', String(recordSize), '--throughput', '-1',
      '--producer-props', `bootstrap.servers=${brokers}`, 'acks=all', 'enable.idempotence=true', 'linger.ms=5',
    ]);
    const last = out.trim().split('\n').pop() ?? '';
    const m = /([\d.]+) records\/sec \(([\d.]+) MB\/sec\)/.exec(last);
    if (!m) throw new Error(`unexpected ProducerPerformance output: ${last}`);
    return { recordsPerSec: Number(m[1]), mbPerSec: Number(m[2]) };
  } finally {
    java('org.apache.kafka.tools.TopicCommand', ['--bootstrap-server', brokers, '--delete', '--topic', topic]);
  }
}

/** The database's own limit for the write pattern the services use: set-based INSERTs of 500 rows per transaction. */
export async function postgresRawInsertLimit(rows = 200_000, batch = 500): Promise<{ rowsPerSec: number }> {
  const client = new Client({ connectionString: testEnv().databaseUrl });
  await client.connect();
  try {
    await client.query('CREATE TEMP TABLE bench_raw (channel text, seq bigint, payload text, PRIMARY KEY (channel, seq))');
    const t0 = performance.now();
    for (let i = 0; i < rows; i += batch) {
      const n = Math.min(batch, rows - i);
      await client.query('BEGIN');
      await client.query(
        "INSERT INTO bench_raw SELECT 'c' || (s % 100), s, repeat('x', 200) FROM generate_series($1::bigint, $2::bigint) AS s",
        [i, i + n - 1],
      );
      await client.query('COMMIT');
    }
    return { rowsPerSec: rows / ((performance.now() - t0) / 1000) };
  } finally {
    await client.end();
  }
}

export const machine = () => `${cpus().length} cores (${cpus()[0]?.model.trim() ?? 'unknown CPU'}), ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;

/** Replaces the `## <title>` section of docs/benchmarks.md (up to the next `## `) with `body`. */
export function writeReportSection(title: string, body: string): void {
  const file = join(REPO_ROOT, 'docs/benchmarks.md');
  const doc = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmarks\n';
  const heading = `## ${title}`;
  const start = doc.indexOf(`${heading}\n`);
  const section = `${heading}\n\n${body.trim()}\n\n`;
  let next: string;
  if (start < 0) {
    next = `${doc.trimEnd()}\n\n${section}`;
  } else {
    const end = doc.indexOf('\n## ', start + heading.length);
    next = doc.slice(0, start) + section + (end < 0 ? '' : doc.slice(end + 1));
  }
  writeFileSync(file, next.trimEnd() + '\n');
  log(`wrote section "${title}" of docs/benchmarks.md`);
}
