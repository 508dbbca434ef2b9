import { createHash } from 'node:crypto';
import { tokenMatches } from './grpc-access';

const digest = (t: string) => createHash('sha256').update(t).digest();

describe('tokenMatches', () => {
  const accepted = ['first-token-0123456789', 'second-token-abcdefghij'].map(digest);

  it('accepts any configured token', () => {
    expect(tokenMatches('first-token-0123456789', accepted)).toBe(true);
    expect(tokenMatches('second-token-abcdefghij', accepted)).toBe(true);
  });

  it('refuses near misses: prefix, longer, other case, empty', () => {
    for (const candidate of ['first-token-012345678', 'first-token-01234567890', 'FIRST-TOKEN-0123456789', '']) {
      expect(tokenMatches(candidate, accepted)).toBe(false);
    }
  });

  it('refuses everything when no token is configured', () => {
    expect(tokenMatches('anything-at-all-here', [])).toBe(false);
  });
});
