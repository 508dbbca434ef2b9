import { eventually, uniqueId } from '@im/testing';
import { newGroupRef, openGateway, System } from './system';

jest.setTimeout(600_000);

/**
 * Two replicas of every service share the work through consumer groups and still keep G1, G2, G6
 * and G7: each step of a flow goes to a different instance than the one before.
 */
describe('two instances of every service', () => {
  let system: System;

  beforeAll(async () => {
    system = await System.start(2);
  });

  afterAll(() => system?.stop());

  it('keeps membership current at send (G2) and unsubscribe immediate (G1) across instances', async () => {
    const fanoutAddresses = system.processes.filter((p) => p.name === 'fanout').map((p) => p.grpcAddress);
    for (let i = 0; i < 50; i++) {
      const channel = newGroupRef();
      const [a, b, late] = [uniqueId('a'), uniqueId('b'), uniqueId('late')];
      await system.at(i).channels.createChannel({ channel });
      await system.at(i + 1).subscriptions.addSubscribers({ channel, uids: [a, b] });
      const gateway = await openGateway(fanoutAddresses[i % 2], [late]);
      try {
        await system.at(i).subscriptions.addSubscribers({ channel, uids: [late] });
        const sent = await system.at(i + 1).messages.sendMessage({ fromUid: a, channel, payload: Buffer.from('x'), clientMsgNo: 'first' });
        const history = await system.at(i).messages.syncMessages({ uid: late, channel, limit: 10 });
        expect(history.messages.map((m: { messageSeq: number }) => m.messageSeq)).toEqual([sent.messageSeq]);
        await eventually(async () => gateway.messagesFor(late, channel.channelId).length === 1, `delivery to the late member in round ${i}`);

        await system.at(i + 1).subscriptions.removeSubscribers({ channel, uids: [b] });
        const listed = await system.at(i).conversations.syncConversations({ uid: b, sinceVersion: 0, limit: 500 });
        expect(listed.conversations.map((c: { channel: { channelId: string } }) => c.channel.channelId)).not.toContain(channel.channelId);
      } finally {
        gateway.close();
      }
    }
  });

  it('sequences concurrent sends through both instances without gap or duplicate, retries included (G6, G7)', async () => {
    const channel = newGroupRef();
    const senders = Array.from({ length: 10 }, (_, i) => uniqueId(`s${i}`));
    await system.at(0).channels.createChannel({ channel });
    await system.at(1).subscriptions.addSubscribers({ channel, uids: senders });
    const results = await Promise.all(
      senders.flatMap((uid, s) =>
        Array.from({ length: 20 }, async (_, n) => {
          const req = { fromUid: uid, channel, payload: Buffer.from(`${s}/${n}`), clientMsgNo: `n${n}` };
          const [first, retry] = await Promise.all([system.at(n).messages.sendMessage(req), system.at(n + 1).messages.sendMessage(req)]);
          expect(retry).toEqual(first);
          return first.messageSeq as number;
        }),
      ),
    );
    expect([...results].sort((x, y) => x - y)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
  });
});
