import { CreateChannelCommand, UpdateChannelCommand } from './channels.messages';
import { MarkReadCommand } from './conversations.messages';
import { SendCmdCommand, SendMessageCommand } from './fanout.messages';
import { AddSubscribersCommand } from './subscriptions.messages';

const parse = (
  type: { data: { safeParse(v: unknown): { success: boolean; data?: unknown; error?: { issues: { path: PropertyKey[] }[] } } } },
  data: unknown,
) => {
  const result = type.data.safeParse(data);
  return result.success ? result.data : { refused: result.error?.issues.map((i) => i.path.join('.')) };
};

describe('Kafka commands in canonical proto3 JSON', () => {
  it.each([
    [
      'channel.update',
      UpdateChannelCommand,
      { channel: { channel_id: 'g1', channel_type: '2' }, attributes: { send_ban: true }, update_mask: 'sendBan', expected_version: '7' },
      { channel: { channelId: 'g1', channelType: 2 }, attributes: { sendBan: true }, updateMask: 'sendBan', expectedVersion: 7 },
    ],
    [
      'subscribers.add',
      AddSubscribersCommand,
      { channel: { channelId: 'g1', channel_type: 2 }, uids: ['a'] },
      { channel: { channelId: 'g1', channelType: 2 }, uids: ['a'] },
    ],
    [
      'message.send',
      SendMessageCommand,
      { from_uid: 'a', channel: { channel_id: 'b', channel_type: '1' }, payload: 'aGk=', client_msg_no: 'c1' },
      { fromUid: 'a', channel: { channelId: 'b', channelType: 1 }, payload: 'aGk=', clientMsgNo: 'c1' },
    ],
    [
      'conversation.mark_read',
      MarkReadCommand,
      { uid: 'a', channel: { channelId: 'g1', channelType: 2 }, read_seq: '12' },
      { uid: 'a', channel: { channelId: 'g1', channelType: 2 }, readSeq: 12 },
    ],
  ])('reads %s with proto field names and 64-bit integers as strings as the JSON our services write', (_type, type, canonical, ours) => {
    const expected = parse(type, ours);
    expect(expected).not.toHaveProperty('refused');
    expect(parse(type, canonical)).toEqual(expected);
  });

  it('renames only message fields: the keys of a map such as extra are data', () => {
    const data = { channel: { channelId: 'g1', channelType: 2 }, attributes: { extra: { send_ban: 'x', some_key: 'y' } } };
    expect(parse(CreateChannelCommand, data)).toEqual(data);
  });

  it('keeps a uint64 above 2^53 - 1 exact, as a string, for the domain to clamp or refuse', () => {
    expect(parse(MarkReadCommand, { uid: 'a', channel: { channelId: 'g1', channelType: 2 }, readSeq: '18446744073709551615' })).toMatchObject({
      readSeq: '18446744073709551615',
    });
    expect(parse(UpdateChannelCommand, { channel: { channelId: 'g1', channelType: 2 }, expectedVersion: '9007199254740991' })).toMatchObject({
      expectedVersion: 9007199254740991,
    });
    // A JSON number that large (18446744073709551615) arrives rounded, as 2^64, and still goes to the domain's rule.
    expect(parse(MarkReadCommand, { uid: 'a', channel: { channelId: 'g1', channelType: 2 }, readSeq: 2 ** 64 })).toMatchObject({
      readSeq: 2 ** 64,
    });
  });

  it('takes the JSON name when a producer wrote a field under both names', () => {
    expect(parse(SendCmdCommand, { type: 't', channel: { channelId: 'g1', channel_id: 'g2', channelType: 2 } })).toMatchObject({
      channel: { channelId: 'g1' },
    });
  });

  it.each([
    ['a channel type that is no integer', { channelId: 'g1', channelType: '2.5' }, 'channel.channelType'],
    ['a channel type in words', { channelId: 'g1', channelType: 'two' }, 'channel.channelType'],
    ['a channel type beyond 32 bits', { channelId: 'g1', channelType: '4294967296' }, 'channel.channelType'],
  ])('refuses %s, naming the field', (_label, channel, path) => {
    expect(parse(AddSubscribersCommand, { channel, uids: ['a'] })).toEqual({ refused: [path] });
  });

  it('refuses a negative or fractional expected_version', () => {
    expect(parse(UpdateChannelCommand, { channel: { channelId: 'g1', channelType: 2 }, expectedVersion: '-1' })).toEqual({ refused: ['expectedVersion'] });
    expect(parse(UpdateChannelCommand, { channel: { channelId: 'g1', channelType: 2 }, expectedVersion: 1.5 })).toEqual({ refused: ['expectedVersion'] });
  });
});
