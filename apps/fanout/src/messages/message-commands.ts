import { historyVisibleFrom, validateSyncRange } from '@im/fanout-domain';
import { DATA_SOURCE } from '@im/service-kit';
import { isPersonChannel, resolveChannelForUser, validateUid } from '@im/shared-domain';
import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { FanoutInputsProjection } from '../inputs/fanout-inputs.projection';
import { rowToMessageFor, SendMessageInput, toSendRequest } from './message.mapper';
import { MessageRepository } from './message.repository';
import { MessageSequencer } from './message-sequencer';

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

/**
 * The message paths shared by gRPC and the `message.send` Kafka command: validate, then the
 * sequencer's group commit (ADR 12); and history reads behind the inputs' read barrier.
 */
@Injectable()
export class MessageCommands {
  private readonly messages = new MessageRepository();

  constructor(
    @Inject(DATA_SOURCE) private readonly dataSource: DataSource,
    private readonly sequencer: MessageSequencer,
    private readonly inputs: FanoutInputsProjection,
  ) {}

  /** Returns once the message is stored and its `message.stored` event is on Kafka. */
  send(input: SendMessageInput): Promise<SendResult> {
    return this.sequencer.submit(toSendRequest(input));
  }

  /**
   * A `message.send` command from Kafka, through the same group commit as gRPC. Its effect is
   * idempotent per (channel, from_uid, client_msg_no), so a redelivered command answers with the
   * message stored the first time; a refusal throws, and the command is dead-lettered with its reason.
   */
  async sendCommand(input: SendMessageInput): Promise<void> {
    await this.send(input);
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
