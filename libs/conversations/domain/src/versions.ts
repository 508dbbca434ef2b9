/**
 * Conversation versions (ADR 15). A change's version is `xid × 2^16 + ordinal`: the Postgres
 * transaction id of the transaction that first applied it, and the offset of its event within the
 * slice that transaction applied. Writers therefore need no shared counter, and a reader knows which
 * versions are settled: every transaction with an id below its snapshot's xmin has ended, so no
 * version below `xmin × 2^16` can still appear.
 *
 * A replay from offset 0 must give every event the version it had the first time (else a rebuild
 * reorders conversation lists), so the first application of each slice is recorded in a ledger
 * (topic, partition, first offset, base version) and reused by later applications.
 */

/** Ordinals per transaction: a slice's events are numbered by their offset from its first one. */
export const VERSION_ORDINALS = 2 ** 16;

/** The first version of a transaction. */
export const versionBase = (xid: number): number => xid * VERSION_ORDINALS;

/**
 * Versions below this are settled for a reader: no transaction below `oldestWriterInFlight` (its
 * snapshot's xmin, or the oldest writer of versions still running at the snapshot) can still commit.
 */
export const settledBelow = (oldestWriterInFlight: number): number => oldestWriterInFlight * VERSION_ORDINALS;

/** A slice of a partition as first applied: its events' versions are `baseVersion + (offset - firstOffset)`. */
export interface LedgerRange {
  firstOffset: bigint;
  lastOffset: bigint;
  baseVersion: number;
}

export interface SliceVersions {
  /** The version of each event of the slice, by offset. */
  versions: Map<bigint, number>;
  /** The range to record, when some events are applied for the first time (they get `freshBase`). */
  fresh?: LedgerRange;
  /** Events whose offset lies too far from the fresh range's start: they share its last ordinal. */
  clamped: number;
}

/** The offsets of a slice no earlier application recorded (they take this transaction's versions). */
export function unrecordedOffsets(offsets: readonly bigint[], ledger: readonly LedgerRange[]): bigint[] {
  return offsets.filter((offset) => !ledger.some((r) => r.firstOffset <= offset && offset <= r.lastOffset));
}

/**
 * Versions of a slice's events (offsets ascending): from the ledger where an earlier application
 * recorded them, else from `freshBase` (this transaction's base), numbered from the first event not
 * yet recorded. Offsets of one partition are dense (no compaction, no transaction markers), so a
 * slice of at most a few hundred records never needs more than 2^16 ordinals; beyond that, the
 * last ordinal is shared (reported in `clamped`).
 */
export function sliceVersions(offsets: readonly bigint[], ledger: readonly LedgerRange[], freshBase: number): SliceVersions {
  const versions = new Map<bigint, number>();
  for (const offset of offsets) {
    const range = ledger.find((r) => r.firstOffset <= offset && offset <= r.lastOffset);
    if (range) versions.set(offset, range.baseVersion + Number(offset - range.firstOffset));
  }
  const unrecorded = unrecordedOffsets(offsets, ledger);
  if (unrecorded.length === 0) return { versions, clamped: 0 };
  const first = unrecorded[0];
  let clamped = 0;
  for (const offset of unrecorded) {
    const ordinal = Number(offset - first);
    if (ordinal >= VERSION_ORDINALS) clamped++;
    versions.set(offset, freshBase + Math.min(ordinal, VERSION_ORDINALS - 1));
  }
  return { versions, fresh: { firstOffset: first, lastOffset: unrecorded[unrecorded.length - 1], baseVersion: freshBase }, clamped };
}

export interface SyncCursor {
  /** The version to resume from. */
  version: number;
  /** Whether the answer stopped at a change that is not settled yet (see `settledBelow`). */
  capped: boolean;
  /** Where it would resume if every version it saw were settled. */
  reached: number;
}

/**
 * Where an incremental sync resumes: after the last change it examined, but never past the settled
 * versions. A change above them may be answered already (it is committed and visible), yet a
 * transaction still in flight may commit a lower version later; resuming below it means such a
 * change is answered by the next sync, at the price of repeating the few unsettled ones.
 */
export function incrementalCursor(sinceVersion: number, lastExamined: number | undefined, settled: number): SyncCursor {
  const reached = Math.max(sinceVersion, lastExamined ?? sinceVersion);
  if (lastExamined === undefined || lastExamined < settled) return { version: reached, capped: false, reached };
  return { version: Math.max(sinceVersion, settled - 1), capped: true, reached };
}

/** Where incremental syncs start after a full one: the uid's newest version, if it is settled. */
export function fullSyncCursor(currentVersion: number, settled: number): SyncCursor {
  return currentVersion < settled
    ? { version: currentVersion, capped: false, reached: currentVersion }
    : { version: settled - 1, capped: true, reached: currentVersion };
}

/**
 * Whether a sync whose cursor stopped short should wait for the oldest writer in flight and answer
 * again: only while that writer may still commit below what the first answer saw (`firstReached`).
 * Writers that began later can only add newer changes, which the next sync brings; waiting for them
 * under a steady load would chase one writer after another.
 */
export function worthWaiting(cursor: SyncCursor, oldestWriterInFlight: number, firstReached: number = cursor.reached): boolean {
  return cursor.capped && settledBelow(oldestWriterInFlight) <= firstReached;
}
