import { CHANNEL_EVENTS, ChannelEventData, TOPICS } from '@im/contracts';
import { commandForChannelEvent } from '@im/fanout-domain';
import { OutboxRelay } from '@im/persistence';
import { OUTBOX_RELAY, ProjectionFactory, ProjectionHost } from '@im/service-kit';
import { Inject, Injectable } from '@nestjs/common';
import { FanoutInputsProjection } from '../inputs/fanout-inputs.projection';
import { currentRecipients } from './channel-recipients';
import { CommandQueueRepository } from './command-queue.repository';

/** Kafka consumer group of the projection that turns channel events into cmds (group id kept from before the name). */
export const CHANNEL_CMDS_GROUP = 'fanout.channel-commands';

/**
 * G3: every channel update or deletion becomes one `channel.updated` / `channel.deleted` command in
 * the queue of each member at that moment. Before fanning out, the membership projection is brought
 * up to date with every subscription change acknowledged so far, so members added before the update
 * get it and members removed before it do not. Each channel event is fanned out once (its id is the
 * source), whatever the redelivery or replay.
 */
@Injectable()
export class ChannelCommandsProjection extends ProjectionHost {
  private readonly queue = new CommandQueueRepository();

  constructor(factory: ProjectionFactory, inputs: FanoutInputsProjection, @Inject(OUTBOX_RELAY) relay: OutboxRelay) {
    super();
    this.host(factory, {
      groupId: CHANNEL_CMDS_GROUP,
      topics: [TOPICS.channelsEvents],
      types: CHANNEL_EVENTS,
      // Membership current up to now, waited for before the transaction opens.
      beforeBatch: () => inputs.barrier(),
      apply: async (em, events) => {
        const commands = events.flatMap(({ envelope }) => {
          const data = envelope.data as ChannelEventData;
          const command = commandForChannelEvent({ type: envelope.type, channel: data.channel, version: data.version });
          return command ? [{ command, sourceId: `channel-event:${envelope.id}`, at: new Date(envelope.occurred_at) }] : [];
        });
        for (const { command, sourceId, at } of commands) {
          await this.queue.enqueue(em, sourceId, command, await currentRecipients(em, inputs, command.channel), at);
        }
      },
      afterCommit: () => relay.flush(),
    });
  }
}
