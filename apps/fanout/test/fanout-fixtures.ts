import { ClientDuplexStream, Metadata, ServiceError } from '@grpc/grpc-js';
import { TOPICS } from '@im/contracts';
import { ensureTestTopics, eventually, GrpcTestClient, grpcClient, ServiceProcess, StreamRecipients, testProducer, uniqueId } from '@im/testing';
import { Producer } from 'kafkajs';
import { randomUUID } from 'node:crypto';

export interface Ref {
  channelId: string;
  channelType: number;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Delivery = {
  uid: string;
  uids: string[];
  item: 'message' | 'command' | 'attached';
  message?: any;
  command?: any;
  attached?: { uids: string[] };
  audience?: { id: number; uids: string[] } | null;
  /** Who a message frame is for, as a gateway reads it: `uid`, `uids`, or the list its audience id names when received. */
  recipients: string[];
};

export const envelope = (type: string, key: string, data: unknown, id: string = randomUUID()) =>
  JSON.stringify({ id, type, version: 1, occurred_at: new Date().toISOString(), key, data });

export const keyOf = (c: Ref) => `${c.channelType}:${c.channelId}`;

/**
 * Publishes membership events exactly as the subscriptions service does: on its events topic,
 * keyed by channel, membership version +1 per event.
 */
export class Membership {
  private readonly versions = new Map<string, number>();

  constructor(private readonly producer: Producer) {}

  static async connect(): Promise<Membership> {
    await ensureTestTopics([TOPICS.subscriptionsEvents]);
    return new Membership(await testProducer());
  }

  async change(channel: Ref, kind: 'added' | 'removed', uids: string[]): Promise<number> {
    const key = keyOf(channel);
    const membershipVersion = (this.versions.get(key) ?? 0) + 1;
    this.versions.set(key, membershipVersion);
    await this.producer.send({
      topic: TOPICS.subscriptionsEvents,
      acks: -1,
      messages: [{ key, value: envelope(`subscribers.${kind}`, key, { channel, uids, membershipVersion }) }],
    });
    return membershipVersion;
  }

  add = (channel: Ref, uids: string[]) => this.change(channel, 'added', uids);
  remove = (channel: Ref, uids: string[]) => this.change(channel, 'removed', uids);

  disconnect(): Promise<void> {
    return this.producer.disconnect();
  }
}

/** A gateway's StreamDeliveries stream, recording everything pushed to it. */
export class GatewayStream {
  readonly deliveries: Delivery[] = [];
  readonly ended: Promise<ServiceError | undefined>;
  private readonly call: ClientDuplexStream<unknown, Delivery>;

  private readonly recipients = new StreamRecipients();

  constructor(client: GrpcTestClient) {
    this.call = client.raw.streamDeliveries();
    this.call.on('data', (d: Delivery) => this.deliveries.push({ ...d, recipients: [...this.recipients.of(d)] }));
    this.ended = new Promise((resolve) => {
      this.call.on('error', (e: ServiceError) => resolve(e));
      this.call.on('end', () => resolve(undefined));
    });
  }

  /**
   * Attaches and waits for the acknowledgement: from then on every stored message reaches the uids.
   * `batched` and `audiences` are sent only when given, as a client that predates them would (leaving them out).
   */
  async attach(uids: string[], options: { batched?: boolean; audiences?: boolean } = {}): Promise<void> {
    const before = this.deliveries.filter((d) => d.item === 'attached').length;
    this.call.write({ attach: { uids, ...options } });
    await eventually(async () => this.deliveries.filter((d) => d.item === 'attached').length > before, `attach ack for ${uids.length} uids`);
  }

  send(request: unknown): void {
    this.call.write(request);
  }

  detach(uids: string[]): void {
    this.call.write({ detach: { uids } });
  }

  messages(channelId: string, uid?: string): Delivery[] {
    return this.deliveries.filter((d) => d.item === 'message' && d.message.channel.channelId === channelId && (uid === undefined || d.uid === uid));
  }

  messagesFor(uid: string, messageId: string): Delivery[] {
    return this.deliveries.filter((d) => d.item === 'message' && d.uid === uid && d.message.messageId === messageId);
  }

  async waitFor(predicate: (d: Delivery) => boolean, what: string, count = 1): Promise<Delivery[]> {
    return eventually(async () => {
      const found = this.deliveries.filter(predicate);
      return found.length >= count ? found : undefined;
    }, what);
  }

  close(): void {
    this.call.end();
  }
}

/** An answer on the SendMessages stream, as proto-loader hands it out. */
export interface SendAnswer {
  requestId: string;
  result: 'sent' | 'error';
  sent?: { messageId: string; messageSeq: number };
  error?: { code: number; reason: string; message: string };
}

/** A gateway's SendMessages stream: writes requests, records every answer and how the stream ended. */
export class IngressStream {
  readonly answers: SendAnswer[] = [];
  /** Resolves with the stream's final status: undefined for OK, else the error. */
  readonly ended: Promise<ServiceError | undefined>;
  private readonly call: ClientDuplexStream<unknown, SendAnswer>;

  constructor(client: GrpcTestClient, metadata: Metadata = new Metadata()) {
    this.call = client.raw.sendMessages(metadata);
    this.call.on('data', (a: SendAnswer) => this.answers.push(a));
    this.ended = new Promise((resolve) => {
      this.call.on('error', (e: ServiceError) => resolve(e));
      this.call.on('end', () => resolve(undefined));
    });
  }

  send(requestId: string, message: unknown): void {
    this.call.write({ requestId, message });
  }

  /** Half-closes: the server answers what it read, then ends the stream. */
  end(): void {
    this.call.end();
  }

  /** Waits until `count` answers came (or more), and returns them. */
  async waitForAnswers(count: number): Promise<SendAnswer[]> {
    return eventually(async () => (this.answers.length >= count ? this.answers : undefined), `${count} answers`);
  }

  answerTo(requestId: string): SendAnswer | undefined {
    return this.answers.find((a) => a.requestId === requestId);
  }
}

/** The channels and fanout services as separate processes, plus clients of both. */
export class Services {
  private constructor(
    readonly channelsProcess: ServiceProcess,
    readonly fanoutProcess: ServiceProcess,
    readonly channels: GrpcTestClient,
    readonly messages: GrpcTestClient,
  ) {}

  static async start(fanoutEnv: Record<string, string> = {}): Promise<Services> {
    const [channelsProcess, fanoutProcess] = await ServiceProcess.together([ServiceProcess.start('channels'), ServiceProcess.start('fanout', fanoutEnv)]);
    return new Services(
      channelsProcess,
      fanoutProcess,
      grpcClient('ChannelService', channelsProcess.grpcAddress),
      grpcClient('MessageService', fanoutProcess.grpcAddress),
    );
  }

  async group(attributes: Record<string, unknown> = {}): Promise<Ref> {
    const channel = { channelId: uniqueId('g'), channelType: 2 };
    await this.channels.createChannel({ channel, attributes });
    return channel;
  }

  async stop(): Promise<void> {
    this.channels.close();
    this.messages.close();
    await Promise.all([this.fanoutProcess.stop(), this.channelsProcess.stop()]);
  }
}

export const text = (s: string) => Buffer.from(s);
