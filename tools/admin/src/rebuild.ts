import { quoteIdent } from '@im/persistence';
import { ProjectionRegistration } from '@im/service-kit';
import { AdminContext } from './context';
import { ProgressBar } from './progress';

export class AdminError extends Error {}

export interface RebuildPlan {
  service: string;
  groupId: string;
  topics: string[];
  tables: string[];
  resetColumns: { table: string; column: string; to: number }[];
}

/** Resolves what to rebuild from the registry, or from explicit `--tables` for a group not registered. */
export function planRebuild(
  registry: readonly ProjectionRegistration[],
  service: string,
  groupId: string,
  explicitTables?: string[],
  explicitTopics?: string[],
): RebuildPlan {
  const registered = registry.find((r) => r.service === service && r.groupId === groupId);
  if (!registered && !explicitTables) {
    const known = registry.map((r) => `${r.service} ${r.groupId}`).join(', ') || 'none';
    throw new AdminError(
      `${service} ${groupId} is not a registered projection (registered: ${known}); register it in scripts/projections.ts, or pass --tables t1,t2 (or --tables none)`,
    );
  }
  const tables = explicitTables ?? registered!.tables;
  const resetColumns = explicitTables ? [] : (registered?.resetColumns ?? []);
  for (const t of [...tables, ...resetColumns.flatMap((r) => [r.table, r.column])]) quoteIdent(t);
  quoteIdent(service);
  return { service, groupId, topics: explicitTopics ?? registered?.topics ?? [], tables, resetColumns };
}

/**
 * Stop-the-world rebuild of one projection: refuses while any member of the group is connected
 * (stop the service first), then in one transaction truncates the projection's tables, resets its
 * position columns and forgets the group's checkpoints, and rewinds the group's Kafka offsets to the earliest. Restarting the
 * service replays the topics from offset 0 into empty tables.
 */
export async function rebuild(
  ctx: AdminContext,
  plan: RebuildPlan,
): Promise<{ topics: string[]; truncated: string[]; reset: string[]; checkpointsDeleted: number }> {
  const admin = await ctx.kafkaAdmin();
  const { groups } = await admin.describeGroups([plan.groupId]);
  const group = groups[0];
  if (group && group.members.length > 0) {
    throw new AdminError(
      `consumer group ${plan.groupId} has ${group.members.length} active member(s) (state ${group.state}): stop every instance of ${plan.service} first`,
    );
  }
  const committed = await admin.fetchOffsets({ groupId: plan.groupId });
  const topics = [...new Set([...plan.topics, ...committed.map((t) => t.topic)])];

  const db = await ctx.db();
  const schema = quoteIdent(plan.service);
  let checkpointsDeleted = 0;
  await db.transaction(async (em) => {
    if (plan.tables.length > 0) await em.query(`TRUNCATE ${plan.tables.map((t) => `${schema}.${quoteIdent(t)}`).join(', ')}`);
    for (const { table, column, to } of plan.resetColumns) {
      await em.query(`UPDATE ${schema}.${quoteIdent(table)} SET ${quoteIdent(column)} = $1`, [to]);
    }
    const deleted = await em.query(`DELETE FROM ${schema}.consumer_checkpoints WHERE group_id = $1 RETURNING topic`, [plan.groupId]);
    checkpointsDeleted = Array.isArray(deleted[0]) ? deleted[0].length : deleted.length;
    for (const r of (Array.isArray(deleted[0]) ? deleted[0] : deleted) as { topic: string }[]) if (!topics.includes(r.topic)) topics.push(r.topic);
  });
  // After the database: a crash in between leaves a group that replays into empty tables anyway
  // (checkpoints are gone), never tables that skip history.
  // Real offsets (each partition's low watermark), not the -2 sentinel: every client reads them the same way.
  for (const topic of topics) {
    const offsets = await admin.fetchTopicOffsets(topic);
    await admin.setOffsets({ groupId: plan.groupId, topic, partitions: offsets.map((o) => ({ partition: o.partition, offset: o.low })) });
  }
  return { topics, truncated: plan.tables, reset: plan.resetColumns.map((r) => `${r.table}.${r.column}`), checkpointsDeleted };
}

/**
 * Shows the rebuild's progress as the restarted service applies records: the group's checkpoints
 * against the partition ends taken when watching began. Resolves once it has caught up.
 */
export async function watchRebuild(ctx: AdminContext, plan: RebuildPlan, topics: string[], pollMs = 500): Promise<void> {
  const admin = await ctx.kafkaAdmin();
  const db = await ctx.db();
  const target = new Map<string, { low: bigint; high: bigint }>();
  for (const topic of topics) {
    for (const o of await admin.fetchTopicOffsets(topic)) target.set(`${topic}:${o.partition}`, { low: BigInt(o.low), high: BigInt(o.high) });
  }
  const total = [...target.values()].reduce((n, t) => n + Number(t.high - t.low), 0);
  const bar = new ProgressBar(`rebuilding ${plan.service}/${plan.groupId}`);
  for (;;) {
    const rows: { topic: string; partition: number; next_offset: string }[] = await db.query(
      `SELECT topic, partition, next_offset FROM ${quoteIdent(plan.service)}.consumer_checkpoints WHERE group_id = $1`,
      [plan.groupId],
    );
    const applied = new Map(rows.map((r) => [`${r.topic}:${r.partition}`, BigInt(r.next_offset)]));
    let done = 0;
    for (const [tp, { low, high }] of target) {
      const at = applied.get(tp) ?? low;
      done += Number((at > high ? high : at < low ? low : at) - low);
    }
    bar.update(done, total);
    if (done >= total) break;
    await new Promise((r) => setTimeout(r, pollMs));
  }
  bar.finish();
}
