import { LedgerRange, sliceVersions, unrecordedOffsets, VERSION_ORDINALS } from '@im/conversations-domain';
import { Logger } from '@nestjs/common';
import { EntityManager } from 'typeorm';

const S = 'conversations';

/** This transaction's first version (ADR 15): what a command's change is numbered with. */
export async function transactionVersion(em: EntityManager): Promise<number> {
  const [row] = await em.query(`SELECT pg_current_xact_id()::text::bigint * ${VERSION_ORDINALS} AS base`);
  return Number(row.base);
}

export interface ProjectedSlice {
  topic: string;
  partition: number;
  clusterId?: string;
  /** The offsets of the slice's events, ascending. */
  offsets: bigint[];
}

/**
 * Versions of the projection's changes, one per event: taken from this transaction the first time
 * an event is applied and recorded in the ledger, reused from the ledger when it is applied again
 * (a replay from offset 0), so a rebuilt read model has the versions, and the order, it had.
 */
export class VersionLedger {
  private readonly logger = new Logger('version-ledger');
  /**
   * Per partition, the highest offset recorded. Fresh records lie past the checkpoint, which moves
   * with the ledger in one transaction, so only a replay (after a rebuild, which restarts every
   * instance) meets recorded offsets: other slices skip the lookup.
   */
  private readonly recordedUpTo = new Map<string, bigint>();

  async versionsOf(em: EntityManager, slice: ProjectedSlice): Promise<Map<bigint, number>> {
    const { topic, partition, offsets } = slice;
    const clusterId = slice.clusterId ?? null;
    if (offsets.length === 0) return new Map();
    const key = `${topic}:${partition}`;
    let upTo = this.recordedUpTo.get(key);
    if (upTo === undefined) {
      const [row] = await em.query(
        `SELECT last_offset::text AS last FROM ${S}.version_ledger
          WHERE topic = $1 AND partition = $2 AND cluster_id IS NOT DISTINCT FROM $3 ORDER BY first_offset DESC LIMIT 1`,
        [topic, partition, clusterId],
      );
      upTo = row?.last === null || row?.last === undefined ? -1n : BigInt(row.last);
      this.recordedUpTo.set(key, upTo);
    }
    const ledger = offsets[0] <= upTo ? await this.recorded(em, slice, clusterId) : [];
    const unrecorded = unrecordedOffsets(offsets, ledger);
    let base = 0;
    if (unrecorded.length > 0) {
      const last = unrecorded[unrecorded.length - 1];
      const [row] = await em.query(
        `INSERT INTO ${S}.version_ledger (topic, partition, first_offset, last_offset, base_version, cluster_id)
         VALUES ($1, $2, $3, $4, pg_current_xact_id()::text::bigint * ${VERSION_ORDINALS}, $5) RETURNING base_version::text AS base`,
        [topic, partition, unrecorded[0].toString(), last.toString(), clusterId],
      );
      base = Number(row.base);
      if (last > upTo) this.recordedUpTo.set(key, last);
    }
    const { versions, clamped } = sliceVersions(offsets, ledger, base);
    if (clamped > 0) this.logger.warn({ topic, partition, clamped }, 'slice spans more offsets than a transaction has versions: some events share one');
    return versions;
  }

  private async recorded(em: EntityManager, slice: ProjectedSlice, clusterId: string | null): Promise<LedgerRange[]> {
    const rows: { first_offset: string; last_offset: string; base_version: string }[] = await em.query(
      `SELECT first_offset::text, last_offset::text, base_version::text FROM ${S}.version_ledger
        WHERE topic = $1 AND partition = $2 AND cluster_id IS NOT DISTINCT FROM $3 AND first_offset <= $5
          AND first_offset >= COALESCE((SELECT max(first_offset) FROM ${S}.version_ledger
                                         WHERE topic = $1 AND partition = $2 AND cluster_id IS NOT DISTINCT FROM $3 AND first_offset <= $4), 0)`,
      [slice.topic, slice.partition, clusterId, slice.offsets[0].toString(), slice.offsets[slice.offsets.length - 1].toString()],
    );
    return rows.map((r) => ({ firstOffset: BigInt(r.first_offset), lastOffset: BigInt(r.last_offset), baseVersion: Number(r.base_version) }));
  }
}
