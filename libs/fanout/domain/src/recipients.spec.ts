import { DomainError } from '@im/shared-domain';
import { isMemberAt, isNewMembershipVersion, MAX_STREAM_UIDS, MembershipInterval, recipientsAt, validateStreamUids } from './recipients';

const group = { channelId: 'g1', channelType: 2 };
const reasonOf = (fn: () => unknown) => {
  try {
    fn();
    return 'ok';
  } catch (e) {
    return e instanceof DomainError ? `${e.kind}/${e.reason}` : String(e);
  }
};

describe('recipients at a membership version', () => {
  // given: a joined at 1; b joined at 2 and left at 4; c joined at 3, left at 5, rejoined at 7
  const history: Record<string, MembershipInterval[]> = {
    a: [{ joinVersion: 1, leftVersion: null }],
    b: [{ joinVersion: 2, leftVersion: 4 }],
    c: [
      { joinVersion: 3, leftVersion: 5 },
      { joinVersion: 7, leftVersion: null },
    ],
  };
  const at = (version: number) => recipientsAt(group, version, ['a', 'b', 'c', 'stranger'], (uid) => history[uid] ?? []);

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
    expect(at(version)).toEqual(expected);
  });

  it('treats the join version as inclusive and the leave version as exclusive', () => {
    expect(isMemberAt({ joinVersion: 3, leftVersion: 5 }, 3)).toBe(true);
    expect(isMemberAt({ joinVersion: 3, leftVersion: 5 }, 5)).toBe(false);
  });

  it('gives a person channel to its two people, whatever the version, and to no one else', () => {
    const person = { channelId: 'a|b', channelType: 1 };
    expect(recipientsAt(person, 0, ['a', 'b', 'c'], () => [])).toEqual(['a', 'b']);
  });

  it('applies a membership event only when its version is newer than the applied one', () => {
    expect(isNewMembershipVersion(3, 4)).toBe(true);
    expect(isNewMembershipVersion(4, 4)).toBe(false);
    expect(isNewMembershipVersion(4, 2)).toBe(false);
  });
});

describe('attach and detach uids', () => {
  it.each([
    ['no uids', [], 'INVALID_ARGUMENT/EMPTY_UIDS'],
    ['too many uids', Array.from({ length: MAX_STREAM_UIDS + 1 }, (_, i) => `u${i}`), 'INVALID_ARGUMENT/TOO_MANY_UIDS'],
    ['an empty uid', ['a', ''], 'INVALID_ARGUMENT/EMPTY_ID'],
    ['a 65-character uid', ['x'.repeat(65)], 'INVALID_ARGUMENT/ID_TOO_LONG'],
    ['a uid with a space', ['a b'], 'INVALID_ARGUMENT/ID_INVALID_CHARACTERS'],
  ])('rejects %s', (_label, uids, expected) => {
    expect(reasonOf(() => validateStreamUids(uids))).toBe(expected);
  });

  it('accepts the maximum and drops duplicates', () => {
    expect(validateStreamUids(Array.from({ length: MAX_STREAM_UIDS }, (_, i) => `u${i}`))).toHaveLength(MAX_STREAM_UIDS);
    expect(validateStreamUids(['a', 'a', 'b'])).toEqual(['a', 'b']);
  });
});
