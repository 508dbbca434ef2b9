import { foldEvents } from '@im/shared-domain';
import { currentMembers, membersAt, membershipDecider } from './intervals';
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
      { uid: 'a', joinVersion: 1, leftVersion: 2 },
      { uid: 'a', joinVersion: 4, leftVersion: null },
    ]);
    expect([...currentMembers(state)]).toEqual(['a']);
    expect(state.version).toBe(5);
  });
});
