import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join, relative } from 'node:path';
import { REPO_ROOT } from '@im/testing';

/** Shared by the benchmarks: percentiles, a bounded-concurrency runner, the machine, the report. */

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

/** A markdown table; `align` has one letter per column, `l` or `r`. */
export const table = (headers: string[], rows: string[][], align: string) =>
  [
    `| ${headers.join(' | ')} |`,
    `| ${headers.map((_, i) => (align[i] === 'r' ? '---:' : '---')).join(' | ')} |`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');

export const log = (...parts: unknown[]) => process.stderr.write(`[bench] ${parts.join(' ')}\n`);

export const machine = () =>
  `${cpus().length} cores (${cpus()[0]?.model.trim() ?? 'unknown CPU'}), ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;

/** Replaces the `## <title>` section of `file` (docs/benchmarks.md; up to the next `## `) with `body`. */
export function writeReportSection(title: string, body: string, file = join(REPO_ROOT, 'docs/benchmarks.md')): void {
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
  log(`wrote section "${title}" of ${relative(REPO_ROOT, file)}`);
}
