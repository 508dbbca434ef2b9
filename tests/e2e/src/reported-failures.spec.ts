import { eventually, grpcClient, uniqueId } from '@im/testing';
import { Clients, newGroupRef, openGateway, System } from './system';

jest.setTimeout(600_000);

interface Conv {
  channel: { channelId: string; channelType: number };
  state: string;
  unread: number;
  lastMsgSeq: number;
  version: number;
}

/**
 * The five failures WuKongIM's users reported, each driven through the real services over gRPC
 * (channels → subscriptions → fanout → conversations, on Kafka and Postgres), without sleeps.
 */
describe('the failures reported against WuKongIM cannot happen here', () => {
  let system: System;
  let api: Clients;

  beforeAll(async () => {
    system = await System.start();
    api = system.at(0);
  });

  afterAll(() => system?.stop());

  const fullSync = async (uid: string): Promise<Conv[]> => (await api.conversations.syncConversations({ uid, sinceVersion: 0, limit: 500 })).conversations;
  const send = (fromUid: string, channel: object, text: string) =>
    api.messages.sendMessage({ fromUid, channel, payload: Buffer.from(text), clientMsgNo: uniqueId('c') });

  it('subscribers added after the channel was created receive every message (200 times)', async () => {
    const gateway = await openGateway(system.processes[2].grpcAddress, ['123', '456', '789']);
    try {
      for (let i = 0; i < 200; i++) {
        const channel = newGroupRef();
        await api.channels.createChannel({ channel });
        await api.subscriptions.addSubscribers({ channel, uids: ['123'] });
        await api.subscriptions.addSubscribers({ channel, uids: ['456', '789'] });
        const sent = await send('123', channel, `hello ${i}`);
        for (const uid of ['123', '456', '789']) {
          const history = await api.messages.syncMessages({ uid, channel, startSeq: 0, limit: 10 });
          expect(history.messages.map((m: { messageId: string }) => m.messageId)).toEqual([sent.messageId]);
          await eventually(async () => gateway.messagesFor(uid, channel.channelId).length === 1, `delivery to ${uid} in round ${i}`);
        }
      }
    } finally {
      gateway.close();
    }
  });

  it('an unsubscribed channel never lingers in conversation sync, even with messages in flight (200 times)', async () => {
    for (let i = 0; i < 200; i++) {
      const channel = newGroupRef();
      const [leaver, talker] = [uniqueId('leaver'), uniqueId('talker')];
      await api.channels.createChannel({ channel });
      await api.subscriptions.addSubscribers({ channel, uids: [leaver, talker] });
      await send(talker, channel, 'before');
      const before = await api.conversations.syncConversations({ uid: leaver, sinceVersion: 0, limit: 500 });
      expect(before.conversations.map((c: Conv) => c.channel.channelId)).toContain(channel.channelId);

      // Messages race the removal; none of them may bring the channel back for the leaver.
      const inFlight = Promise.allSettled([1, 2, 3].map((n) => send(talker, channel, `racing ${n}`)));
      await api.subscriptions.removeSubscribers({ channel, uids: [leaver] });
      expect((await fullSync(leaver)).map((c) => c.channel.channelId)).not.toContain(channel.channelId);
      const incremental = await api.conversations.syncConversations({ uid: leaver, sinceVersion: before.version, limit: 500 });
      expect(incremental.conversations.filter((c: Conv) => c.channel.channelId === channel.channelId).map((c: Conv) => c.state)).toEqual([
        'CONVERSATION_STATE_LEFT',
      ]);
      await inFlight;
      await send(talker, channel, 'after');
      expect((await fullSync(leaver)).map((c) => c.channel.channelId)).not.toContain(channel.channelId);
    }
  });

  it("a deleted channel leaves its members' conversation sync as soon as DeleteChannel is acknowledged (50 times)", async () => {
    for (let i = 0; i < 50; i++) {
      const channel = newGroupRef();
      const [a, b] = [uniqueId('a'), uniqueId('b')];
      await api.channels.createChannel({ channel });
      await api.subscriptions.addSubscribers({ channel, uids: [a, b] });
      await send(a, channel, 'before');
      const before = await api.conversations.syncConversations({ uid: b, sinceVersion: 0, limit: 500 });
      expect(before.conversations.map((c: Conv) => c.channel.channelId)).toContain(channel.channelId);

      await api.channels.deleteChannel({ channel });
      for (const uid of [a, b]) expect((await fullSync(uid)).map((c) => c.channel.channelId)).not.toContain(channel.channelId);
      const changes = await api.conversations.syncConversations({ uid: b, sinceVersion: before.version, limit: 500 });
      expect(changes.conversations.find((c: Conv) => c.channel.channelId === channel.channelId)).toMatchObject({ state: 'CONVERSATION_STATE_LEFT' });
    }
  });

  it('a channel attribute change reaches every subscriber, offline or online, exactly once', async () => {
    const channel = newGroupRef();
    const [offline, online] = [uniqueId('offline'), uniqueId('online')];
    await api.channels.createChannel({ channel });
    await api.subscriptions.addSubscribers({ channel, uids: [offline, online] });
    const gateway = await openGateway(system.processes[2].grpcAddress, [online]);
    try {
      const muted = await api.channels.updateChannel({ channel, attributes: { sendBan: true }, updateMask: { paths: ['send_ban'] } });
      for (const uid of [offline, online]) {
        const { commands } = await api.commands.syncCommands({ uid, afterSeq: 0 });
        expect(commands).toEqual([expect.objectContaining({ type: 'channel.updated', channel, version: muted.version })]);
      }
      const pushed = await eventually(async () => gateway.received.find((d) => d.uid === online && d.item === 'command'), 'the command pushed online');
      expect(pushed).toMatchObject({ command: { type: 'channel.updated', version: muted.version } });
      expect((await api.channels.getChannel({ channel })).attributes.sendBan).toBe(true);
    } finally {
      gateway.close();
    }
  });

  it('a deleted conversation comes back when the peer writes, counting only what came after', async () => {
    const [a, b] = [uniqueId('a'), uniqueId('b')];
    await send(a, { channelId: b, channelType: 1 }, 'hi b');
    await send(b, { channelId: a, channelType: 1 }, 'hi a');
    await api.conversations.deleteConversation({ uid: a, channel: { channelId: b, channelType: 1 } });
    await api.conversations.deleteConversation({ uid: a, channel: { channelId: b, channelType: 1 } }); // twice is harmless
    expect((await fullSync(a)).map((c) => c.channel.channelId)).not.toContain(b);

    await send(b, { channelId: a, channelType: 1 }, 'are you there?');
    const back = (await fullSync(a)).find((c) => c.channel.channelId === b);
    expect(back).toMatchObject({ state: 'CONVERSATION_STATE_ACTIVE', unread: 1, lastMsgSeq: 3, channel: { channelId: b, channelType: 1 } });
    // The peer's conversation was never touched by the delete; its own messages are never unread.
    const peer = (await fullSync(b)).find((c) => c.channel.channelId === a);
    expect(peer).toMatchObject({ state: 'CONVERSATION_STATE_ACTIVE', unread: 0, lastMsgSeq: 3 });
  });

  it('concurrent first messages to a new group create exactly one conversation per member (50 senders)', async () => {
    const channel = newGroupRef();
    const members = Array.from({ length: 50 }, (_, i) => uniqueId(`m${i}`));
    await api.channels.createChannel({ channel });
    await api.subscriptions.addSubscribers({ channel, uids: members });
    const ownSeqs = await Promise.all(members.map(async (uid) => (await send(uid, channel, `first from ${uid}`)).messageSeq as number));
    for (const [i, uid] of members.entries()) {
      const listed = (await fullSync(uid)).filter((c) => c.channel.channelId === channel.channelId);
      expect(listed).toHaveLength(1);
      // Only the messages after the member's own are unread.
      expect(listed[0]).toMatchObject({ lastMsgSeq: 50, unread: 50 - ownSeqs[i] });
    }
  });

  it('survives a restart of every service mid-conversation: nothing lost, nothing doubled', async () => {
    const channel = newGroupRef();
    const [x, y] = [uniqueId('x'), uniqueId('y')];
    await api.channels.createChannel({ channel });
    await api.subscriptions.addSubscribers({ channel, uids: [x, y] });
    await send(x, channel, 'one');
    await system.stop();
    system = await System.start();
    api = system.at(0);
    await send(x, channel, 'two');
    const [conv] = (await fullSync(y)).filter((c) => c.channel.channelId === channel.channelId);
    expect(conv).toMatchObject({ lastMsgSeq: 2, unread: 2 });
    const health = grpcClient('Health', system.processes[3].grpcAddress);
    expect(await health.check({ service: '' })).toMatchObject({ status: 'SERVING' });
    health.close();
  });
});
