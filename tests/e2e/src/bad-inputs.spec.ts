import { status } from '@grpc/grpc-js';
import { randomUUID } from 'node:crypto';
import { dlqTopicOf, TOPICS } from '@im/contracts';
import { eventually, kcatProduce, reasonOf, TopicWatcher, uniqueId } from '@im/testing';
import { Clients, newGroupRef, System } from './system';

jest.setTimeout(300_000);

/**
 * Every input is answered with a documented code, none with INTERNAL: text that Postgres would refuse
 * (U+0000 and other control characters, unpaired surrogates) and uint64 values beyond what the services
 * can hold exactly are refused with INVALID_ARGUMENT and a stable reason before anything is stored,
 * over gRPC and as Kafka commands (dead-lettered, and the partition moves on).
 */

// uint64 values as a client writes them on the wire (proto-loader takes decimal strings exactly).
const TWO_63 = '9223372036854775808';
const MINUS_ONE_AS_UINT64 = '18446744073709551615';
const TWO_53 = '9007199254740992';

const envelope = (type: string, key: string, data: unknown) =>
  JSON.stringify({ id: randomUUID(), type, version: 1, occurred_at: new Date().toISOString(), key, data });

const failure = (call: Promise<unknown>) =>
  call.then(
    () => ({ code: status.OK, reason: 'OK' }),
    (error) => {
      const { code, reason } = reasonOf(error);
      return { code, reason };
    },
  );

const invalid = (reason: string) => ({ code: status.INVALID_ARGUMENT, reason });
const person = (peer: string) => ({ channelId: peer, channelType: 1 });
const personKey = (a: string, b: string) => `1:${a < b ? `${a}|${b}` : `${b}|${a}`}`;

