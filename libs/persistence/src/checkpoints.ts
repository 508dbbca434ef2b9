import { DataSource, EntityManager } from 'typeorm';
import { quoteIdent } from './data-source';

export interface PartitionBatch<R extends { offset: string }> {
  topic: string;
  partition: number;
  records: R[];
}

/**
 * The next offset each consumer group has applied, stored beside the projection it feeds and
 * written in the same transaction. That makes redelivery harmless (records below the checkpoint are
 * skipped) and lets any instance answer "has this group applied everything up to offset N?".
 */
export class ConsumerCheckpoints {
  private readonly table: string;

  constructor(
    schema: string,
    readonly groupId: string,
  ) {
    this.table = `${quoteIdent(schema)}.consumer_checkpoints`;
  }

  /**
   * Applies the part of a batch this group has not applied yet, and moves the checkpoint past it,
   * atomically. The checkpoint row is locked so two consumers briefly owning the same partition
   * during a rebalance cannot both apply it.
   */
  async applyOnce<R extends { offset: string }>(
    em: EntityManager,
    batch: PartitionBatch<R>,
    apply: (records: R[]) => Promise<void>,
  ): Promise<number> {
    if (batch.records.length === 0) return 0;
    await em.query(
      `INSERT INTO ${this.table} (group_id, topic, partition, next_offset) VALUES ($1, $2, $3, 0) ON CONFLICT DO NOTHING`,
      [this.groupId, batch.topic, batch.partition],
    );
    const [row] = await em.query(
      `SELECT next_offset FROM ${this.table} WHERE group_id = $1 AND topic = $2 AND partition = $3 FOR UPDATE`,
      [this.groupId, batch.topic, batch.partition],
    );
    const next = BigInt(row.next_offset);
    const fresh = batch.records.filter((r) => BigInt(r.offset) >= next);
    if (fresh.length === 0) return 0;
    await apply(fresh);
    const last = BigInt(fresh[fresh.length - 1].offset) + 1n;
    await em.query(`UPDATE ${this.table} SET next_offset = $4, updated_at = now() WHERE group_id = $1 AND topic = $2 AND partition = $3`, [
      this.groupId,
      batch.topic,
      batch.partition,
      last.toString(),
    ]);
    return fresh.length;
  }

  /** Applied positions keyed `topic:partition` → next offset. */
  async positions(dataSource: DataSource | EntityManager, topics: string[]): Promise<Map<string, bigint>> {
    const rows: { topic: string; partition: number; next_offset: string }[] = await dataSource.query(
      `SELECT topic, partition, next_offset FROM ${this.table} WHERE group_id = $1 AND topic = ANY($2::text[])`,
      [this.groupId, topics],
    );
    return new Map(rows.map((r) => [`${r.topic}:${r.partition}`, BigInt(r.next_offset)]));
  }

  /** The next offset this group applies in one partition (0 when it has applied none). */
  async position(dataSource: DataSource | EntityManager, topic: string, partition: number): Promise<bigint> {
    const rows: { next_offset: string }[] = await dataSource.query(
      `SELECT next_offset FROM ${this.table} WHERE group_id = $1 AND topic = $2 AND partition = $3`,
      [this.groupId, topic, partition],
    );
    return rows.length ? BigInt(rows[0].next_offset) : 0n;
  }

  /** Forgets every position of this group: the next run re-applies from the start (projection rebuild). */
  async reset(em: DataSource | EntityManager): Promise<void> {
    await em.query(`DELETE FROM ${this.table} WHERE group_id = $1`, [this.groupId]);
  }
}
