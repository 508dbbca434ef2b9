import { foldEvents } from '@im/shared-domain';
import { currentMembers, isMemberAt, membersAt, membershipDecider } from './intervals';
import { MembershipEvent } from './membership';

const channel = { channelId: 'g1', channelType: 2 };
const ev = (type: MembershipEvent['type'], uids: string[], membershipVersion: number): MembershipEvent => ({
  type,
  channel,
  uids,
  membershipVersion,
  occurredAt: '2026-01-01T00:00:00.000Z',
});

describe('membership intervals', () => {
  it('a uid is a member from the version that added it until (not including) the version that removed it', () => {
    const interval = { uid: 'a', joinedVersion: 2, leftVersion: 5 };
    expect([1, 2, 4, 5, 6].map((v) => isMemberAt(interval, v))).toEqual([false, true, true, false, false]);
    expect(isMemberAt({ uid: 'a', joinedVersion: 2, leftVersion: null }, 1_000)).toBe(true);
  });

  it('given a history with a re-join, then the members at every past version are answerable', () => {
    const state = foldEvents(membershipDecider, [
      ev('subscribers.added', ['a', 'b'], 1),
      ev('subscribers.removed', ['a'], 2),
      ev('subscribers.added', ['c'], 3),
      ev('subscribers.added', ['a'], 4),
      ev('subscribers.removed', ['b', 'c'], 5),
    ]);
    expect([0, 1, 2, 3, 4, 5].map((v) => membersAt(state.intervals, v))).toEqual([[], ['a', 'b'], ['b'], ['b', 'c'], ['a', 'b', 'c'], ['a']]);
    expect(state.intervals.filter((i) => i.uid === 'a')).toEqual([
      { uid: 'a', joinedVersion: 1, leftVersion: 2 },
      { uid: 'a', joinedVersion: 4, leftVersion: null },
    ]);
    expect([...currentMembers(state)]).toEqual(['a']);
    expect(state.version).toBe(5);
  });
});
