import { z } from 'zod';
import { channelRefSchema } from './channels.messages';
import { messageType } from './envelope';
import { protoMessage } from './proto-json';

/**
 * Shapes of the subscriptions topics (see asyncapi.yaml). Commands are the gRPC requests as JSON;
 * validation beyond the shape (id alphabet, limits) is the domain's, so its reasons reach the DLQ.
 */
const uidList = z.array(z.string());

// Commands (im.subscriptions.commands.v1)
export const AddSubscribersCommand = messageType(
  'subscribers.add',
  protoMessage({ channel: channelRefSchema, uids: uidList.default([]), reset: z.boolean().optional() }),
);
export const RemoveSubscribersCommand = messageType('subscribers.remove', protoMessage({ channel: channelRefSchema, uids: uidList }));
export const SUBSCRIPTION_COMMANDS = [AddSubscribersCommand, RemoveSubscribersCommand] as const;

// Events (im.subscriptions.events.v1)
const subscribersChangedData = z.object({
  channel: channelRefSchema,
  uids: z.array(z.string()).min(1).max(1000),
  /** The channel's membership version after this event: +1 per event, gapless per channel. */
  membershipVersion: z.number().int().positive(),
  reset: z.boolean().optional(),
});
export type SubscribersChangedData = z.infer<typeof subscribersChangedData>;
export const SubscribersAddedEvent = messageType('subscribers.added', subscribersChangedData);
export const SubscribersRemovedEvent = messageType('subscribers.removed', subscribersChangedData);
export const SUBSCRIPTION_EVENTS = [SubscribersAddedEvent, SubscribersRemovedEvent] as const;
