import { grpcClient, GrpcTestClient, migrateDatabase, OwnPostgres, SecondBroker, ServiceProcess, uniqueId } from '@im/testing';

jest.setTimeout(600_000);

const SERVICES = ['channels', 'subscriptions', 'fanout', 'conversations'] as const;
const SENDERS = 8;
/** Sends acknowledged before the fault, and after it is over. */
const BEFORE_FAULT = 60;
const AFTER_FAULT = 60;

type Api = Record<'channels' | 'subscriptions' | 'messages' | 'conversations', GrpcTestClient>;

/**
 * Chaos, bounded: the one broker of the cluster restarts while senders are mid-burst, Postgres
 * restarts under one, and the conversations service is killed (SIGKILL) while it applies one. A
 * sender does what a client with a retry policy does: on any failure it sends again with the same
 * client_msg_no until the message is acknowledged. The system runs on a broker and a Postgres server
 * of its own, so the restarts touch no other suite.
 */
describe('chaos during a send burst', () => {
  let broker: SecondBroker;
  let postgres: OwnPostgres;
  let env: Record<string, string>;
  let services: ServiceProcess[] = [];
  let api: Api;
  let failedAttempts = 0;

  beforeAll(async () => {
    [broker, postgres] = await Promise.all([SecondBroker.start('kafka-chaos', 19592), OwnPostgres.start('postgres-chaos', 55632)]);
    await migrateDatabase(postgres.url);
    env = { KAFKA_BROKERS: broker.brokers, DATABASE_URL: postgres.url };
    services = await ServiceProcess.together(SERVICES.map((name) => ServiceProcess.start(name, env)));
    const [channels, subscriptions, fanout, conversations] = services.map((s) => s.grpcAddress);
    api = {
      channels: grpcClient('ChannelService', channels),
      subscriptions: grpcClient('SubscriptionService', subscriptions),
      messages: grpcClient('MessageService', fanout),
      conversations: grpcClient('ConversationService', conversations),
    };
  });

  afterAll(async () => {
    for (const client of Object.values(api ?? {})) client.close();
    await Promise.all(services.map((s) => s.stop()));
    await Promise.all([broker?.stop(), postgres?.stop()]);
  });

  /** Until acknowledged, retrying every failure after a backoff, as a client's retry policy does. */
  const sendUntilAcknowledged = async (request: object) => {
    for (let attempt = 0; ; attempt++) {
      try {
        return (await api.messages.sendMessage(request)) as { messageSeq: number };
      } catch {
        failedAttempts++;
        await new Promise((r) => setTimeout(r, Math.min(2_000, 50 * 2 ** attempt)));
      }
    }
  };
  const untilAnswered = async <T>(call: () => Promise<T>): Promise<T> => {
    for (;;) {
      try {
        return await call();
      } catch {
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  };
  const newGroup = async () => {
    const channel = { channelId: uniqueId('chaos'), channelType: 2 };
    const [sender, reader] = [uniqueId('s'), uniqueId('r')];
    await api.channels.createChannel({ channel });
    await api.subscriptions.addSubscribers({ channel, uids: [sender, reader] });
    return { channel, sender, reader };
  };
  const conversationOf = async (uid: string, channelId: string) =>
    ((await untilAnswered(() => api.conversations.syncConversations({ uid }))) as { conversations: { channel: { channelId: string } }[] }).conversations.find(
      (c) => c.channel.channelId === channelId,
    );

  /**
   * Senders send into a new group until `fault` has run to its end (started after BEFORE_FAULT
   * acknowledgements) and AFTER_FAULT more messages are acknowledged.
   */
  async function burstThrough(fault: () => Promise<void>) {
    const group = await newGroup();
    failedAttempts = 0;
    let next = 0;
    let acknowledged = 0;
    let phase: 'before' | 'during' | 'after' = 'before';
    let startedDuringFault = 0;
    let acknowledgedAfter = 0;
    let faulted: Promise<number> | undefined;
    const seqs = new Map<string, number>();
    await Promise.all(
      Array.from({ length: SENDERS }, async () => {
        while (!(phase === 'after' && acknowledgedAfter >= AFTER_FAULT)) {
          const clientMsgNo = `m${next++}`;
          if (phase === 'during') startedDuringFault++;
          const { messageSeq } = await sendUntilAcknowledged({ fromUid: group.sender, channel: group.channel, payload: Buffer.from(clientMsgNo), clientMsgNo });
          seqs.set(clientMsgNo, messageSeq);
          if (phase === 'after') acknowledgedAfter++;
          if (++acknowledged === BEFORE_FAULT) {
            const began = Date.now();
            phase = 'during';
            faulted = fault().then(() => {
              phase = 'after';
              return Date.now() - began;
            });
          }
        }
      }),
    );
    return { ...group, seqs, startedDuringFault, faultMs: await faulted, failedAttempts };
  }

  /** Every message once, in one gapless sequence, each at the seq its sender was told; the conversation counts each once. */
  async function expectExact({ channel, reader, seqs }: Awaited<ReturnType<typeof burstThrough>>) {
    const messages = seqs.size;
    const history: { messages: { messageSeq: number; clientMsgNo: string }[] } = { messages: [] };
    for (let page = { messages: [] as typeof history.messages, hasMore: true }; page.hasMore;) {
      const startSeq = (history.messages.at(-1)?.messageSeq ?? 0) + 1;
      page = (await untilAnswered(() => api.messages.syncMessages({ uid: reader, channel, startSeq, limit: 1000 }))) as typeof page;
      history.messages.push(...page.messages);
    }
    expect(history.messages.map((m) => m.messageSeq)).toEqual(Array.from({ length: messages }, (_, i) => i + 1));
    expect(Object.fromEntries(history.messages.map((m) => [m.clientMsgNo, m.messageSeq]))).toEqual(Object.fromEntries(seqs));
    expect(await conversationOf(reader, channel.channelId)).toMatchObject({ lastMsgSeq: messages, unread: messages });
  }

  /** Every service ready again without anyone touching it; how long it took is printed for docs/operations.md. */
  async function expectRecovered(what: string, run: Awaited<ReturnType<typeof burstThrough>>) {
    const began = Date.now();
    for (const service of services) await service.waitReady(120_000);
    console.log(
      `${what} took ${run.faultMs} ms; ${run.seqs.size} messages, ${run.startedDuringFault} sent during it, ${run.failedAttempts} failed attempts sent again; every service ready ${Date.now() - began} ms after the burst ended`,
    );
  }

  it('a broker restart: nothing acknowledged is lost or doubled, and every service recovers by itself', async () => {
    const run = await burstThrough(() => broker.restart());
    // The burst went on through the outage: sends were made while the broker was down.
    expect(run.startedDuringFault).toBeGreaterThan(0);
    await expectExact(run);
    await expectRecovered('broker restart', run);
  });

  it('a Postgres restart (fast shutdown, connections cut): nothing acknowledged is lost or doubled, and every service recovers by itself', async () => {
    const run = await burstThrough(() => postgres.restart());
    expect(run.startedDuringFault).toBeGreaterThan(0);
    await expectExact(run);
    await expectRecovered('Postgres restart', run);
  });

  it('SIGKILL of the conversations service mid-burst: its replacement counts every message once', async () => {
    const run = await burstThrough(async () => {
      await services[3].kill();
      services[3] = await ServiceProcess.start('conversations', env);
      api.conversations.close();
      api.conversations = grpcClient('ConversationService', services[3].grpcAddress);
    });
    await expectExact(run);
    await api.conversations.markRead({ uid: run.reader, channel: run.channel, readSeq: 50 });
    expect(await conversationOf(run.reader, run.channel.channelId)).toMatchObject({ unread: run.seqs.size - 50, readSeq: 50 });
  });
});
