import { CHANNEL_EVENTS, ChannelEventData, TOPICS } from '@im/contracts';
import { ProjectionFactory, ProjectionHost } from '@im/service-kit';
import { ChannelRef } from '@im/shared-domain';
import { Injectable } from '@nestjs/common';
import { EntityManager } from 'typeorm';
import { ChannelDirectoryRepository, toChannelFact } from './channel-directory.repository';

export const CHANNEL_DIRECTORY_GROUP = 'subscriptions.channel-directory';

/**
 * The channels this service knows to be live, projected from im.channels.events.v1. Reads go
 * through the read barrier: a channel whose creation was acknowledged before the read is seen.
 */
@Injectable()
export class ChannelDirectory extends ProjectionHost {
  private readonly repository = new ChannelDirectoryRepository();

  constructor(factory: ProjectionFactory) {
    super();
    this.host(factory, {
      groupId: CHANNEL_DIRECTORY_GROUP,
      topics: [TOPICS.channelsEvents],
      types: CHANNEL_EVENTS,
      apply: (em, events) =>
        this.repository.apply(
          em,
          events.map((e) => toChannelFact(e.envelope.type, e.envelope.data as ChannelEventData, e.envelope.occurred_at)),
        ),
    });
  }

  isLive(em: EntityManager, ref: ChannelRef): Promise<boolean> {
    return this.repository.isLive(em, ref);
  }
}
