import {
  ChannelCreatedEvent,
  ChannelDeletedEvent,
  ChannelEventData,
  MessageStoredEvent,
  StoredMessageData,
  SubscribersAddedEvent,
  SubscribersChangedData,
  SubscribersRemovedEvent,
  TOPICS,
} from '@im/contracts';
import { preferGenericPlans } from '@im/persistence';
import { ProjectedEvent, ProjectionFactory, ProjectionHost } from '@im/service-kit';
import { ChannelRef, DomainError, validateChannelRef, validateUid } from '@im/shared-domain';
import { Injectable, Logger } from '@nestjs/common';
import { EntityManager } from 'typeorm';
import { VersionLedger } from './change-versions';
import { ConversationVersions } from './conversation-versions';
import { ReadModelRepository } from './read-model.repository';

/** The channel an event names (a message's, or a membership or channel event's), if it names one validly; the others are skipped when applied. */
function channelOf(data: unknown): ChannelRef[] {
  const named = data as { channel?: unknown; message?: { channel?: unknown } } | null;
  try {
    return [validateChannelRef(named?.message?.channel ?? named?.channel)];
  } catch {
    return [];
  }
}

/** The consumer group of the read model; a rebuild deletes it so the next start reads from offset 0. */
export const CONVERSATIONS_PROJECTION_GROUP = 'conversations.read-model';
export const CONVERSATIONS_INPUT_TOPICS = [TOPICS.subscriptionsEvents, TOPICS.fanoutEvents, TOPICS.channelsEvents];

/**
 * The conversations read model, fed by membership changes, stored messages and channel deletions.
 * The topics are not ordered relative to each other; the model converges whatever the
 * interleaving because membership is kept as version intervals, message recipients are resolved
 * from the version stamped on each message at read time, and a channel's deletion is a flag
 * applied at read time too. cmd.stored and channel.updated events are not ours and are skipped.
 */
@Injectable()
export class ConversationsProjection extends ProjectionHost {
  private readonly logger = new Logger('conversations-projection');
  private readonly versions = new ConversationVersions();
  private readonly repository = new ReadModelRepository(this.versions);
  private readonly ledger = new VersionLedger();

  constructor(factory: ProjectionFactory) {
    super();
    this.host(factory, {
      groupId: CONVERSATIONS_PROJECTION_GROUP,
      topics: CONVERSATIONS_INPUT_TOPICS,
      types: [SubscribersAddedEvent, SubscribersRemovedEvent, MessageStoredEvent, ChannelCreatedEvent, ChannelDeletedEvent],
      apply: (em, events, slice) => this.apply(em, events, slice.clusterId),
    });
  }

  private async apply(em: EntityManager, events: ProjectedEvent[], clusterId?: string): Promise<void> {
    // A slice is one partition: one topic, one ledger entry. Each event's change takes the event's version.
    const { topic, partition } = events[0];
    const versions = await this.ledger.versionsOf(em, { topic, partition, clusterId, offsets: events.map((e) => BigInt(e.offset)) });
    await preferGenericPlans(em);
    // The locks of every channel of the slice (ADR 18), at once and in one order, so slices of
    // different partitions and topics never wait on each other in a cycle.
    await this.versions.lockChannels(
      em,
      events.flatMap(({ envelope }) => channelOf(envelope.data)),
    );
    const messages: { message: StoredMessageData; version: number }[] = [];
    for (const { envelope, offset } of events) {
      const version = versions.get(BigInt(offset));
      if (version === undefined) throw new Error(`no version for offset ${offset} of ${topic}:${partition}`);
      try {
        if (envelope.type === MessageStoredEvent.type) {
          const message = (envelope.data as { message: StoredMessageData }).message;
          validateChannelRef(message.channel);
          validateUid(message.fromUid, 'from_uid');
          messages.push({ message, version });
        } else if (envelope.type === ChannelCreatedEvent.type || envelope.type === ChannelDeletedEvent.type) {
          const data = envelope.data as ChannelEventData;
          await this.repository.applyChannelState(em, version, validateChannelRef(data.channel), data.version, envelope.type === ChannelDeletedEvent.type);
        } else {
          const data = envelope.data as SubscribersChangedData;
          const channel = validateChannelRef(data.channel);
          data.uids.forEach((uid) => validateUid(uid));
          const type = envelope.type as 'subscribers.added' | 'subscribers.removed';
          await this.repository.applyMembership(
            em,
            version,
            channel,
            data.uids,
            { type, membershipVersion: data.membershipVersion },
            Date.parse(envelope.occurred_at),
            data.reset === true,
          );
        }
      } catch (error) {
        // Upstream validated these already; one that still breaks our rules is skipped, never retried forever.
        if (!(error instanceof DomainError)) throw error;
        this.logger.warn({ topic, offset, type: envelope.type, reason: error.reason }, `event skipped: ${error.message}`);
      }
    }
    // A partition holds one topic, so a batch is all messages or none.
    await this.repository.applyMessages(em, messages);
  }
}
