import { grpcClient, GrpcTestClient, ServiceProcess, uniqueId } from '@im/testing';

export const SERVICE_NAMES = ['channels', 'subscriptions', 'fanout', 'conversations'] as const;

export interface Clients {
  channels: GrpcTestClient;
  subscriptions: GrpcTestClient;
  messages: GrpcTestClient;
  commands: GrpcTestClient;
  conversations: GrpcTestClient;
}

/** The whole system as production runs it: `replicas` processes of every service on real Kafka and Postgres. */
export class System {
  private constructor(
    readonly processes: ServiceProcess[],
    /** One set of clients per replica index: clients[i] talks to the i-th process of every service. */
    readonly clients: Clients[],
  ) {}

  static async start(replicas = 1): Promise<System> {
    const processes: ServiceProcess[] = [];
    for (let r = 0; r < replicas; r++) {
      const started = await Promise.allSettled(SERVICE_NAMES.map((name) => ServiceProcess.start(name)));
      for (const s of started) if (s.status === 'fulfilled') processes.push(s.value);
      const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
      if (failed) {
        // Nothing may outlive a failed start: a stray process would join later tests' consumer groups.
        await Promise.all(processes.map((p) => p.stop()));
        throw failed.reason;
      }
    }
    // The suite's reads go through the read barrier, which answers PROJECTION_BEHIND while a new
    // process replays what earlier suites left on the shared topics.
    await Promise.all(processes.map((p) => p.waitCaughtUp())).catch(async (error) => {
      await Promise.all(processes.map((p) => p.stop()));
      throw error;
    });
    const clients: Clients[] = [];
    for (let r = 0; r < replicas; r++) {
      const of = (name: string) => processes[r * SERVICE_NAMES.length + SERVICE_NAMES.indexOf(name as (typeof SERVICE_NAMES)[number])].grpcAddress;
      clients.push({
        channels: grpcClient('ChannelService', of('channels')),
        subscriptions: grpcClient('SubscriptionService', of('subscriptions')),
        messages: grpcClient('MessageService', of('fanout')),
        commands: grpcClient('CommandService', of('fanout')),
        conversations: grpcClient('ConversationService', of('conversations')),
      });
    }
    return new System(processes, clients);
  }

  /** Clients of replica `i` (modulo the number of replicas), so a flow can hop between instances. */
  at(i: number): Clients {
    return this.clients[i % this.clients.length];
  }

  async stop(): Promise<void> {
    for (const c of this.clients) Object.values(c).forEach((client) => client.close());
    await Promise.all(this.processes.map((p) => p.stop()));
  }
}

export const newGroupRef = () => ({ channelId: uniqueId('g'), channelType: 2 });

export interface Delivered {
  uid: string;
  uids?: string[];
  item?: string;
  message?: { messageId: string; messageSeq: number; channel: { channelId: string; channelType: number } };
}

/** A gateway's StreamDeliveries stream: attach uids (waiting for the server's acknowledgement) and collect deliveries. */
export async function openGateway(address: string, uids: string[], options: { batched?: boolean } = {}) {
  const client = grpcClient('MessageService', address);
  const stream = client.raw.streamDeliveries();
  const received: Delivered[] = [];
  let acks = 0;
  stream.on('data', (d: Delivered) => {
    if (d.item === 'message' || d.item === 'command') received.push(d);
    else acks++;
  });
  stream.on('error', () => undefined);
  stream.write({ attach: { uids, batched: options.batched ?? false } });
  const deadline = Date.now() + 20_000;
  while (acks < 1) {
    if (Date.now() > deadline) throw new Error('the attach was never acknowledged');
    await new Promise((r) => setTimeout(r, 5));
  }
  return {
    received,
    messagesFor: (uid: string, channelId?: string) =>
      received.filter((d) => d.uid === uid && d.item === 'message' && (channelId === undefined || d.message?.channel.channelId === channelId)),
    close() {
      stream.end();
      client.close();
    },
  };
}

export interface IngressAnswer {
  requestId: string;
  result: 'sent' | 'error';
  sent?: { messageId: string; messageSeq: number };
  error?: { code: number; reason: string; message: string };
}

/** A gateway's SendMessages stream on a MessageService client: write requests, collect answers, await the end. */
export function openIngress(messages: GrpcTestClient) {
  const stream = messages.raw.sendMessages();
  const answers: IngressAnswer[] = [];
  stream.on('data', (a: IngressAnswer) => answers.push(a));
  const ended = new Promise<{ code: number; details?: string } | undefined>((resolve) => {
    stream.on('error', (e: { code: number; details?: string }) => resolve(e));
    stream.on('end', () => resolve(undefined));
  });
  return {
    answers,
    ended,
    send: (requestId: string, message: unknown) => stream.write({ requestId, message }),
    end: () => stream.end(),
  };
}
