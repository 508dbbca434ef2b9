import { REPO_ROOT } from '@im/testing';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { log, machine, writeReportSection } from './lib';
import { renderExplainFile, renderSyncReport, SyncBenchResults } from './sync-report';
import { syncBenchSettings } from './sync-settings';
import { measureCost, measureExplain, measureHistory, measureLag, measureStorage, measureSync, measureVisible } from './sync-steps';
import { SyncSystem } from './sync-system';

/**
 * bench:sync — what a user's sync costs and how far behind the conversations projection runs:
 * SyncConversations full / incremental latency for users with 100 … 100,000 conversations, the
 * plans of the full sync's statements, SyncMessages pages from a 1,000,000-message channel, the
 * projection's lag at the maximum send rate, send → visible at half that rate, rows written per
 * message, and storage per message before and after the pruner. A benchmark, not a test: figures
 * are written to docs/benchmarks.md, nothing passes or fails. Usage: npm run bench:sync (knobs:
 * sync-settings.ts; BENCH_STEPS picks steps, BENCH_SCALE shrinks them).
 */

const EXPLAIN_FILE = 'bench-sync-explain.md';

async function main() {
  const s = syncBenchSettings();
  log(`scale ${s.scale}, steps ${[...s.steps].join(',')}`);
  const dir = s.writeDocs ? join(REPO_ROOT, 'docs') : join(REPO_ROOT, '.cache/bench');
  const results: SyncBenchResults = { settings: s, date: new Date().toISOString().slice(0, 10), machine: machine(), explainFile: EXPLAIN_FILE };
  const t0 = performance.now();
  const ctx = await SyncSystem.start(s);
  try {
    if (s.steps.has('sync')) results.sync = await measureSync(ctx, s);
    if (s.steps.has('explain')) results.explain = await measureExplain(ctx, s);
    if (s.steps.has('history')) results.history = await measureHistory(ctx, s);
    if (s.steps.has('lag')) results.lag = await measureLag(ctx, s);
    if (s.steps.has('visible')) results.visible = await measureVisible(ctx, s, results.lag);
    if (s.steps.has('cost')) results.cost = await measureCost(ctx, s);
    // Last: it measures after everything above was stored, and leaves the pruner running.
    if (s.steps.has('storage')) results.storage = await measureStorage(ctx, s);
  } finally {
    await ctx.stop();
  }
  mkdirSync(dir, { recursive: true });
  if (results.explain) {
    writeFileSync(join(dir, EXPLAIN_FILE), renderExplainFile(results));
    log(`wrote ${relative(REPO_ROOT, join(dir, EXPLAIN_FILE))}`);
  }
  writeReportSection('bench:sync', renderSyncReport(results), join(dir, s.writeDocs ? 'benchmarks.md' : 'sync-report.md'));
  log(`done in ${Math.round((performance.now() - t0) / 1000)} s`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
