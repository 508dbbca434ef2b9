import { personRecipients } from '@im/fanout-domain';
import { ChannelRef, isPersonChannel } from '@im/shared-domain';
import { EntityManager } from 'typeorm';
import { FanoutInputsProjection } from '../inputs/fanout-inputs.projection';

/** Whether a channel is live now: person channels always are, groups while created and not deleted. */
export async function isLiveChannel(em: EntityManager, inputs: FanoutInputsProjection, channel: ChannelRef): Promise<boolean> {
  return isPersonChannel(channel) || (await inputs.channels.find(em, channel)).exists;
}

/** Who a channel-wide command goes to: its current members (a person channel's two people). */
export async function currentRecipients(em: EntityManager, inputs: FanoutInputsProjection, channel: ChannelRef): Promise<string[]> {
  return isPersonChannel(channel) ? personRecipients(channel).sort() : inputs.membership.currentMembers(em, channel);
}
