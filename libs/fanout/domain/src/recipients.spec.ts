import { MembershipInterval } from '@im/shared-domain';
import { isNewMembershipVersion, MembershipSnapshot, recipientsAt, snapshotAnswers } from './recipients';

const group = { channelId: 'g1', channelType: 2 };

describe('recipients at a membership version', () => {
  // given: a joined at 1; b joined at 2 and left at 4; c joined at 3, left at 5, rejoined at 7
  const history = new Map<string, MembershipInterval[]>([
    ['a', [{ joinVersion: 1, leftVersion: null }]],
    ['b', [{ joinVersion: 2, leftVersion: 4 }]],
    [
      'c',
      [
        { joinVersion: 3, leftVersion: 5 },
        { joinVersion: 7, leftVersion: null },
      ],
    ],
  ]);
  const sorted = (uids: string[]) => [...uids].sort();

  it.each([
    [0, []],
    [1, ['a']],
    [2, ['a', 'b']],
    [3, ['a', 'b', 'c']],
    [4, ['a', 'c']],
    [5, ['a']],
    [6, ['a']],
    [7, ['a', 'c']],
  ])('when a message is stamped with version %i, then exactly %j receive it', (version, expected) => {
    expect(sorted(recipientsAt(group, version, history))).toEqual(expected);
  });

  it.each([
    ['fewer uids among than members (walks the uids among)', ['c', 'stranger']],
    ['more uids among than members (walks the members)', ['a', 'b', 'c', 'stranger', 'x', 'y', 'z']],
  ])('restricted to some uids, gives the same answer whichever set is smaller: %s', (_label, among) => {
    const set = new Set(among);
    for (let version = 0; version <= 8; version++) {
      const expected = recipientsAt(group, version, history).filter((uid) => set.has(uid));
      expect(sorted(recipientsAt(group, version, history, set))).toEqual(sorted(expected));
    }
    // The keys of a map (e.g. uid -> streams) serve as well as a set.
    const map = new Map(among.map((uid) => [uid, 1]));
    expect(sorted(recipientsAt(group, 3, history, map))).toEqual(sorted(['a', 'b', 'c'].filter((uid) => set.has(uid))));
  });

  it('gives nobody in a channel with no stretches, whatever the uids among', () => {
    expect(recipientsAt(group, 5, new Map(), new Set(['a']))).toEqual([]);
  });

  it('gives a person channel to its two people, whatever the version and the stretches, and to no one else', () => {
    const person = { channelId: 'a|b', channelType: 1 };
    expect(recipientsAt(person, 0, new Map())).toEqual(['a', 'b']);
    expect(recipientsAt(person, 0, history, new Set(['b', 'c']))).toEqual(['b']);
    expect(recipientsAt({ channelId: 'a|a', channelType: 1 }, 0, new Map(), new Set(['a']))).toEqual(['a']);
  });

  it('applies a membership event only when its version is newer than the applied one', () => {
    expect(isNewMembershipVersion(3, 4)).toBe(true);
    expect(isNewMembershipVersion(4, 4)).toBe(false);
    expect(isNewMembershipVersion(4, 2)).toBe(false);
  });
});

describe('a membership snapshot answers for every version up to its own', () => {
  /** Applies membership events as the fanout's projection does: a leave closes a stretch, a (re)join opens one. */
  const snapshotAfter = (events: { kind: 'added' | 'removed'; uids: string[] }[]): MembershipSnapshot => {
    const intervals = new Map<string, MembershipInterval[]>();
    events.forEach(({ kind, uids }, i) => {
      const version = i + 1;
      for (const uid of uids) {
        const stretches = intervals.get(uid) ?? [];
        const open = stretches.find((s) => s.leftVersion === null);
        if (kind === 'added' && !open) intervals.set(uid, [...stretches, { joinVersion: version, leftVersion: null }]);
        if (kind === 'removed' && open) open.leftVersion = version;
      }
    });
    return { version: events.length, intervals };
  };

  it('gives, for a message stamped with v, the same recipients from the snapshot at v and from any later one', () => {
    const uids = ['a', 'b', 'c', 'd'];
    // A pseudo-random but fixed history of 40 changes.
    let seed = 7;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
    const events = Array.from({ length: 40 }, () => ({
      kind: next() % 3 === 0 ? ('removed' as const) : ('added' as const),
      uids: uids.filter(() => next() % 2 === 0),
    }));
    for (let later = 0; later <= events.length; later++) {
      const snapshot = snapshotAfter(events.slice(0, later));
      for (let v = 0; v <= later; v++) {
        expect(snapshotAnswers(snapshot, v)).toBe(true);
        const exact = snapshotAfter(events.slice(0, v));
        expect([v, later, recipientsAt(group, v, snapshot.intervals).sort()]).toEqual([v, later, recipientsAt(group, v, exact.intervals).sort()]);
      }
      expect(snapshotAnswers(snapshot, later + 1)).toBe(false);
    }
  });
});