describe('bad inputs are refused with a documented code and store nothing', () => {
  let system: System;
  let api: Clients;
  let dlq: TopicWatcher;

  beforeAll(async () => {
    system = await System.start();
    api = system.at(0);
    dlq = await new TopicWatcher().start([dlqTopicOf(TOPICS.channelsCommands), dlqTopicOf(TOPICS.fanoutCommands)]);
  });

  afterAll(async () => {
    await dlq?.stop();
    await system?.stop();
  });

  describe('ChannelService', () => {
    it.each([
      ['a NUL in the name', { name: 'team\u0000' }],
      ['an escape sequence in the name', { name: '\u001b[31mred' }],
      ['a C1 control in the avatar', { avatar: 'https://x/\u0085' }],
      ['a NUL in an extra value', { extra: { topic: 'a\u0000b' } }],
      ['DEL in an extra value', { extra: { topic: '\u007f' } }],
    ])('CreateChannel refuses %s with CONTROL_CHARACTERS and creates nothing', async (_label, attributes) => {
      const channel = newGroupRef();
      expect(await failure(api.channels.createChannel({ channel, attributes }))).toEqual(invalid('CONTROL_CHARACTERS'));
      expect(await failure(api.channels.getChannel({ channel }))).toEqual({ code: status.NOT_FOUND, reason: 'CHANNEL_NOT_FOUND' });
    });

    it('CreateChannel keeps tabs and newlines in free text', async () => {
      const channel = newGroupRef();
      const created = await api.channels.createChannel({ channel, attributes: { name: 'two\nlines\tand a tab', extra: { note: 'a\r\nb' } } });
      expect(created.attributes).toMatchObject({ name: 'two\nlines\tand a tab', extra: { note: 'a\r\nb' } });
    });

    it.each([
      ['a NUL in the name', { name: 'x\u0000' }, ['name']],
      ['a NUL in one extra entry', { extra: { k: '\u0000' } }, ['extra.k']],
      ['a NUL in the whole extra map', { extra: { k: 'ok', j: 'no\u0000' } }, ['extra']],
    ])('UpdateChannel refuses %s with CONTROL_CHARACTERS and changes nothing', async (_label, attributes, paths) => {
      const channel = newGroupRef();
      await api.channels.createChannel({ channel, attributes: { name: 'before' } });
      expect(await failure(api.channels.updateChannel({ channel, attributes, updateMask: { paths } }))).toEqual(invalid('CONTROL_CHARACTERS'));
      expect(await api.channels.getChannel({ channel })).toMatchObject({ version: 1, attributes: { name: 'before', extra: {} } });
    });

    it.each([TWO_63, MINUS_ONE_AS_UINT64])('UpdateChannel refuses expected_version = %s with VALUE_OUT_OF_RANGE', async (expectedVersion) => {
      const channel = newGroupRef();
      await api.channels.createChannel({ channel });
      expect(await failure(api.channels.updateChannel({ channel, attributes: { ban: true }, updateMask: { paths: ['ban'] }, expectedVersion }))).toEqual(
        invalid('VALUE_OUT_OF_RANGE'),
      );
      expect(await api.channels.getChannel({ channel })).toMatchObject({ version: 1, attributes: { ban: false } });
    });
  });

  describe('MessageService and CommandService', () => {
    it.each([
      ['a NUL', 'c\u0000'],
      ['a control character', 'c\u0007'],
      ['a C1 control', '\u009bc'],
    ])('SendMessage refuses a client_msg_no with %s (CONTROL_CHARACTERS) and stores nothing', async (_label, clientMsgNo) => {
      const [a, b] = [uniqueId('a'), uniqueId('b')];
      expect(await failure(api.messages.sendMessage({ fromUid: a, channel: person(b), payload: Buffer.from('hi'), clientMsgNo }))).toEqual(
        invalid('CONTROL_CHARACTERS'),
      );
      expect((await api.messages.syncMessages({ uid: a, channel: person(b) })).messages).toEqual([]);
    });

    it('SendMessage takes any payload bytes, NUL and C1 included', async () => {
      const [a, b] = [uniqueId('a'), uniqueId('b')];
      const payload = Buffer.from([0, 1, 0x7f, 0x85, 0x9f, 0xff]);
      await api.messages.sendMessage({ fromUid: a, channel: person(b), payload, clientMsgNo: 'c1' });
      const [stored] = (await api.messages.syncMessages({ uid: b, channel: person(a) })).messages;
      expect(Buffer.from(stored.payload)).toEqual(payload);
    });

    it.each([
      ['start_seq = 2^63', { startSeq: TWO_63 }],
      ['start_seq = 2^64 - 1 (-1)', { startSeq: MINUS_ONE_AS_UINT64 }],
      ['end_seq = 2^63', { startSeq: 1, endSeq: TWO_63 }],
      ['end_seq = 2^64 - 1 (-1)', { endSeq: MINUS_ONE_AS_UINT64 }],
      ['end_seq = 2^53 (not exact as a number)', { endSeq: TWO_53 }],
    ])('SyncMessages refuses %s with VALUE_OUT_OF_RANGE', async (_label, range) => {
      const [a, b] = [uniqueId('a'), uniqueId('b')];
      expect(await failure(api.messages.syncMessages({ uid: a, channel: person(b), ...range }))).toEqual(invalid('VALUE_OUT_OF_RANGE'));
    });

    it('SendCommand refuses a type with a NUL (CONTROL_CHARACTERS) and queues nothing', async () => {
      const uid = uniqueId('u');
      const channel = newGroupRef();
      expect(await failure(api.commands.sendCommand({ type: 'app.\u0000', channel, uids: [uid] }))).toEqual(invalid('CONTROL_CHARACTERS'));
      expect((await api.commands.syncCommands({ uid })).commands).toEqual([]);
    });

    it.each([TWO_63, MINUS_ONE_AS_UINT64])('SyncCommands refuses after_seq = %s with VALUE_OUT_OF_RANGE', async (afterSeq) => {
      expect(await failure(api.commands.syncCommands({ uid: uniqueId('u'), afterSeq }))).toEqual(invalid('VALUE_OUT_OF_RANGE'));
    });

    it('AckCommands clamps up_to_seq = 2^64 - 1 to the last queued command', async () => {
      const uid = uniqueId('u');
      await api.commands.sendCommand({ type: 'app.t', channel: newGroupRef(), uids: [uid] });
      await api.commands.ackCommands({ uid, upToSeq: MINUS_ONE_AS_UINT64 });
      expect((await api.commands.syncCommands({ uid })).commands).toEqual([]);
      await api.commands.sendCommand({ type: 'app.t', channel: newGroupRef(), uids: [uid] });
      expect((await api.commands.syncCommands({ uid })).commands.map((c: { cmdSeq: number }) => c.cmdSeq)).toEqual([2]);
    });
  });

  describe('ConversationService', () => {
    it.each([
      ['since_version = 2^63', { sinceVersion: TWO_63 }],
      ['since_version = 2^64 - 1 (-1)', { sinceVersion: MINUS_ONE_AS_UINT64 }],
      ['before_version = 2^63', { beforeVersion: TWO_63 }],
      ['before_version = 2^53', { beforeVersion: TWO_53 }],
    ])('SyncConversations refuses %s with VALUE_OUT_OF_RANGE', async (_label, versions) => {
      expect(await failure(api.conversations.syncConversations({ uid: uniqueId('u'), ...versions }))).toEqual(invalid('VALUE_OUT_OF_RANGE'));
    });

    it('MarkRead clamps read_seq = 2^64 - 1 to the last message, as the contract says', async () => {
      const [a, b] = [uniqueId('a'), uniqueId('b')];
      await api.messages.sendMessage({ fromUid: a, channel: person(b), payload: Buffer.from('1'), clientMsgNo: 'm1' });
      await api.messages.sendMessage({ fromUid: a, channel: person(b), payload: Buffer.from('2'), clientMsgNo: 'm2' });
      const unread = async () => (await api.conversations.syncConversations({ uid: b })).conversations[0];
      expect(await unread()).toMatchObject({ unread: 2, lastMsgSeq: 2 });
      await api.conversations.markRead({ uid: b, channel: person(a), readSeq: MINUS_ONE_AS_UINT64 });
      expect(await unread()).toMatchObject({ unread: 0, readSeq: 2 });
    });
  });

  describe('Kafka commands (produced by kcat)', () => {
    it('channel.create with a NUL in the name is dead-lettered with the reason, and the next command on the partition is applied', async () => {
      const channel = newGroupRef();
      const key = `2:${channel.channelId}`;
      kcatProduce(TOPICS.channelsCommands, [
        { key, value: envelope('channel.create', key, { channel, attributes: { name: 'bad\u0000', extra: { k: 'v' } } }) },
        { key, value: envelope('channel.create', key, { channel, attributes: { name: 'good' } }) },
      ]);
      const [dead] = await dlq.waitFor((r) => r.topic === dlqTopicOf(TOPICS.channelsCommands) && r.key === key, 'refused create in the DLQ');
      expect(dead.headers['x-dlq-error-code']).toBe('INVALID_ARGUMENT/CONTROL_CHARACTERS');
      expect(dead.headers['x-dlq-reason']).toMatch(/U\+0000/);
      const created = await eventually(() => api.channels.getChannel({ channel }).catch(() => undefined), 'next command applied');
      expect(created).toMatchObject({ version: 1, attributes: { name: 'good' } });
    });

    it('conversation.mark_read with read_seq = 2^64 - 1 is clamped, as over gRPC', async () => {
      const [a, b] = [uniqueId('a'), uniqueId('b')];
      await api.messages.sendMessage({ fromUid: a, channel: person(b), payload: Buffer.from('1'), clientMsgNo: 'm1' });
      expect((await api.conversations.syncConversations({ uid: b })).conversations[0]).toMatchObject({ unread: 1 });
      const key = personKey(a, b);
      const markRead = envelope('conversation.mark_read', key, { uid: b, channel: person(a), readSeq: 0 }).replace(
        '"readSeq":0',
        `"readSeq":${MINUS_ONE_AS_UINT64}`,
      );
      kcatProduce(TOPICS.conversationsCommands, [{ key, value: markRead }]);
      await eventually(async () => (await api.conversations.syncConversations({ uid: b })).conversations[0]?.unread === 0, 'mark_read applied');
      expect((await api.conversations.syncConversations({ uid: b })).conversations[0]).toMatchObject({ unread: 0, readSeq: 1 });
    });

    it('message.send with a NUL or an unpaired surrogate in client_msg_no and cmd.send with a NUL in its type are dead-lettered; the next send is applied', async () => {
      const [a, b] = [uniqueId('a'), uniqueId('b')];
      const key = personKey(a, b);
      const send = (clientMsgNo: string) => ({ fromUid: a, channel: person(b), payload: Buffer.from(clientMsgNo).toString('base64'), clientMsgNo });
      kcatProduce(TOPICS.fanoutCommands, [
        { key, value: envelope('message.send', key, send('nul\u0000')) },
        { key, value: envelope('message.send', key, send('half\ud800')) },
        { key, value: envelope('cmd.send', key, { type: 'app.\u0000', channel: { channelId: key.slice(2), channelType: 1 } }) },
        { key, value: envelope('message.send', key, send('next')) },
      ]);
      const dead = await dlq.waitFor((r) => r.topic === dlqTopicOf(TOPICS.fanoutCommands) && r.key === key, 'three dead letters', 3);
      expect(dead.map((r) => r.headers['x-dlq-error-code']).sort()).toEqual([
        'INVALID_ARGUMENT/CONTROL_CHARACTERS',
        'INVALID_ARGUMENT/CONTROL_CHARACTERS',
        'INVALID_ARGUMENT/INVALID_UNICODE',
      ]);
      const history = await eventually(async () => {
        const h = await api.messages.syncMessages({ uid: a, channel: person(b) });
        return h.messages.length > 0 ? h : undefined;
      }, 'next send applied');
      expect(history.messages.map((m: { messageSeq: number; clientMsgNo: string }) => [m.messageSeq, m.clientMsgNo])).toEqual([[1, 'next']]);
      expect((await api.commands.syncCommands({ uid: a })).commands).toEqual([]);
    });
  });
});
