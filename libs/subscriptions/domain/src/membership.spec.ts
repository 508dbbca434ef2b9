import { DomainError, given, refusalOf } from '@im/shared-domain';
import { decideMembership, MAX_UIDS_PER_REQUEST, MembershipCommand, MembershipEvent, UIDS_PER_EVENT } from './membership';
import { membershipDecider } from './intervals';

const channel = { channelId: 'g1', channelType: 2 };
const now = '2026-01-01T00:00:00.000Z';
const add = (uids: string[], reset = false): MembershipCommand => ({ type: 'subscribers.add', channel, uids, reset, now });
const remove = (uids: string[]): MembershipCommand => ({ type: 'subscribers.remove', channel, uids, now });
const added = (uids: string[], membershipVersion: number): MembershipEvent => ({
  type: 'subscribers.added',
  channel,
  uids,
  membershipVersion,
  occurredAt: now,
});
const removed = (uids: string[], membershipVersion: number): MembershipEvent => ({
  type: 'subscribers.removed',
  channel,
  uids,
  membershipVersion,
  occurredAt: now,
});
const uidsUpTo = (n: number) => Array.from({ length: n }, (_, i) => `u${String(i).padStart(5, '0')}`);

describe('membership decisions (given events, when command, then events)', () => {
  it('given no members, when uids are added, then one event at the next version with the uids sorted', () => {
    expect(given(membershipDecider, []).when(add(['b', 'a']))).toEqual({ events: [added(['a', 'b'], 1)] });
  });

  it('given members, when more are added, then only the new ones are in the event, at the next version', () => {
    expect(given(membershipDecider, [added(['a', 'b'], 1)]).when(add(['b', 'c', 'c']))).toEqual({ events: [added(['c'], 2)] });
  });

  it('given members, when the same uids are added again, then nothing happens', () => {
    expect(given(membershipDecider, [added(['a'], 1)]).when(add(['a', 'a']))).toEqual({ events: [] });
  });

  it('given members, when an absent uid is removed, then nothing happens', () => {
    expect(given(membershipDecider, [added(['a'], 1)]).when(remove(['z']))).toEqual({ events: [] });
  });

  it('given a uid that left, when it is removed again, then nothing happens', () => {
    expect(given(membershipDecider, [added(['a', 'b'], 1), removed(['a'], 2)]).when(remove(['a']))).toEqual({ events: [] });
  });

  it('given members, when some are removed, then one removal event with only the present ones', () => {
    expect(given(membershipDecider, [added(['a', 'b', 'c'], 1)]).when(remove(['c', 'x', 'a']))).toEqual({ events: [removed(['a', 'c'], 2)] });
  });

  it('given a uid that left, when it is added again, then it joins at a new version', () => {
    expect(given(membershipDecider, [added(['a'], 1), removed(['a'], 2)]).when(add(['a']))).toEqual({ events: [added(['a'], 3)] });
  });

  it('given members, when reset, then the others leave first and the new ones join after, each at its own version, marked as a reset', () => {
    const result = given(membershipDecider, [added(['a', 'b'], 1), added(['d'], 2)]).when(add(['b', 'c'], true));
    expect(result).toEqual({
      events: [
        { ...removed(['a', 'd'], 3), reset: true },
        { ...added(['c'], 4), reset: true },
      ],
    });
  });

  it('given members, when reset with the same list, then nothing happens', () => {
    expect(given(membershipDecider, [added(['a', 'b'], 1)]).when(add(['b', 'a'], true))).toEqual({ events: [] });
  });

  it('given members, when reset with no uids, then everyone leaves', () => {
    expect(given(membershipDecider, [added(['a', 'b'], 1)]).when(add([], true))).toEqual({ events: [{ ...removed(['a', 'b'], 2), reset: true }] });
  });

  it('given no members, when 10,000 uids are added, then 10 events of 1000 uids at consecutive versions', () => {
    const uids = uidsUpTo(MAX_UIDS_PER_REQUEST).reverse();
    const events = given(membershipDecider, [added(['x'], 1), removed(['x'], 2)]).when(add(uids)).events ?? [];
    expect(events).toHaveLength(10);
    expect(events.map((e) => e.membershipVersion)).toEqual([3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(events.every((e) => e.type === 'subscribers.added' && e.uids.length === UIDS_PER_EVENT)).toBe(true);
    expect(events.flatMap((e) => e.uids)).toEqual(uidsUpTo(MAX_UIDS_PER_REQUEST));
  });

  it('given 1500 members, when a reset keeps 500 and adds 1001, then removal chunks come before addition chunks', () => {
    const old = uidsUpTo(1500);
    const fresh = Array.from({ length: 1001 }, (_, i) => `n${i}`);
    const events =
      given(membershipDecider, [added(old.slice(0, 1000), 1), added(old.slice(1000), 2)]).when(add([...old.slice(0, 500), ...fresh], true)).events ?? [];
    expect(events.map((e) => [e.type, e.uids.length, e.membershipVersion])).toEqual([
      ['subscribers.removed', 1000, 3],
      ['subscribers.added', 1000, 4],
      ['subscribers.added', 1, 5],
    ]);
  });

  describe('validation', () => {
    it.each([
      ['too many uids', add(uidsUpTo(MAX_UIDS_PER_REQUEST + 1)), 'INVALID_ARGUMENT/TOO_MANY_UIDS'],
      ['too many uids in a reset', add(uidsUpTo(MAX_UIDS_PER_REQUEST + 1), true), 'INVALID_ARGUMENT/TOO_MANY_UIDS'],
      ['too many uids to remove', remove(uidsUpTo(MAX_UIDS_PER_REQUEST + 1)), 'INVALID_ARGUMENT/TOO_MANY_UIDS'],
      ['an empty uid', add(['a', '']), 'INVALID_ARGUMENT/EMPTY_ID'],
      ['an oversized uid', add(['x'.repeat(65)]), 'INVALID_ARGUMENT/ID_TOO_LONG'],
      ['a uid with a space', add(['a b']), 'INVALID_ARGUMENT/ID_INVALID_CHARACTERS'],
      ['a uid with a separator', remove(['a|b']), 'INVALID_ARGUMENT/ID_INVALID_CHARACTERS'],
      ['a uid that is not a string', add([42 as unknown as string]), 'INVALID_ARGUMENT/EMPTY_ID'],
      ['no uids to add', add([]), 'INVALID_ARGUMENT/EMPTY_UIDS'],
      ['no uids to remove', remove([]), 'INVALID_ARGUMENT/EMPTY_UIDS'],
      ['a missing channel', { ...add(['a']), channel: null as never }, 'INVALID_ARGUMENT/MISSING_CHANNEL'],
      ['a person channel', { ...add(['a']), channel: { channelId: 'a|b', channelType: 1 } }, 'INVALID_ARGUMENT/PERSON_CHANNEL_MEMBERSHIP'],
      ['a person channel named by a peer', { ...remove(['a']), channel: { channelId: 'bob', channelType: 1 } }, 'INVALID_ARGUMENT/PERSON_CHANNEL_MEMBERSHIP'],
      ['channel type 0', { ...add(['a']), channel: { channelId: 'g', channelType: 0 } }, 'INVALID_ARGUMENT/INVALID_CHANNEL_TYPE'],
      ['channel type 256', { ...add(['a']), channel: { channelId: 'g', channelType: 256 } }, 'INVALID_ARGUMENT/INVALID_CHANNEL_TYPE'],
      ['an empty channel id', { ...add(['a']), channel: { channelId: '', channelType: 2 } }, 'INVALID_ARGUMENT/EMPTY_ID'],
    ])('rejects %s', (_label, command, expected) => {
      const result = given(membershipDecider, [added(['a'], 1)]).when(command);
      expect(refusalOf(result.error)).toBe(expected);
    });

    it('rejects a channel that does not exist (or was deleted)', () => {
      const decide = () => decideMembership({ channelExists: false, version: 3, currentMembers: new Set() }, add(['a']));
      expect(decide).toThrow(DomainError);
      try {
        decide();
      } catch (error) {
        expect(refusalOf(error)).toBe('NOT_FOUND/CHANNEL_NOT_FOUND');
      }
    });

    it('checks the input before the channel, so bad input is INVALID_ARGUMENT even for an unknown channel', () => {
      expect(() => decideMembership({ channelExists: false, version: 0, currentMembers: new Set() }, add(['']))).toThrow(/uids\[0\]/);
    });
  });
});
