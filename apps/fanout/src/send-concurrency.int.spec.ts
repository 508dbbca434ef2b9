import { TOPICS } from '@im/contracts';
import { testDb, TopicWatcher } from '@im/testing';
import { GatewayStream, keyOf, Membership, Services, text } from '../test/fanout-fixtures';

jest.setTimeout(600_000);

interface Sent {
  messageId: string;
  messageSeq: number;
}

describe('G6/G7 under concurrency: 10 senders × 100 messages on one channel, every send retried', () => {
  let services: Services;
  let membership: Membership;
  let watcher: TopicWatcher;
  let db: Awaited<ReturnType<typeof testDb>>;

  beforeAll(async () => {
    services = await Services.start();
    membership = await Membership.connect();
    watcher = await new TopicWatcher().start([TOPICS.fanoutEvents]);
    db = await testDb();
  });

  afterAll(async () => {
    await watcher?.stop();
    await membership?.disconnect();
    await db?.end();
    await services?.stop();
  });

  it('assigns seqs 1..1000 with no gap or duplicate, returns the original on every retry, and publishes 1000 events in seq order', async () => {
    const senders = Array.from({ length: 10 }, (_, i) => `sender${i}`);
    const channel = await services.group();
    await membership.add(channel, senders);
    const stream = new GatewayStream(services.messages);
    await stream.attach(['sender0', 'sender1']);

    const send = (fromUid: string, clientMsgNo: string): Promise<Sent> =>
      services.messages.sendMessage({ fromUid, channel, payload: text(clientMsgNo), clientMsgNo });
    const perSender = await Promise.all(
      senders.map(async (fromUid) => {
        const sent: Sent[] = [];
        for (let j = 0; j < 100; j++) {
          const no = `${fromUid}-${j}`;
          // Every third send races its retry; the others retry after the first answer.
          const [original, retry] =
            j % 3 === 0 ? await Promise.all([send(fromUid, no), send(fromUid, no)]) : [await send(fromUid, no), await send(fromUid, no)];
          expect(retry).toEqual(original);
          sent.push(original);
        }
        return sent;
      }),
    );

    const all = perSender.flat();
    expect(all.map((s) => s.messageSeq).sort((a, b) => a - b)).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
    expect(new Set(all.map((s) => s.messageId)).size).toBe(1000);
    // Each sender's own messages are in its send order.
    for (const sent of perSender) expect(sent.map((s) => s.messageSeq)).toEqual([...sent.map((s) => s.messageSeq)].sort((a, b) => a - b));

    const [stored] = await db.rows<{ n: number; min: string; max: string }>(
      'SELECT count(*)::int AS n, min(message_seq) AS min, max(message_seq) AS max FROM fanout.messages WHERE channel_type = $1 AND channel_id = $2',
      [channel.channelType, channel.channelId],
    );
    expect(stored).toEqual({ n: 1000, min: '1', max: '1000' });

    // A later message on the same partition: once it is seen, every earlier event has been too.
    const marker = await send('sender0', 'marker');
    expect(marker.messageSeq).toBe(1001);
    const seqOf = (value: string | null) => JSON.parse(value!).data.message.messageSeq as number;
    await watcher.waitFor((r) => r.key === keyOf(channel) && seqOf(r.value) === 1001, 'the marker event', 1, 60_000);
    const events = watcher.records.filter((r) => r.key === keyOf(channel) && seqOf(r.value) <= 1000);
    expect(events.map((r) => seqOf(r.value))).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
    expect(events.every((r) => JSON.parse(r.value!).type === 'message.stored')).toBe(true);

    // Live deliveries: each attached recipient gets every message once, in seq order.
    for (const uid of ['sender0', 'sender1']) {
      const got = await stream.waitFor(
        (d) => d.uid === uid && d.item === 'message' && d.message.channel.channelId === channel.channelId,
        `1001 deliveries to ${uid}`,
        1001,
      );
      expect(got.map((d) => d.message.messageSeq)).toEqual(Array.from({ length: 1001 }, (_, i) => i + 1));
    }
    stream.close();
  });
});
