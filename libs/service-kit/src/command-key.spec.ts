import { commandKeyMismatch, expectedCommandKeys } from './command-key';

describe('commandKeyMismatch', () => {
  const group = { channelId: 'team', channelType: 2 };

  it('accepts a command keyed by the channel it names', () => {
    expect(commandKeyMismatch('2:team', '2:team', { channel: group, uids: ['a'] })).toBeUndefined();
  });

  it('refuses a command keyed for another channel than the one it names', () => {
    expect(commandKeyMismatch('2:other', '2:other', { channel: group })).toMatchObject({ code: 'KEY_MISMATCH' });
    expect(commandKeyMismatch('3:team', '3:team', { channel: group })).toMatchObject({ code: 'KEY_MISMATCH' });
  });

  it('checks the envelope key when the record has none', () => {
    expect(commandKeyMismatch(null, '2:team', { channel: group })).toBeUndefined();
    expect(commandKeyMismatch(null, '2:other', { channel: group })).toMatchObject({ code: 'KEY_MISMATCH' });
  });

  it('accepts the canonical person channel of the acting user and the peer it names', () => {
    const peer = { channelId: 'bob', channelType: 1 };
    expect(commandKeyMismatch('1:alice|bob', '1:alice|bob', { uid: 'alice', channel: peer })).toBeUndefined();
    expect(commandKeyMismatch('1:alice|bob', '1:alice|bob', { fromUid: 'alice', channel: peer })).toBeUndefined();
    expect(commandKeyMismatch('1:bob', '1:bob', { fromUid: 'alice', channel: peer })).toBeUndefined();
    expect(commandKeyMismatch('1:alice|carol', '1:alice|carol', { fromUid: 'alice', channel: peer })).toMatchObject({ code: 'KEY_MISMATCH' });
    // A canonical id in the command itself (subscriptions of a person channel).
    expect(commandKeyMismatch('1:alice|bob', '1:alice|bob', { channel: { channelId: 'alice|bob', channelType: 1 } })).toBeUndefined();
  });

  it('does not check commands that name no channel', () => {
    expect(expectedCommandKeys({ uids: ['a'] })).toBeUndefined();
    expect(expectedCommandKeys(null)).toBeUndefined();
    expect(commandKeyMismatch('anything', 'anything', {})).toBeUndefined();
  });

  it('does not fail on invalid ids (validation refuses those later)', () => {
    expect(expectedCommandKeys({ uid: '', channel: { channelId: 'bob', channelType: 1 } })).toEqual(['1:bob']);
  });
});
