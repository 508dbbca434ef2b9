import { refusalOf } from '@im/shared-domain';
import { ChannelFacts } from './send';
import { DEFAULT_SYNC_LIMIT, historyVisibleFrom, MAX_SYNC_LIMIT, validateSyncRange } from './sync';

const live: ChannelFacts = { exists: true, ban: false, sendBan: false, disband: false };
const outcome = (fn: () => unknown) => {
  try {
    return fn();
  } catch (e) {
    return refusalOf(e);
  }
};

describe('history sync rules', () => {
  it.each([
    ['defaults', {}, { startSeq: 1, endSeq: 0, limit: DEFAULT_SYNC_LIMIT }],
    ['start 0 is 1', { startSeq: 0, endSeq: 10, limit: 5 }, { startSeq: 1, endSeq: 10, limit: 5 }],
    ['a limit above the maximum is capped', { startSeq: 3, limit: 5000 }, { startSeq: 3, endSeq: 0, limit: MAX_SYNC_LIMIT }],
    ['a single message', { startSeq: 7, endSeq: 7 }, { startSeq: 7, endSeq: 7, limit: DEFAULT_SYNC_LIMIT }],
    ['an end below the start', { startSeq: 7, endSeq: 6 }, 'INVALID_ARGUMENT/INVALID_RANGE'],
    ['the largest exact start', { startSeq: Number.MAX_SAFE_INTEGER }, { startSeq: Number.MAX_SAFE_INTEGER, endSeq: 0, limit: DEFAULT_SYNC_LIMIT }],
    ['a start of 2^63 (beyond bigint)', { startSeq: 2 ** 63 }, 'INVALID_ARGUMENT/VALUE_OUT_OF_RANGE'],
    ['an end of 2^64 - 1 (-1 as uint64)', { startSeq: 1, endSeq: Number(2n ** 64n - 1n) }, 'INVALID_ARGUMENT/VALUE_OUT_OF_RANGE'],
    ['an end of 2^53 (not exact)', { endSeq: 2 ** 53 }, 'INVALID_ARGUMENT/VALUE_OUT_OF_RANGE'],
  ])('range: %s', (_label, req, expected) => {
    expect(outcome(() => validateSyncRange(req))).toEqual(expected);
  });

  it.each([
    ['a current member of a group sees from its join version on', { channelId: 'g', channelType: 2 }, live, 4, 4],
    ['a non-member of a group is refused', { channelId: 'g', channelType: 2 }, live, null, 'PERMISSION_DENIED/NOT_SUBSCRIBER'],
    ['anyone asking for an unknown group', { channelId: 'g', channelType: 2 }, { ...live, exists: false }, 1, 'NOT_FOUND/CHANNEL_NOT_FOUND'],
    ['one of the pair sees a whole person channel', { channelId: 'a|b', channelType: 1 }, { ...live, exists: false }, null, 0],
  ])('visibility: %s', (_label, channel, facts, joinVersion, expected) => {
    expect(outcome(() => historyVisibleFrom(channel, facts, joinVersion))).toEqual(expected);
  });
});
