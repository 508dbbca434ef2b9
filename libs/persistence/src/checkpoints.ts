import { DataSource, EntityManager } from 'typeorm';
import { quoteIdent } from './data-source';

export interface PartitionBatch<R extends { offset: string }> {
  topic: string;
  partition: number;
  records: R[];
  /** The Kafka cluster the records come from: a checkpoint taken on another cluster is never trusted. */
  clusterId?: string;
}

/**
 * A stored position that does not belong to the partition it is being applied to: taken on another
 * Kafka cluster (a second clone sharing the database, a migration, a restore), or beyond the
 * partition's end (the topic was deleted and created again). Trusting it would skip every new record
 * below it, so the consumer stops instead and says how to fix it.
 */
export class CheckpointMismatchError extends Error {
  constructor(
    readonly groupId: string,
    readonly topic: string,
    readonly partition: number,
    readonly detail: string,
  ) {
    super(`checkpoint of consumer group ${groupId} on ${topic}:${partition} does not belong to this Kafka cluster: ${detail}`);
    this.name = 'CheckpointMismatchError';
  }
}

interface CheckpointRow {
  next_offset: string;
  cluster_id: string | null;
}

/**
 * The next offset each consumer group has applied, stored beside the projection it feeds and
 * written in the same transaction. That makes redelivery harmless (records below the checkpoint are
 * skipped) and lets any instance answer "has this group applied everything up to offset N?".
 * Each checkpoint also records the Kafka cluster it was taken on, so that it is never applied to
 * another cluster's partition.
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
   * during a rebalance cannot both apply it. Throws CheckpointMismatchError, applying nothing, when
   * the stored position was taken on another cluster.
   */
  async applyOnce<R extends { offset: string }>(em: EntityManager, batch: PartitionBatch<R>, apply: (records: R[]) => Promise<void>): Promise<number> {
    if (batch.records.length === 0) return 0;
    const clusterId = batch.clusterId ?? null;
    await em.query(`INSERT INTO ${this.table} (group_id, topic, partition, next_offset, cluster_id) VALUES ($1, $2, $3, 0, $4) ON CONFLICT DO NOTHING`, [
      this.groupId,
      batch.topic,
      batch.partition,
      clusterId,
    ]);
    const [row]: CheckpointRow[] = await em.query(
      `SELECT next_offset, cluster_id FROM ${this.table} WHERE group_id = $1 AND topic = $2 AND partition = $3 FOR UPDATE`,
      [this.groupId, batch.topic, batch.partition],
    );
    const mismatch = checkpointMismatch(row, clusterId);
    if (mismatch) throw new CheckpointMismatchError(this.groupId, batch.topic, batch.partition, mismatch);
    const next = BigInt(row.next_offset);
    const fresh = batch.records.filter((r) => BigInt(r.offset) >= next);
    if (fresh.length === 0) return 0;
    await apply(fresh);
    const last = BigInt(fresh[fresh.length - 1].offset) + 1n;
    // A checkpoint written before clusters were recorded adopts the cluster it was just checked against.
    await em.query(
      `UPDATE ${this.table} SET next_offset = $4, cluster_id = coalesce($5, cluster_id), updated_at = now()
        WHERE group_id = $1 AND topic = $2 AND partition = $3`,
      [this.groupId, batch.topic, batch.partition, last.toString(), clusterId],
    );
    return fresh.length;
  }

  /**
   * Checks a partition's stored position against the cluster and the partition it is about to be
   * consumed from (on assignment, so that quiet partitions are checked too). The end offset is
   * fetched after the position is read: the end only grows, and the position only counts records
   * that existed, so a position beyond the end cannot be this partition's. A position stored
   * before clusters were recorded adopts this cluster once it passes. Resolves to the problem, or
   * undefined when the position belongs here (or there is none).
   */
  async verify(
    dataSource: DataSource | EntityManager,
    partition: { clusterId: string; topic: string; partition: number; endOffset: () => Promise<bigint> },
  ): Promise<string | undefined> {
    const key = [this.groupId, partition.topic, partition.partition];
    const rows: CheckpointRow[] = await dataSource.query(
      `SELECT next_offset, cluster_id FROM ${this.table} WHERE group_id = $1 AND topic = $2 AND partition = $3`,
      key,
    );
    if (rows.length === 0) return undefined;
    const mismatch = checkpointMismatch(rows[0], partition.clusterId, await partition.endOffset());
    if (!mismatch && rows[0].cluster_id === null) {
      await dataSource.query(`UPDATE ${this.table} SET cluster_id = $4 WHERE group_id = $1 AND topic = $2 AND partition = $3 AND cluster_id IS NULL`, [
        ...key,
        partition.clusterId,
      ]);
    }
    return mismatch && new CheckpointMismatchError(this.groupId, partition.topic, partition.partition, mismatch).message;
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
  async reset(em: DataSource | EntityManager): Promise<number> {
    const deleted: unknown[] = await em.query(`DELETE FROM ${this.table} WHERE group_id = $1 RETURNING 1`, [this.groupId]);
    return deleted.length;
  }
}

/** Why a stored position does not belong to this cluster's partition, if it does not. */
function checkpointMismatch(row: CheckpointRow, clusterId: string | null, endOffset?: bigint): string | undefined {
  if (row.cluster_id !== null && clusterId !== null && row.cluster_id !== clusterId) {
    return `it was taken on Kafka cluster ${row.cluster_id}, and this is cluster ${clusterId}`;
  }
  const next = BigInt(row.next_offset);
  if (endOffset !== undefined && next > endOffset) {
    return `it is at offset ${next}, beyond the partition's end (${endOffset}): the topic was created again, or the database belongs to another cluster`;
  }
  return undefined;
}
