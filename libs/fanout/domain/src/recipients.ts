import { ChannelRef, isMemberAt, isPersonChannel, MembershipInterval, personChannelMembers } from '@im/shared-domain';

/** Every uid's membership stretches of one channel (see `MembershipInterval` in shared-domain). */
export type ChannelIntervals = ReadonlyMap<string, readonly MembershipInterval[]>;

const NO_INTERVALS: readonly MembershipInterval[] = [];

const anyHoldsAt = (stretches: readonly MembershipInterval[], version: number): boolean => stretches.some((i) => isMemberAt(i, version));

/** Whether `uid` was a member of the (group) channel whose stretches are `intervals` at `version`. */
export const wasMemberAt = (intervals: ChannelIntervals, uid: string, version: number): boolean => anyHoldsAt(intervals.get(uid) ?? NO_INTERVALS, version);

/**
 * A channel's membership as of membership version `version`: every uid's stretches then. Stretches
 * are append-only facts (a leave closes one, a rejoin opens another), so a snapshot at V answers
 * exactly for any message stamped with a version up to V, however much later it is used.
 */
export interface MembershipSnapshot {
  version: number;
  intervals: ChannelIntervals;
}

/** Whether a snapshot gives the exact recipients of a message stamped with `stampedVersion`. */
export const snapshotAnswers = (snapshot: MembershipSnapshot, stampedVersion: number): boolean => stampedVersion <= snapshot.version;

/**
 * A set of uids that can be probed and walked (a Set, or the keys of a Map): e.g. the uids attached
 * to the gateway streams of an instance.
 */
export interface UidLookup {
  readonly size: number;
  has(uid: string): boolean;
  keys(): Iterable<string>;
}

/**
 * The recipients of a message of `channel` stamped with `membershipVersion`: the uids with a
 * stretch that holds at that version (person channels: their two people, whatever the version),
 * restricted to `among` when given. `intervals` must reflect at least `membershipVersion`.
 *
 * The cost is that of the smaller of the two sets, so a large channel with few of its members
 * among `among` stays cheap, and many attached uids do not slow down a small channel.
 */
export function recipientsAt(channel: ChannelRef, membershipVersion: number, intervals: ChannelIntervals, among?: UidLookup): string[] {
  return [...eachRecipientAt(channel, membershipVersion, intervals, among)];
}

/**
 * The same rule as `recipientsAt`, one recipient at a time, for a caller that spreads the walk of
 * a very large channel over several turns of its event loop. The maps may change between steps
 * (JavaScript map iteration tolerates it); a uid added to `among` meanwhile may or may not be seen.
 */
export function* eachRecipientAt(channel: ChannelRef, membershipVersion: number, intervals: ChannelIntervals, among?: UidLookup): Generator<string> {
  if (isPersonChannel(channel)) {
    for (const uid of new Set(personChannelMembers(channel.channelId))) if (!among || among.has(uid)) yield uid;
    return;
  }
  if (among && among.size < intervals.size) {
    for (const uid of among.keys()) if (wasMemberAt(intervals, uid, membershipVersion)) yield uid;
  } else {
    for (const [uid, stretches] of intervals) if ((!among || among.has(uid)) && anyHoldsAt(stretches, membershipVersion)) yield uid;
  }
}

/**
 * Membership events carry the channel's version after them, +1 per event. An event at or below the
 * version already applied is a redelivery or a replay and changes nothing.
 */
export const isNewMembershipVersion = (appliedVersion: number, eventVersion: number): boolean => eventVersion > appliedVersion;
