import { Decider } from '@im/shared-domain';
import { decideMembership, MembershipCommand, MembershipEvent } from './membership';

/**
 * Membership history in membership versions: a uid is a member from the version of the event that
 * added it (inclusive) until the version of the event that removed it (exclusive). Leaving and
 * joining again opens a new interval, so "who were the members at version v" stays answerable for
 * every past v.
 */
export interface MembershipInterval {
  uid: string;
  joinedVersion: number;
  /** null while the uid is still a member. */
  leftVersion: number | null;
}

export const isMemberAt = (interval: MembershipInterval, version: number) =>
  interval.joinedVersion <= version && (interval.leftVersion === null || interval.leftVersion > version);

/** The members at a membership version, in uid order. */
export function membersAt(intervals: readonly MembershipInterval[], version: number): string[] {
  return [...new Set(intervals.filter((i) => isMemberAt(i, version)).map((i) => i.uid))].sort();
}

/** A channel's membership as its events build it: the reference the SQL tables must agree with. */
export interface MembershipState {
  version: number;
  intervals: MembershipInterval[];
}

export function evolveMembership(state: MembershipState, event: MembershipEvent): MembershipState {
  const v = event.membershipVersion;
  const uids = new Set(event.uids);
  const intervals =
    event.type === 'subscribers.added'
      ? [...state.intervals, ...event.uids.map((uid) => ({ uid, joinedVersion: v, leftVersion: null }))]
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
