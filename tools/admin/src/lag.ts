import { quoteIdent } from '@im/persistence';
import { AdminContext } from './context';

export interface LagRow {
  group: string;
  topic: string;
  partition: number;
  /** Partition end (next offset to be written). */
  end: number;
  /** Offset the group committed on Kafka; undefined when it never committed. */
  committed?: number;
  /** Next offset the group applied according to its checkpoints table; undefined when none. */
  checkpoint?: number;
  schema?: string;
  /** end − checkpoint, or end − committed when the group keeps no checkpoints (what remains to apply). */
  lag: number;
}

/** Checkpoint rows of every service schema that has a checkpoints table. */
async function checkpointRows(ctx: AdminContext, schemas: readonly string[]) {
  const db = await ctx.db();
  const existing: { table_schema: string }[] = await db.query(
    `SELECT table_schema FROM information_schema.tables WHERE table_name = 'consumer_checkpoints' AND table_schema = ANY($1::text[])`,
    [schemas],
  );
  const rows: { schema: string; group_id: string; topic: string; partition: number; next_offset: string }[] = [];
  for (const { table_schema } of existing) {
    const found = await db.query(`SELECT group_id, topic, partition, next_offset FROM ${quoteIdent(table_schema)}.consumer_checkpoints`);
    rows.push(...found.map((r: (typeof rows)[number]) => ({ ...r, schema: table_schema })));
  }
  return rows;
}

/**
 * Lag per group/topic/partition from both sources of truth: the group's committed offsets on Kafka
 * and the checkpoints stored with the projection (what has really been applied). By default the
 * groups that keep checkpoints; `all` adds every other consumer group on the cluster.
 */
export async function consumerLag(ctx: AdminContext, opts: { schemas: readonly string[]; group?: string; all?: boolean }): Promise<LagRow[]> {
  const admin = await ctx.kafkaAdmin();
  const checkpoints = await checkpointRows(ctx, opts.schemas);
  const groups = new Set(checkpoints.map((c) => c.group_id));
  if (opts.all) for (const g of (await admin.listGroups()).groups) if (g.protocolType === 'consumer' || g.protocolType === '') groups.add(g.groupId);
  if (opts.group) {
    for (const g of [...groups]) if (g !== opts.group) groups.delete(g);
    groups.add(opts.group);
  }

  const rows = new Map<string, LagRow>();
  const ends = new Map<string, Map<number, { high: number; low: number }>>();
  const endsOf = async (topic: string) => {
    if (!ends.has(topic)) {
      const offsets = await admin.fetchTopicOffsets(topic).catch(() => []);
      ends.set(topic, new Map(offsets.map((o) => [o.partition, { high: Number(o.high), low: Number(o.low) }])));
    }
    return ends.get(topic)!;
  };
  const row = async (group: string, topic: string, partition: number) => {
    const key = `${group}\u0000${topic}\u0000${partition}`;
    if (!rows.has(key)) {
      const end = (await endsOf(topic)).get(partition)?.high ?? 0;
      rows.set(key, { group, topic, partition, end, lag: 0 });
    }
    return rows.get(key)!;
  };

  for (const group of groups) {
    const topics = new Set(checkpoints.filter((c) => c.group_id === group).map((c) => c.topic));
    const committed = await admin.fetchOffsets({ groupId: group });
    for (const t of committed) {
      topics.add(t.topic);
      for (const p of t.partitions) {
        const r = await row(group, t.topic, p.partition);
        if (Number(p.offset) >= 0) r.committed = Number(p.offset);
      }
    }
    // Partitions the group has not reached yet lag by everything on them.
    for (const topic of topics) for (const [partition] of await endsOf(topic)) await row(group, topic, partition);
  }
  for (const c of checkpoints) {
    if (!groups.has(c.group_id)) continue;
    const r = await row(c.group_id, c.topic, c.partition);
    r.checkpoint = Number(c.next_offset);
    r.schema = c.schema;
  }
  for (const r of rows.values()) {
    const low = (await endsOf(r.topic)).get(r.partition)?.low ?? 0;
    r.lag = Math.max(0, r.end - Math.max(low, r.checkpoint ?? r.committed ?? low));
  }
  return [...rows.values()].sort((a, b) => a.group.localeCompare(b.group) || a.topic.localeCompare(b.topic) || a.partition - b.partition);
}
