import { CHANNEL_EVENTS, ChannelEventData, SUBSCRIPTION_EVENTS, SubscribersChangedData, TOPICS } from '@im/contracts';
import { ProjectionFactory, ProjectionHost } from '@im/service-kit';
import { Injectable } from '@nestjs/common';
import { ChannelFact, ChannelFactsRepository } from './channel-facts.repository';
import { MembershipRepository } from './membership.repository';

export const FANOUT_INPUTS_GROUP = 'fanout.inputs';
export const FANOUT_INPUT_TOPICS = [TOPICS.channelsEvents, TOPICS.subscriptionsEvents];

/**
 * The fanout's read model of its upstreams: channel facts (from the channels service) and
 * membership (from the subscriptions service), in one consumer group so one read barrier covers
 * both (G2: a membership change acknowledged before a send began is applied before it is sequenced).
 */
@Injectable()
export class FanoutInputsProjection extends ProjectionHost {
  readonly channels = new ChannelFactsRepository();
  readonly membership = new MembershipRepository();

  constructor(factory: ProjectionFactory) {
    super();
    this.host(factory, {
      groupId: FANOUT_INPUTS_GROUP,
      topics: FANOUT_INPUT_TOPICS,
      types: [...CHANNEL_EVENTS, ...SUBSCRIPTION_EVENTS],
      apply: async (em, events) => {
        // One partition's events in offset order; channel facts are order-insensitive (versioned
        // upsert), membership events are applied one by one in order.
        const facts: ChannelFact[] = [];
        for (const { envelope } of events) {
          switch (envelope.type) {
            case 'channel.created':
            case 'channel.updated':
            case 'channel.deleted':
              facts.push({ type: envelope.type, data: envelope.data as ChannelEventData });
              break;
            case 'subscribers.added':
            case 'subscribers.removed': {
              const data = envelope.data as SubscribersChangedData;
              await this.membership.apply(em, {
                kind: envelope.type === 'subscribers.added' ? 'added' : 'removed',
                channel: data.channel,
                uids: data.uids,
                membershipVersion: data.membershipVersion,
              });
              break;
            }
          }
        }
        await this.channels.apply(em, facts);
      },
    });
  }
}
