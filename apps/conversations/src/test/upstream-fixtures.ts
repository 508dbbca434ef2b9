import { randomUUID } from 'node:crypto';
import { TOPICS } from '@im/contracts';
import { ensureTestTopics, GrpcTestClient, grpcClient, ServiceProcess, testDb, testKafka } from '@im/testing';
import { Producer } from 'kafkajs';

/**
 * Produces the upstream facts the conversations service consumes, exactly as libs/contracts defines
 * them (envelope, key `<type>:<id>`, canonical person ids), the way the subscriptions and fanout
 * services publish them: awaited, idempotent, acks=all.
 */
export interface Record_ {
  topic: string;
  key: string;
  value: string;
}

export const envelope = (type: string, key: string, data: unknown, id: string = randomUUID()) =>
  JSON.stringify({ id, type, version: 1, occurred_at: new Date().toISOString(), key, data });

export const personId = (a: string, b: string) => (a <= b ? `${a}|${b}` : `${b}|${a}`);

export class Upstream {
  private seqs = new Map<string, number>();
  private versions = new Map<string, number>();

  private constructor(private readonly producer: Producer) {}

  static async connect(): Promise<Upstream> {
    await ensureTestTopics([TOPICS.subscriptionsEvents, TOPICS.fanoutEvents]);
    const producer = testKafka().producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    return new Upstream(producer);
  }

  async close() {
    await this.producer.disconnect();
  }

  async send(records: Record_[]) {
    const byTopic = new Map<string, Record_[]>();
    for (const r of records) byTopic.set(r.topic, [...(byTopic.get(r.topic) ?? []), r]);
    await this.producer.sendBatch({
      acks: -1,
      topicMessages: [...byTopic].map(([topic, rs]) => ({ topic, messages: rs.map((r) => ({ key: r.key, value: r.value })) })),
    });
  }

  /** The current membership version of a group channel (as the subscriptions service would hold it). */
  membershipVersion(channelId: string) {
    return this.versions.get(channelId) ?? 0;
  }

  /** subscribers.added / subscribers.removed with the channel's next membership version. */
  membership(type: 'subscribers.added' | 'subscribers.removed', channelId: string, uids: string[], opts: { reset?: boolean } = {}): Record_ {
    const membershipVersion = this.membershipVersion(channelId) + 1;
    this.versions.set(channelId, membershipVersion);
    const key = `2:${channelId}`;
    const data = { channel: { channelId, channelType: 2 }, uids, membershipVersion, ...(opts.reset ? { reset: true } : {}) };
    return { topic: TOPICS.subscriptionsEvents, key, value: envelope(type, key, data) };
  }

  /** channel.created / channel.deleted of a group channel, with the channel's own version. */
  channel(type: 'channel.created' | 'channel.deleted', channelId: string, version: number): Record_ {
    const key = `2:${channelId}`;
    const attributes = { name: '', avatar: '', ban: false, sendBan: false, disband: false, large: false, extra: {} };
    const data = { channel: { channelId, channelType: 2 }, attributes, version };
    return { topic: TOPICS.channelsEvents, key, value: envelope(type, key, data) };
  }

  /** A cmd.stored event: shares the fanout topic, and the conversations service must skip it. */
  cmd(uid: string, channelId: string): Record_ {
    const key = `2:${channelId}`;
    const data = { uid, cmdSeq: 1, type: 'channel.updated', channel: { channelId, channelType: 2 }, version: 2, payload: '' };
    return { topic: TOPICS.fanoutEvents, key, value: envelope('cmd.stored', key, data) };
  }

  /** message.stored with the channel's next seq, stamped with its current membership version (or an explicit one). */
  message(channelId: string, fromUid: string, opts: { channelType?: number; membershipVersion?: number; text?: string; sentAtMs?: number } = {}): Record_ {
    const channelType = opts.channelType ?? 2;
    const messageSeq = (this.seqs.get(channelId) ?? 0) + 1;
    this.seqs.set(channelId, messageSeq);
    const key = `${channelType}:${channelId}`;
    const message = {
      messageId: randomUUID(),
      messageSeq,
      channel: { channelId, channelType },
      fromUid,
      clientMsgNo: `c${messageSeq}`,
      payload: Buffer.from(opts.text ?? `message ${messageSeq}`).toString('base64'),
      sentAtMs: opts.sentAtMs ?? Date.now(),
      membershipVersion: opts.membershipVersion ?? (channelType === 1 ? 0 : this.membershipVersion(channelId)),
    };
    return { topic: TOPICS.fanoutEvents, key, value: envelope('message.stored', key, { message }) };
  }

  personMessage(from: string, to: string, opts: { text?: string; sentAtMs?: number } = {}): Record_ {
    return this.message(personId(from, to), from, { ...opts, channelType: 1 });
  }
}

/** The conversations service started on the real broker and database, with a gRPC client, an upstream producer and a database connection. */
export class ConversationsUnderTest {
  private constructor(
    readonly service: ServiceProcess,
    readonly client: GrpcTestClient,
    readonly upstream: Upstream,
    readonly db: Awaited<ReturnType<typeof testDb>>,
  ) {}

  static async start(): Promise<ConversationsUnderTest> {
    const service = await ServiceProcess.start('conversations');
    return new ConversationsUnderTest(service, grpcClient('ConversationService', service.grpcAddress), await Upstream.connect(), await testDb());
  }

  async stop() {
    this.client.close();
    await this.upstream.close();
    await this.db.end();
    await this.service.stop();
  }
}
