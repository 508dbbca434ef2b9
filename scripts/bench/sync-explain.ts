import { testDb } from '@im/testing';
import { Client } from 'pg';

/**
 * EXPLAIN (ANALYZE, BUFFERS) of the statements a SyncConversations call runs, captured as the
 * conversations service issues them rather than re-typed here (its SQL changes).
 *
 * First choice: auto_explain, loaded into the service's own sessions only (session_preload_libraries
 * in the connection's startup options, which a superuser may set), logging every statement's plan at
 * NOTICE level so the plans travel back on the service's connections, where a NoticeTap between the
 * service and Postgres picks them up. No server restart, no access to the server's log file.
 * Fallback: pg_stat_statements, when the server preloads it: per-statement time, rows and buffers of
 * the statements run during the syncs, without plans. Otherwise the step says why it has nothing.
 */

export type PlanCapture = { method: 'auto_explain' } | { method: 'pg_stat_statements' } | { method: 'none'; reason: string };

const AUTO_EXPLAIN_SETTINGS = [
  'session_preload_libraries=auto_explain',
  'auto_explain.log_min_duration=0',
  'auto_explain.log_analyze=on',
  'auto_explain.log_buffers=on',
  'auto_explain.log_timing=on',
  'auto_explain.log_nested_statements=off',
  'auto_explain.log_format=text',
  'auto_explain.log_level=notice',
  'client_min_messages=notice',
];

const autoExplainOptions = () => AUTO_EXPLAIN_SETTINGS.map((s) => `-c ${s}`).join(' ');

/** `databaseUrl` through the tap's port, with auto_explain on in every session opened with it. */
export function autoExplainUrl(databaseUrl: string, tapPort: number): string {
  const url = new URL(databaseUrl);
  url.hostname = '127.0.0.1';
  url.port = String(tapPort);
  url.searchParams.set('options', autoExplainOptions());
  return url.toString();
}

const messageOf = (error: unknown) => (error as Error).message.split('\n')[0];

/** Which way of capturing plans this server allows, tried in order of preference. */
export async function planCaptureSupport(databaseUrl: string): Promise<PlanCapture> {
  const reasons: string[] = [];
  const probe = new Client({ connectionString: databaseUrl, options: autoExplainOptions() });
  try {
    await probe.connect();
    await probe.query('SHOW auto_explain.log_analyze');
    return { method: 'auto_explain' };
  } catch (error) {
    reasons.push(`auto_explain cannot be loaded into a session (${messageOf(error)})`);
  } finally {
    await probe.end().catch(() => undefined);
  }
  const db = await testDb();
  try {
    // Creating the extension is harmless in the bench's database, but its view answers only when
    // the server preloads the library; otherwise nothing stays behind.
    await db.query('BEGIN');
    await db.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
    await db.query('SELECT 1 FROM pg_stat_statements LIMIT 1');
    await db.query('COMMIT');
    return { method: 'pg_stat_statements' };
  } catch (error) {
    await db.query('ROLLBACK').catch(() => undefined);
    reasons.push(`pg_stat_statements is not usable (${messageOf(error)})`);
  } finally {
    await db.end();
  }
  return { method: 'none', reason: reasons.join('; ') };
}

export interface CapturedStatement {
  /** The statement as the service sent it, whitespace collapsed. */
  sql: string;
  /** Its plan with actual rows, times and buffers (empty from pg_stat_statements). */
  plan: string;
  durationMs: number;
  topNode: string;
  /** Rows read by scan nodes (rows returned × loops, plus rows removed by their filters). */
  rowsExamined: number;
  /** Shared buffers hit plus read, for the whole statement. */
  sharedBuffers: number;
  calls?: number;
}

const collapse = (sql: string) => sql.replace(/\s+/g, ' ').trim();

const NODE = /^\s*(?:->\s+)?(.+?)\s+\(cost=[^)]*\)\s+\((?:actual time=[\d.]+\.\.[\d.]+ rows=(\d+) loops=(\d+)|never executed)\)/;
/** Scan nodes that read no table rows of their own: a bitmap index scan's rows are the bitmap heap scan's above it. */
const NOT_READING_A_RELATION = /^(Subquery|CTE|Function|Values|WorkTable|Table Function|Named Tuplestore|Bitmap Index) Scan/;

/** Parses one auto_explain notice: "duration: X ms  plan:\nQuery Text: …\n<plan>". */
export function parsePlanNotice(text: string): CapturedStatement | undefined {
  const head = /^duration: ([\d.]+) ms\s+plan:\n/.exec(text);
  if (!head) return undefined;
  const body = text.slice(head[0].length);
  const lines = body.split('\n');
  const planStart = lines.findIndex((l) => NODE.test(l));
  const sql = collapse(
    lines
      .slice(0, planStart < 0 ? lines.length : planStart)
      .join('\n')
      .replace(/^Query Text:\s*/, ''),
  );
  const plan = planStart < 0 ? '' : lines.slice(planStart).join('\n').trimEnd();
  let topNode = '';
  let rowsExamined = 0;
  let sharedBuffers: number | undefined;
  let loops = 0;
  let scanning = false;
  for (const line of planStart < 0 ? [] : lines.slice(planStart)) {
    const node = NODE.exec(line);
    if (node) {
      const name = node[1];
      topNode ||= name;
      loops = node[2] === undefined ? 0 : Number(node[3]);
      scanning = / Scan/.test(` ${name}`) && !NOT_READING_A_RELATION.test(name);
      if (scanning) rowsExamined += Number(node[2] ?? 0) * loops;
      continue;
    }
    const removed = /^\s*Rows Removed by (?:Filter|Index Recheck): (\d+)/.exec(line);
    // EXPLAIN shows removed rows per loop, like rows.
    if (removed && scanning) rowsExamined += Number(removed[1]) * loops;
    const buffers = /^\s*Buffers: shared(.*)$/.exec(line);
    if (buffers && sharedBuffers === undefined) {
      sharedBuffers = [...buffers[1].matchAll(/(hit|read)=(\d+)/g)].reduce((n, m) => n + Number(m[2]), 0);
    }
  }
  return { sql, plan, durationMs: Number(head[1]), topNode, rowsExamined, sharedBuffers: sharedBuffers ?? 0 };
}

/** pg_stat_statements: forgets this database's statements, so the next read shows only what ran since. */
export async function resetStatementStats(): Promise<void> {
  const db = await testDb();
  try {
    await db.query('SELECT pg_stat_statements_reset(0, (SELECT oid FROM pg_database WHERE datname = current_database()), 0)');
  } finally {
    await db.end();
  }
}

/** pg_stat_statements: the statements of this database run since the reset, costliest first. */
export async function statementStats(): Promise<CapturedStatement[]> {
  const db = await testDb();
  try {
    const rows = await db.rows<{ query: string; calls: string; rows: string; mean_ms: number; blocks: string }>(
      `SELECT query, calls, rows, mean_exec_time AS mean_ms, shared_blks_hit + shared_blks_read AS blocks
         FROM pg_stat_statements
        WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND query NOT ILIKE '%pg_stat_statements%'
        ORDER BY total_exec_time DESC LIMIT 20`,
    );
    return rows.map((r) => ({
      sql: collapse(r.query),
      plan: '',
      durationMs: Number(r.mean_ms),
      topNode: '',
      rowsExamined: Number(r.rows) / Math.max(1, Number(r.calls)),
      sharedBuffers: Number(r.blocks) / Math.max(1, Number(r.calls)),
      calls: Number(r.calls),
    }));
  } finally {
    await db.end();
  }
}
