import { outcomeOf } from '@im/shared-domain';
import { authorizeSend, ChannelFacts, MAX_PAYLOAD_BYTES, SendRequest, validateSendRequest } from './send';

const live: ChannelFacts = { exists: true, ban: false, sendBan: false, disband: false };
const group = { channelId: 'g1', channelType: 2 };
const req = (over: Partial<SendRequest> = {}): SendRequest => ({ fromUid: 'a', channel: group, payload: Buffer.from('hi'), clientMsgNo: 'c1', ...over });
describe('send rules', () => {
  it.each([
    ['a member of a live group', live, true, {}, 'OK'],
    ['a non-member', live, false, {}, 'PERMISSION_DENIED/NOT_SUBSCRIBER'],
    ['a member of a banned group', { ...live, ban: true }, true, {}, 'PERMISSION_DENIED/CHANNEL_BANNED'],
    ['a member of a disbanded group', { ...live, disband: true }, true, {}, 'PERMISSION_DENIED/CHANNEL_DISBANDED'],
    ['a member of a send-banned group', { ...live, sendBan: true }, true, {}, 'PERMISSION_DENIED/CHANNEL_SEND_BANNED'],
    ['a non-member of a send-banned group', { ...live, sendBan: true }, false, {}, 'PERMISSION_DENIED/NOT_SUBSCRIBER'],
    ['a non-member of an unknown group', { ...live, exists: false }, false, {}, 'NOT_FOUND/CHANNEL_NOT_FOUND'],
    ['one of the pair in a send-banned person channel', { ...live, sendBan: true }, false, { channel: { channelId: 'a|b', channelType: 1 } }, 'OK'],
    [
      'one of the pair in a disbanded person channel',
      { ...live, disband: true },
      false,
      { channel: { channelId: 'a|b', channelType: 1 } },
      'PERMISSION_DENIED/CHANNEL_DISBANDED',
    ],
    ['anyone to an unknown group', { ...live, exists: false }, true, {}, 'NOT_FOUND/CHANNEL_NOT_FOUND'],
    ['one of the pair in a never-created person channel', { ...live, exists: false }, false, { channel: { channelId: 'a|b', channelType: 1 } }, 'OK'],
    ['an outsider in a person channel', live, false, { fromUid: 'c', channel: { channelId: 'a|b', channelType: 1 } }, 'PERMISSION_DENIED/NOT_SUBSCRIBER'],
    [
      'one of the pair in a banned person channel',
      { ...live, ban: true },
      false,
      { channel: { channelId: 'a|b', channelType: 1 } },
      'PERMISSION_DENIED/CHANNEL_BANNED',
    ],
  ])('%s → %s', (_label, facts, member, over, expected) => {
    expect(outcomeOf(() => authorizeSend(req(over as Partial<SendRequest>), facts as ChannelFacts, member as boolean))).toBe(expected);
  });

  it.each([
    ['an empty payload', { payload: Buffer.alloc(0) }, 'INVALID_ARGUMENT/EMPTY_PAYLOAD'],
    ['a payload over the limit', { payload: Buffer.alloc(MAX_PAYLOAD_BYTES + 1) }, 'INVALID_ARGUMENT/PAYLOAD_TOO_LARGE'],
    ['no client_msg_no', { clientMsgNo: '' }, 'INVALID_ARGUMENT/MISSING_CLIENT_MSG_NO'],
    ['an empty sender', { fromUid: '' }, 'INVALID_ARGUMENT/EMPTY_ID'],
    ['a 65-character sender', { fromUid: 'x'.repeat(65) }, 'INVALID_ARGUMENT/ID_TOO_LONG'],
    ['a client_msg_no over 64 characters', { clientMsgNo: 'n'.repeat(65) }, 'INVALID_ARGUMENT/CLIENT_MSG_NO_TOO_LONG'],
  ])('rejects %s', (_label, over, expected) => {
    expect(outcomeOf(() => validateSendRequest(req(over)))).toBe(expected);
  });

  it('accepts a payload of exactly the limit', () => {
    expect(outcomeOf(() => validateSendRequest(req({ payload: Buffer.alloc(MAX_PAYLOAD_BYTES) })))).toBe('OK');
  });
});
