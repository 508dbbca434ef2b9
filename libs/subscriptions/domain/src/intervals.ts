import { Decider, isMemberAt, MembershipInterval } from '@im/shared-domain';
import { decideMembership, MembershipCommand, MembershipEvent } from './membership';

/**
 * Membership history in membership versions: one stretch per time a uid was a member, from the
 * version of the event that added it until the version of the event that removed it, so "who were
 * the members at version v" stays answerable for every past v.
 */
export interface UidInterval extends MembershipInterval {
  uid: string;
}

/** The members at a membership version, in uid order. */
export function membersAt(intervals: readonly UidInterval[], version: number): string[] {
  return [...new Set(intervals.filter((i) => isMemberAt(i, version)).map((i) => i.uid))].sort();
}

/** A channel's membership as its events build it: the reference the SQL tables must agree with. */
export interface MembershipState {
  version: number;
  intervals: UidInterval[];
}

export function evolveMembership(state: MembershipState, event: MembershipEvent): MembershipState {
  const v = event.membershipVersion;
  const uids = new Set(event.uids);
  const intervals =
    event.type === 'subscribers.added'
      ? [...state.intervals, ...event.uids.map((uid) => ({ uid, joinVersion: v, leftVersion: null }))]
      : state.intervals.map((i) => (uids.has(i.uid) && i.leftVersion === null ? { ...i, leftVersion: v } : i));
  return { version: v, intervals };
}

export const currentMembers = (state: MembershipState) => new Set(state.intervals.filter((i) => i.leftVersion === null).map((i) => i.uid));

/** The membership of one live channel as a decider, for given/when/then tests and replays. */
export const membershipDecider: Decider<MembershipCommand, MembershipEvent, MembershipState> = {
  initialState: () => ({ version: 0, intervals: [] }),
  evolve: evolveMembership,
  decide: (state, command) => decideMembership({ channelExists: true, version: state.version, currentMembers: currentMembers(state) }, command),
};
