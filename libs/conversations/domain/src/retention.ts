import { MSG_COUNT_MAX } from './conversation';

/**
 * What the conversations read model must keep of a channel's messages (ADR 14). Sync reads the
 * messages for two things only:
 *
 * - join floors and leave ceilings: the highest seq stamped with a membership version below v, for
 *   any v. That is the newest message of the highest membership version below v, so the newest
 *   message of every membership version answers every such question.
 * - recents: the newest `msg_count` (at most MSG_COUNT_MAX) messages in (from, to], where `to` is
 *   the head or a leave ceiling. Membership versions never decrease along seqs, so `to` is the
 *   newest message of its version, and every newer message of the same version as a message in
 *   (from, to] lies in (from, to] too. A message with MSG_COUNT_MAX newer messages of its own
 *   version therefore has at least that many newer ones in the range and is never among the newest
 *   MSG_COUNT_MAX of it.
 *
 * Unread counts, read positions and delete floors are seq arithmetic on those floors and ceilings
 * and read no message. Keeping the newest MSG_COUNT_MAX messages of each membership version keeps
 * every answer exact; everything older may go.
 */
export const MESSAGES_KEPT_PER_MEMBERSHIP_VERSION = MSG_COUNT_MAX;

export interface KeptMessageKey {
  seq: number;
  membershipVersion: number;
}

/**
 * Whether a message may be deleted: `newerOfItsVersion` messages of the same channel and membership
 * version have a higher seq. Only counts taken from rows that exist are safe: rows are only ever
 * added (and a message keeps its seq and version), so a message prunable once stays prunable.
 */
export function isPrunable(newerOfItsVersion: number, keep = MESSAGES_KEPT_PER_MEMBERSHIP_VERSION): boolean {
  return newerOfItsVersion >= keep;
}

/**
 * The seqs of one channel's messages that may be deleted, ascending: all but the newest `keep`
 * of each membership version. The input need not be sorted.
 */
export function prunableSeqs(messages: readonly KeptMessageKey[], keep = MESSAGES_KEPT_PER_MEMBERSHIP_VERSION): number[] {
  const byVersion = new Map<number, number[]>();
  for (const m of messages) {
    const seqs = byVersion.get(m.membershipVersion) ?? [];
    seqs.push(m.seq);
    byVersion.set(m.membershipVersion, seqs);
  }
  const prunable: number[] = [];
  for (const seqs of byVersion.values()) {
    seqs.sort((a, b) => a - b);
    seqs.forEach((seq, i) => {
      if (isPrunable(seqs.length - 1 - i, keep)) prunable.push(seq);
    });
  }
  return prunable.sort((a, b) => a - b);
}

/** The seqs one channel keeps under the rule, ascending: the complement of prunableSeqs. */
export function keptSeqs(messages: readonly KeptMessageKey[], keep = MESSAGES_KEPT_PER_MEMBERSHIP_VERSION): number[] {
  const prunable = new Set(prunableSeqs(messages, keep));
  return messages
    .map((m) => m.seq)
    .filter((seq) => !prunable.has(seq))
    .sort((a, b) => a - b);
}
