import { TOPICS } from '@im/contracts';
import { authorizeSend, historyVisibleFrom, SendRequest, validateSyncRange } from '@im/fanout-domain';
import { crashPoint, EventStore, inTransaction, isStreamConflict, isUniqueViolation, OutboxRelay } from '@im/persistence';
import { DATA_SOURCE, OUTBOX_RELAY } from '@im/service-kit';
import { channelKey, isPersonChannel, resolveChannelForUser, validateUid } from '@im/shared-domain';
import { Inject, Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { DataSource, EntityManager } from 'typeorm';
import { FanoutInputsProjection } from '../inputs/fanout-inputs.projection';
import { rowToMessageFor, SendMessageInput, toSendRequest, toStoredEventData } from './message.mapper';
import { MessageRepository } from './message.repository';

export interface SendResult {
  messageId: string;
  messageSeq: number;
}

export interface SyncInput {
  uid?: string;
  channel?: { channelId?: string; channelType?: number } | null;
  startSeq?: number;
  endSeq?: number;
  limit?: number;
}

/** A concurrent first send of the same (channel, from_uid, client_msg_no) won: the retry returns it. */
const isDuplicateSend = (error: unknown) => isUniqueViolation(error, 'messages_idempotency_uq') || isStreamConflict(error);

/**
 * The message write path, shared by gRPC and the `message.send` Kafka command:
 * validate → read barrier over the inputs → one transaction (idempotency, head lock, authorize,
 * sequence, store, outbox) → publish → acknowledge.
 */
@Injectable()
export class MessageCommands {
  private readonly store = new EventStore('fanout');
  private readonly messages = new MessageRepository();

  constructor(
    @Inject(DATA_SOURCE) private readonly dataSource: DataSource,
    @Inject(OUTBOX_RELAY) private readonly relay: OutboxRelay,
    private readonly inputs: FanoutInputsProjection,
  ) {}

  /** Returns once the message is stored and its `message.stored` event is on Kafka. */
  async send(input: SendMessageInput): Promise<SendResult> {
    const request = toSendRequest(input);
    await this.inputs.barrier();
    const result = await inTransaction(this.dataSource, (em) => this.sendIn(em, request), { retryOn: isDuplicateSend });
    crashPoint('fanout:after-commit');
    await this.relay.flush();
    return result;
  }

  /**
   * Validates and applies a `message.send` command inside the caller's transaction (the Kafka
   * consumer's), which has passed the inputs' barrier first, outside the transaction.
   */
  async sendCommandIn(em: EntityManager, input: SendMessageInput): Promise<void> {
    await this.sendIn(em, toSendRequest(input));
  }

  private async sendIn(em: EntityManager, req: SendRequest): Promise<SendResult> {
    const earlier = await this.messages.findByClientMsgNo(em, req.channel, req.fromUid, req.clientMsgNo);
    if (earlier) return { messageId: earlier.messageId, messageSeq: earlier.messageSeq };
    const head = await this.messages.lockHead(em, req.channel);
    // Under the lock, a concurrent first send of the same key has committed or not started.
    const raced = await this.messages.findByClientMsgNo(em, req.channel, req.fromUid, req.clientMsgNo);
    if (raced) return { messageId: raced.messageId, messageSeq: raced.messageSeq };

    const person = isPersonChannel(req.channel);
    const facts = await this.inputs.channels.find(em, req.channel);
    const isMember = person ? false : (await this.inputs.membership.currentJoinVersion(em, req.channel, req.fromUid)) !== null;
    authorizeSend(req, facts, isMember);

    const message = {
      channel: req.channel,
      messageId: randomUUID(),
      messageSeq: head.lastSeq + 1,
      fromUid: req.fromUid,
      clientMsgNo: req.clientMsgNo,
      payload: Buffer.from(req.payload),
      sentAt: new Date(),
      membershipVersion: person ? 0 : head.membershipVersion,
    };
    await this.messages.insert(em, message);
    // stream version = seq: the events table's unique key also rules out a gap or a duplicate seq.
    await this.store.append(em, [
      {
        streamId: channelKey(req.channel),
        version: message.messageSeq,
        type: 'message.stored',
        data: { message: toStoredEventData(message) },
        topic: TOPICS.fanoutEvents,
        key: channelKey(req.channel),
        occurredAt: message.sentAt.toISOString(),
      },
    ]);
    return { messageId: message.messageId, messageSeq: message.messageSeq };
  }

  async sync(input: SyncInput) {
    const uid = validateUid(input.uid);
    const channel = resolveChannelForUser(uid, input.channel);
    const range = validateSyncRange(input);
    await this.inputs.barrier();
    const em = this.dataSource.manager;
    const facts = await this.inputs.channels.find(em, channel);
    const joined = isPersonChannel(channel) ? null : await this.inputs.membership.currentJoinVersion(em, channel, uid);
    const fromVersion = historyVisibleFrom(channel, facts, joined);
    const page = await this.messages.range(em, channel, { ...range, fromVersion });
    return { messages: page.messages.map((m) => rowToMessageFor(uid, m)), hasMore: page.hasMore };
  }
}
