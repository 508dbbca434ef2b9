import { MembershipSnapshot } from '@im/fanout-domain';
import { MembershipInterval } from '@im/shared-domain';
import { MembershipCache } from './membership-cache';

/** A snapshot at `version` with `members` uids, one open stretch each. */
const snapshot = (version: number, members: number): MembershipSnapshot => ({
  version,
  intervals: new Map<string, MembershipInterval[]>(Array.from({ length: members }, (_, i) => [`u${i}`, [{ joinVersion: 1, leftVersion: null }]])),
});

describe('membership cache', () => {
  it('answers for messages stamped with its version or older, and not for newer ones', () => {
    const cache = new MembershipCache(100);
    const at5 = snapshot(5, 3);
    cache.keep('2:g', at5);
    expect(cache.answering('2:g', 1)).toBe(at5);
    expect(cache.answering('2:g', 5)).toBe(at5);
    expect(cache.answering('2:g', 6)).toBeUndefined();
    expect(cache.answering('2:other', 0)).toBeUndefined();
  });

  it('replaces an entry with a newer snapshot, never with an older one', () => {
    const cache = new MembershipCache(100);
    const [at5, at7, at6] = [snapshot(5, 3), snapshot(7, 4), snapshot(6, 2)];
    cache.keep('2:g', at5);
    cache.keep('2:g', at7);
    cache.keep('2:g', at6);
    expect(cache.answering('2:g', 7)).toBe(at7);
    expect(cache.intervalsHeld).toBe(4);
  });

  it('drops the least recently used channels once more intervals than the bound are held', () => {
    const cache = new MembershipCache(10);
    cache.keep('2:a', snapshot(1, 4));
    cache.keep('2:b', snapshot(1, 4));
    expect(cache.answering('2:a', 1)).toBeDefined(); // a is now more recently used than b
    cache.keep('2:c', snapshot(1, 4));
    expect(cache.channels()).toEqual(['2:a', '2:c']);
    expect(cache.intervalsHeld).toBe(8);
  });

  it('counts every stretch, and an empty channel as one', () => {
    const cache = new MembershipCache(100);
    cache.keep('2:rejoined', {
      version: 9,
      intervals: new Map([
        [
          'a',
          [
            { joinVersion: 1, leftVersion: 3 },
            { joinVersion: 5, leftVersion: null },
          ],
        ],
      ]),
    });
    cache.keep('2:empty', snapshot(0, 0));
    expect(cache.intervalsHeld).toBe(3);
  });

  it('does not keep a channel larger than the whole bound, and keeps what it held', () => {
    const cache = new MembershipCache(10);
    cache.keep('2:small', snapshot(1, 5));
    cache.keep('2:huge', snapshot(1, 11));
    expect(cache.channels()).toEqual(['2:small']);
    expect(cache.answering('2:huge', 1)).toBeUndefined();
  });
});
