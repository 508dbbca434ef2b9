import { ChannelCommand, channelDecider, ChannelEvent, ChannelState } from '@im/channels-domain';
import { TOPICS } from '@im/contracts';
import { crashPoint, EventStore, inTransaction, isStreamConflict, OutboxRelay } from '@im/persistence';
import { OUTBOX_RELAY, DATA_SOURCE } from '@im/service-kit';
import { channelKey, validateChannelRef } from '@im/shared-domain';
import { Inject, Injectable } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';
import { ChannelRepository } from './channel.repository';

/** What goes on the wire for a channel event: the aggregate event minus the time (carried by the envelope). */
const eventData = (e: ChannelEvent) => ({
  channel: e.channel,
  attributes: e.attributes,
  version: e.version,
  ...(e.type === 'channel.updated' ? { changedFields: e.changedFields } : {}),
});

/**
 * The write path of the channels service, shared by gRPC and Kafka commands:
 * decide (pure) → commit events + state in one transaction → publish through the outbox → acknowledge.
 */
@Injectable()
export class ChannelCommands {
  private readonly store = new EventStore('channels');
  private readonly repository = new ChannelRepository();

  constructor(
    @Inject(DATA_SOURCE) private readonly dataSource: DataSource,
    @Inject(OUTBOX_RELAY) private readonly relay: OutboxRelay,
  ) {}

  /** For callers that wait for the answer: returns once the resulting events are on Kafka. */
  async execute(command: ChannelCommand): Promise<ChannelState> {
    const state = await inTransaction(this.dataSource, (em) => this.executeIn(em, command), { retryOn: isStreamConflict });
    crashPoint('channels:after-commit');
    await this.relay.flush();
    return state;
  }

  /** Applies a command inside the caller's transaction (the Kafka consumer adds its checkpoint to it). */
  async executeIn(em: EntityManager, command: ChannelCommand): Promise<ChannelState> {
    const channel = validateChannelRef(command.channel);
    const state = await this.repository.loadForUpdate(em, channel);
    const events = channelDecider.decide(state, command);
    const next = events.reduce(channelDecider.evolve, state);
    await this.store.append(
      em,
      events.map((e) => ({
        streamId: channelKey(e.channel),
        version: e.version,
        type: e.type,
        data: eventData(e),
        topic: TOPICS.channelsEvents,
        key: channelKey(e.channel),
        occurredAt: e.occurredAt,
      })),
    );
    await this.repository.save(em, next);
    return next;
  }

  async get(ref: unknown): Promise<ChannelState> {
    return this.repository.find(this.dataSource.manager, validateChannelRef(ref));
  }
}
