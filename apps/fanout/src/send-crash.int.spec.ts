import { TOPICS } from '@im/contracts';
import { eventually, grpcClient, reasonOf, ServiceProcess, testDb, TopicWatcher, uniqueId } from '@im/testing';
import { status } from '@grpc/grpc-js';
import { GatewayStream, keyOf, Membership, Ref, text } from '../test/fanout-fixtures';

jest.setTimeout(600_000);

/** Messages of the burst, sent by SENDERS concurrent senders: far more than are sent before the kill. */
const BURST = 120;
const SENDERS = 8;

interface Sent {
  messageId: string;
  messageSeq: number;
}

describe('a fanout process killed while sends are in flight', () => {
  let channelsProcess: ServiceProcess;
  let membership: Membership;
  let watcher: TopicWatcher;
  let db: Awaited<ReturnType<typeof testDb>>;

  beforeAll(async () => {
    channelsProcess = await ServiceProcess.start('channels');
    membership = await Membership.connect();
    watcher = await new TopicWatcher().start([TOPICS.fanoutEvents]);
    db = await testDb();
  });

  afterAll(async () => {
    await watcher?.stop();
    await membership?.disconnect();
    await db?.end();
    await channelsProcess?.stop();
  });

  const group = async (members: string[]): Promise<Ref> => {
    const channel = { channelId: uniqueId('crash'), channelType: 2 };
    const channels = grpcClient('ChannelService', channelsProcess.grpcAddress);
    await channels.createChannel({ channel });
    channels.close();
    await membership.add(channel, members);
    return channel;
  };
  const request = (channel: Ref, clientMsgNo: string) => ({ fromUid: 'u1', channel, payload: text(clientMsgNo), clientMsgNo });
  const seqOf = (value: string | null) => JSON.parse(value!).data.message.messageSeq as number;
  const storedSeqs = async (channel: Ref) =>
    (
      await db.rows<{ message_seq: string }>('SELECT message_seq FROM fanout.messages WHERE channel_type = $1 AND channel_id = $2 ORDER BY message_seq', [
        channel.channelType,
        channel.channelId,
      ])
    ).map((r) => Number(r.message_seq));

  it('after a crash between commit and publish, the retry returns the stored message and its event reaches Kafka once', async () => {
    const channel = await group(['u1']);
    const doomed = await ServiceProcess.start('fanout', { IM_CRASH_AT: 'fanout:after-commit' });
    const client = grpcClient('MessageService', doomed.grpcAddress);
    const error = await client.sendMessage(request(channel, 'only-once')).catch((e) => e);
    client.close();
    expect(error?.code).toBeDefined(); // never acknowledged
    await doomed.exited;
    expect(await storedSeqs(channel)).toEqual([1]);

    const survivor = await ServiceProcess.start('fanout');
    try {
      const again = grpcClient('MessageService', survivor.grpcAddress);
      const [row] = await db.rows<{ message_id: string }>('SELECT message_id FROM fanout.messages WHERE channel_id = $1', [channel.channelId]);
      expect(await again.sendMessage(request(channel, 'only-once'))).toEqual({ messageId: row.message_id, messageSeq: 1 });
      const marker = await again.sendMessage(request(channel, 'marker'));
      expect(marker.messageSeq).toBe(2);
      again.close();
      await watcher.waitFor((r) => r.key === keyOf(channel) && seqOf(r.value) === 2, 'marker event', 1, 60_000);
      expect(watcher.records.filter((r) => r.key === keyOf(channel)).map((r) => seqOf(r.value))).toEqual([1, 2]);
    } finally {
      await survivor.stop();
    }
  });

  it('SIGKILL during a burst: acknowledged sends are kept once, retries of the rest store each message once, seqs stay gapless', async () => {
    const channel = await group(['u1']);
    const first = await ServiceProcess.start('fanout');
    const client = grpcClient('MessageService', first.grpcAddress);
    const nos = Array.from({ length: BURST }, (_, i) => `burst-${i}`);
    const acked = new Map<string, Sent>();
    // SENDERS keep sending, one message each at a time, until the process is gone: at the kill some
    // sends are in flight (committed or not) and the rest were never made.
    let next = 0;
    let killed = false;
    const sender = async () => {
      while (!killed && next < nos.length) {
        const no = nos[next++];
        await client.sendMessage(request(channel, no)).then(
          (r: Sent) => void acked.set(no, r),
          () => (killed = true),
        );
      }
    };
    const senders = Array.from({ length: SENDERS }, sender);
    await eventually(async () => acked.size >= 15, 'some sends acknowledged', 60_000, 5);
    await first.kill();
    await Promise.all(senders);
    client.close();
    expect(acked.size).toBeLessThan(nos.length); // the kill really cut the burst
    const afterCrash = await storedSeqs(channel);
    expect(afterCrash).toEqual(Array.from({ length: afterCrash.length }, (_, i) => i + 1));
    expect(afterCrash.length).toBeGreaterThanOrEqual(acked.size);

    const second = await ServiceProcess.start('fanout');
    try {
      const retry = grpcClient('MessageService', second.grpcAddress);
      const results = new Map<string, Sent>();
      for (const no of nos) results.set(no, await retry.sendMessage(request(channel, no)));
      retry.close();
      for (const [no, original] of acked) expect(results.get(no)).toEqual(original);
      expect(new Set([...results.values()].map((r) => r.messageId)).size).toBe(BURST);
      expect(await storedSeqs(channel)).toEqual(Array.from({ length: BURST }, (_, i) => i + 1));

      // Every stored message's event is on Kafka; a record republished after the crash would carry
      // the same event id, so there is exactly one distinct event per message.
      await eventually(
        async () => new Set(watcher.records.filter((r) => r.key === keyOf(channel)).map((r) => seqOf(r.value))).size === BURST,
        `${BURST} events`,
        60_000,
      );
      const events = watcher.records.filter((r) => r.key === keyOf(channel)).map((r) => JSON.parse(r.value!));
      const idsBySeq = new Map<number, Set<string>>();
      for (const e of events) idsBySeq.set(e.data.message.messageSeq, (idsBySeq.get(e.data.message.messageSeq) ?? new Set()).add(e.id));
      expect([...idsBySeq.values()].every((ids) => ids.size === 1)).toBe(true);
      for (const r of results.values()) expect(events.find((e) => e.data.message.messageSeq === r.messageSeq).data.message.messageId).toBe(r.messageId);
    } finally {
      await second.stop();
    }
  });

  it('a graceful shutdown ends open delivery streams with UNAVAILABLE, so gateways reconnect and catch up', async () => {
    const instance = await ServiceProcess.start('fanout');
    const client = grpcClient('MessageService', instance.grpcAddress);
    const stream = new GatewayStream(client);
    await stream.attach(['leaving']);
    await instance.stop();
    expect(reasonOf(await stream.ended)).toMatchObject({ code: status.UNAVAILABLE });
    client.close();
  });
});
