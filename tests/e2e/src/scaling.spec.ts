import { eventually, uniqueId } from '@im/testing';
import { newGroupRef, openGateway, openIngress, System } from './system';

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

  it('gives batched streams on both instances the recipients at each message stamp while membership changes between messages', async () => {
    const fanoutAddresses = system.processes.filter((p) => p.name === 'fanout').map((p) => p.grpcAddress);
    const channel = newGroupRef();
    const [a, b, c] = [uniqueId('a'), uniqueId('b'), uniqueId('c')];
    await system.at(0).channels.createChannel({ channel });
    await system.at(1).subscriptions.addSubscribers({ channel, uids: [a, b] });
    const gateways = await Promise.all(fanoutAddresses.map((address) => openGateway(address, [a, b, c], { batched: true })));
    try {
      // Each step's membership change goes through one instance and the send through the other; a
      // change applied by either instance's projection must show in both instances' deliveries.
      const steps: [(i: number) => Promise<unknown>, string[]][] = [
        [async () => undefined, [a, b]],
        [(i) => system.at(i).subscriptions.addSubscribers({ channel, uids: [c] }), [a, b, c]],
        [(i) => system.at(i).subscriptions.removeSubscribers({ channel, uids: [a] }), [b, c]],
        [async () => undefined, [b, c]],
        [(i) => system.at(i).subscriptions.addSubscribers({ channel, uids: [a] }), [a, b, c]],
      ];
      for (const [i, [change]] of steps.entries()) {
        await change(i);
        await system.at(i + 1).messages.sendMessage({ fromUid: b, channel, payload: Buffer.from(`step ${i}`), clientMsgNo: `step-${i}` });
      }
      for (const gateway of gateways) {
        const frames = await eventually(async () => {
          const found = gateway.received.filter((d) => d.item === 'message' && d.message?.channel.channelId === channel.channelId);
          return found.length >= steps.length ? found : undefined;
        }, 'every step delivered on the batched stream');
        expect(frames.map((d) => [d.message?.messageSeq, d.uid, [...(d.uids ?? [])].sort()])).toEqual(
          steps.map(([, recipients], i) => [i + 1, '', [...recipients].sort()]),
        );
      }
    } finally {
      for (const gateway of gateways) gateway.close();
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

  it('sequences SendMessages streams on both instances, every request sent on both, without gap or duplicate (G6, G7)', async () => {
    const channel = newGroupRef();
    const senders = Array.from({ length: 5 }, (_, i) => uniqueId(`g${i}`));
    await system.at(0).channels.createChannel({ channel });
    await system.at(1).subscriptions.addSubscribers({ channel, uids: senders });
    const streams = [openIngress(system.at(0).messages), openIngress(system.at(1).messages)];
    for (let n = 0; n < 300; n++) {
      const message = { fromUid: senders[n % senders.length], channel, payload: Buffer.from(`m${n}`), clientMsgNo: `n${n}` };
      for (const stream of streams) stream.send(`n${n}`, message);
    }
    for (const stream of streams) stream.end();
    expect(await Promise.all(streams.map((s) => s.ended))).toEqual([undefined, undefined]);

    const [onFirst, onSecond] = streams.map((s) => new Map(s.answers.map((a) => [a.requestId, a])));
    expect([onFirst.size, onSecond.size]).toEqual([300, 300]);
    for (const [requestId, answer] of onFirst) {
      expect(answer.result).toBe('sent');
      expect(onSecond.get(requestId)?.sent).toEqual(answer.sent);
    }
    const seqs = [...onFirst.values()].map((a) => a.sent?.messageSeq as number).sort((x, y) => x - y);
    expect(seqs).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    // Downstream sees the same log: the members' conversation ends at seq 300.
    const listed = await system.at(0).conversations.syncConversations({ uid: senders[0], sinceVersion: 0, limit: 500 });
    const conversation = listed.conversations.find((c: { channel: { channelId: string } }) => c.channel.channelId === channel.channelId);
    expect(conversation).toMatchObject({ lastMsgSeq: 300 });
  });
});
