import { ChannelRef, invalidArgument, isPersonChannel, personChannelMembers, validateUid } from '@im/shared-domain';

/**
 * One stretch of a uid's membership of a channel, in membership versions: it became a member at
 * `joinVersion` and stopped at `leftVersion` (null while still a member). A uid that leaves and
 * rejoins has several stretches, so the recipients of an old message never change afterwards.
 */
export interface MembershipInterval {
  joinVersion: number;
  leftVersion: number | null;
}

/** Member at version v: joined at or before v, and had not left by v. */
export const isMemberAt = (interval: MembershipInterval, version: number): boolean =>
  interval.joinVersion <= version && (interval.leftVersion === null || version < interval.leftVersion);

/**
 * The recipients of a message stamped with `membershipVersion`, among `candidates` (e.g. the uids
 * attached to a gateway stream). Person channels: their two people, whatever the version.
 */
export function recipientsAt(
  channel: ChannelRef,
  membershipVersion: number,
  candidates: Iterable<string>,
  intervalsOf: (uid: string) => readonly MembershipInterval[],
): string[] {
  const result: string[] = [];
  if (isPersonChannel(channel)) {
    const pair = new Set(personChannelMembers(channel.channelId));
    for (const uid of candidates) if (pair.has(uid)) result.push(uid);
    return result;
  }
  for (const uid of candidates) if (intervalsOf(uid).some((i) => isMemberAt(i, membershipVersion))) result.push(uid);
  return result;
}

/**
 * Membership events carry the channel's version after them, +1 per event. An event at or below the
 * version already applied is a redelivery or a replay and changes nothing.
 */
export const isNewMembershipVersion = (appliedVersion: number, eventVersion: number): boolean => eventVersion > appliedVersion;

/** At most this many uids per attach or detach request on a delivery stream. */
export const MAX_STREAM_UIDS = 10_000;

export function validateStreamUids(uids: unknown): string[] {
  if (!Array.isArray(uids) || uids.length === 0) throw invalidArgument('EMPTY_UIDS', 'attach and detach must name at least one uid');
  if (uids.length > MAX_STREAM_UIDS) {
    throw invalidArgument('TOO_MANY_UIDS', `at most ${MAX_STREAM_UIDS} uids per request (got ${uids.length})`);
  }
  uids.forEach((u, i) => validateUid(u, `uids[${i}]`));
  return [...new Set(uids as string[])];
}
