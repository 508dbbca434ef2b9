import { testDb } from '@im/testing';

/**
 * What Postgres spent on each statement during a phase, from pg_stat_statements when the server
 * preloads it (with `pg_stat_statements.track_planning = on` plan time is counted too): the view is
 * reset for the bench database at the start of the phase and read at its end. Without the
 * extension the probe says why and the report leaves the table out.
 */

export interface StatementStat {
  /** The statement as Postgres normalised it, whitespace collapsed, cut to a readable length. */
  sql: string;
  calls: number;
  /** How often it was planned: far fewer than calls for a prepared statement that runs a generic plan. */
  plans: number;
  planMs: number;
  execMs: number;
  rows: number;
}

export type StatementStats = { statements: StatementStat[] } | { unavailable: string };

const SHOWN = 10;
const SQL_CHARS = 110;

export class StatementProbe {
  private unavailable?: string;

  /** Empties the view for the bench database; space reclaimed by VACUUM first, as autovacuum would between phases. */
  async start(): Promise<void> {
    const db = await testDb();
    try {
      // The provisioned server may run without autovacuum: churned tables (outbox markers, heads)
      // would otherwise grow from phase to phase and every later figure would pay for it.
      await db.query('VACUUM (ANALYZE)');
      await db.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
      await db.query('SELECT pg_stat_statements_reset(0, (SELECT oid FROM pg_database WHERE datname = current_database()), 0)');
      this.unavailable = undefined;
    } catch (error) {
      this.unavailable = `pg_stat_statements is not usable on this server (${(error as Error).message.split('\n')[0]})`;
    } finally {
      await db.end();
    }
  }

  async stop(): Promise<StatementStats> {
    if (this.unavailable) return { unavailable: this.unavailable };
    const db = await testDb();
    try {
      const rows = await db.rows<{ query: string; calls: string; plans: string; plan_ms: number; exec_ms: number; rows: string }>(
        `SELECT query, calls, plans, total_plan_time AS plan_ms, total_exec_time AS exec_ms, rows
           FROM pg_stat_statements
          WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND query NOT ILIKE '%pg_stat_statements%'
          ORDER BY total_plan_time + total_exec_time DESC LIMIT ${SHOWN}`,
      );
      return {
        statements: rows.map((r) => {
          const sql = r.query.replace(/\s+/g, ' ').trim();
          return {
            sql: sql.length > SQL_CHARS ? `${sql.slice(0, SQL_CHARS - 1)}…` : sql,
            calls: Number(r.calls),
            plans: Number(r.plans),
            planMs: Number(r.plan_ms),
            execMs: Number(r.exec_ms),
            rows: Number(r.rows),
          };
        }),
      };
    } catch (error) {
      return { unavailable: `pg_stat_statements could not be read (${(error as Error).message.split('\n')[0]})` };
    } finally {
      await db.end();
    }
  }
}
