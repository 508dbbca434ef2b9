import { createHash } from 'node:crypto';
import type { PoolClient } from 'pg';
import { EntityManager, QueryRunner } from 'typeorm';

const names = new Map<string, string>();

/** One name per statement text: node-postgres refuses a name reused for another text on a connection. */
function nameOf(text: string): string {
  let name = names.get(text);
  if (name === undefined) {
    name = `q_${createHash('sha1').update(text).digest('hex').slice(0, 20)}`;
    names.set(text, name);
  }
  return name;
}

/**
 * Connections held by a query runner for its whole life (see inReadSnapshot): a statement on one is
 * sent at once, in the caller's tick, so statements issued together keep their order in a pipeline.
 */
const pinnedClients = new WeakMap<QueryRunner, PoolClient>();

export function pinClient(runner: QueryRunner, client: PoolClient): void {
  pinnedClients.set(runner, client);
}

/**
 * Runs `text` as a prepared statement on the transaction's connection: parsed and planned once per
 * connection (Postgres switches to a generic plan after a few executions when it is not costlier),
 * where `em.query` plans every call anew. Statements with many joins spent more time planning than
 * running (pg_stat_statements, ADR 18). Outside a transaction it is `em.query`.
 */
export function queryPrepared<T = Record<string, unknown>>(em: EntityManager, text: string, values: unknown[] = []): Promise<T[]> {
  const runner = em.queryRunner;
  if (!runner || runner.isReleased) return em.query(text, values);
  const run = (client: PoolClient) => client.query({ name: nameOf(text), text, values }).then((result) => result.rows as T[]);
  const pinned = pinnedClients.get(runner);
  return pinned ? run(pinned) : runner.connect().then((client: PoolClient) => run(client));
}

/**
 * Makes every statement of the rest of the transaction use its generic plan, planned once per
 * connection. Postgres keeps planning a prepared statement anew while its generic plan's estimate is
 * above the custom ones' (with array parameters it assumes 100 elements, and a custom plan knows
 * there are 2), and for the conversations writes that planning cost more than the execution. Only
 * for statements written so their generic plan is good: key probes, no estimate-dependent choice.
 */
export async function preferGenericPlans(em: EntityManager): Promise<void> {
  await queryPrepared(em, "SELECT set_config('plan_cache_mode', 'force_generic_plan', true)");
}
