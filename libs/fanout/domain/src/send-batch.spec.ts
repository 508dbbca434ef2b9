import { channelKey } from '@im/shared-domain';
import { ChannelFacts, SendRequest } from './send';
import { BatchState, memberKey, sendKey, sequenceBatch } from './send-batch';

const live: ChannelFacts = { exists: true, ban: false, sendBan: false, disband: false };
const g1 = { channelId: 'g1', channelType: 2 };
const g2 = { channelId: 'g2', channelType: 2 };
const pair = { channelId: 'a|b', channelType: 1 };
const req = (over: Partial<SendRequest> = {}): SendRequest => ({ fromUid: 'a', channel: g1, payload: Buffer.from('hi'), clientMsgNo: 'c1', ...over });

const given = (over: Partial<BatchState> = {}): BatchState => ({
  heads: new Map([[channelKey(g1), { lastSeq: 7, membershipVersion: 3 }]]),
  stored: new Map(),
  facts: new Map([
    [channelKey(g1), live],
    [channelKey(g2), live],
  ]),
  members: new Set([memberKey(g1, 'a'), memberKey(g1, 'b'), memberKey(g2, 'a')]),
  ...over,
});
let ids = 0;
const newId = () => `id-${++ids}`;
const now = new Date('2026-01-01T00:00:00Z');
const summary = (batch: ReturnType<typeof sequenceBatch>) =>
  batch.outcomes.map((o) => (o.kind === 'refused' ? `refused ${o.error.reason}` : `${o.kind} ${o.message.messageSeq}`));

beforeEach(() => (ids = 0));

describe('sequencing a batch of sends (group commit)', () => {
  it('gives each channel its next seqs in arrival order, stamped with its membership version', () => {
    const batch = sequenceBatch(
      [req({ clientMsgNo: '1' }), req({ channel: g2, clientMsgNo: '2' }), req({ fromUid: 'b', clientMsgNo: '3' }), req({ channel: pair, clientMsgNo: '4' })],
      given(),
      newId,
      now,
    );
    expect(summary(batch)).toEqual(['stored 8', 'stored 1', 'stored 9', 'stored 1']);
    expect(batch.messages.map((m) => [channelKey(m.channel), m.messageSeq, m.membershipVersion])).toEqual([
      ['2:g1', 8, 3],
      ['2:g2', 1, 0],
      ['2:g1', 9, 3],
      ['1:a|b', 1, 0],
    ]);
  });

  it('refuses a request on its own and gives its seq to the next one: no gap', () => {
    const batch = sequenceBatch([req({ clientMsgNo: '1' }), req({ fromUid: 'stranger', clientMsgNo: '2' }), req({ clientMsgNo: '3' })], given(), newId, now);
    expect(summary(batch)).toEqual(['stored 8', 'refused NOT_SUBSCRIBER', 'stored 9']);
    expect(batch.messages.map((m) => m.messageSeq)).toEqual([8, 9]);
  });

  it('answers a retry of a stored message with the original, and a duplicate within the batch with the first', () => {
    const stored = new Map([[sendKey(req({ clientMsgNo: 'old' })), { messageId: 'earlier', messageSeq: 5 }]]);
    const batch = sequenceBatch([req({ clientMsgNo: 'old' }), req({ clientMsgNo: 'new' }), req({ clientMsgNo: 'new' })], given({ stored }), newId, now);
    expect(batch.outcomes).toEqual([
      { kind: 'retry', message: { messageId: 'earlier', messageSeq: 5 } },
      expect.objectContaining({ kind: 'stored', message: expect.objectContaining({ messageId: 'id-1', messageSeq: 8 }) }),
      { kind: 'retry', message: { messageId: 'id-1', messageSeq: 8 } },
    ]);
    expect(batch.messages).toHaveLength(1);
  });

  it('refuses a duplicate of a refused request the same way, taking no seq', () => {
    const batch = sequenceBatch([req({ fromUid: 'x', clientMsgNo: '1' }), req({ fromUid: 'x', clientMsgNo: '1' })], given(), newId, now);
    expect(summary(batch)).toEqual(['refused NOT_SUBSCRIBER', 'refused NOT_SUBSCRIBER']);
    expect(batch.messages).toHaveLength(0);
  });

  it('refuses sends to unknown, banned or send-banned groups with their reasons', () => {
    const facts = new Map([
      [channelKey(g1), { ...live, sendBan: true }],
      [channelKey(g2), { ...live, ban: true }],
    ]);
    const batch = sequenceBatch([req(), req({ channel: g2 }), req({ channel: { channelId: 'nope', channelType: 2 } })], given({ facts }), newId, now);
    expect(summary(batch)).toEqual(['refused CHANNEL_SEND_BANNED', 'refused CHANNEL_BANNED', 'refused CHANNEL_NOT_FOUND']);
  });
});
