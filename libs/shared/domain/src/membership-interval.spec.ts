import { isMemberAt } from './membership-interval';

describe('membership interval', () => {
  it('makes a uid a member from its join version (inclusive) until its leave version (exclusive)', () => {
    const interval = { joinVersion: 2, leftVersion: 5 };
    expect([1, 2, 4, 5, 6].map((v) => isMemberAt(interval, v))).toEqual([false, true, true, false, false]);
  });

  it('keeps a uid that has not left a member at every later version', () => {
    expect([1, 2, 1_000].map((v) => isMemberAt({ joinVersion: 2, leftVersion: null }, v))).toEqual([false, true, true]);
  });
});
