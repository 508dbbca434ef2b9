import { outcomeOf } from '@im/shared-domain';
import { decodePageToken, DEFAULT_PAGE_SIZE, effectivePageSize, encodePageToken, MAX_PAGE_SIZE } from './page-token';

const channel = { channelId: 'g1', channelType: 2 };
describe('ListSubscribers paging', () => {
  it('round-trips the last uid of a page for the same channel', () => {
    expect(decodePageToken(channel, encodePageToken(channel, 'alice.b-1@x'))).toBe('alice.b-1@x');
    expect(decodePageToken(channel, '')).toBeUndefined();
  });

  it.each([
    ['a token of another channel', encodePageToken({ channelId: 'g2', channelType: 2 }, 'a')],
    ['a token of the same id with another type', encodePageToken({ channelId: 'g1', channelType: 3 }, 'a')],
    ['garbage', 'not a token!'],
    ['base64 of something else', Buffer.from('hello').toString('base64url')],
    ['base64 of JSON without a uid', Buffer.from(JSON.stringify({ c: '2:g1' })).toString('base64url')],
    ['a token naming an invalid uid', Buffer.from(JSON.stringify({ c: '2:g1', a: 'a b' })).toString('base64url')],
  ])('refuses %s with INVALID_PAGE_TOKEN', (_label, token) => {
    expect(outcomeOf(() => decodePageToken(channel, token))).toBe('INVALID_ARGUMENT/INVALID_PAGE_TOKEN');
  });

  it('serves 0 as the default page size and caps large ones', () => {
    expect([0, 1, 250, MAX_PAGE_SIZE, MAX_PAGE_SIZE + 1, 4_000_000_000].map(effectivePageSize)).toEqual([
      DEFAULT_PAGE_SIZE,
      1,
      250,
      MAX_PAGE_SIZE,
      MAX_PAGE_SIZE,
      MAX_PAGE_SIZE,
    ]);
  });
});
