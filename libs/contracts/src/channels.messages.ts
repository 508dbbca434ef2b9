import { z } from 'zod';
import { messageType } from './envelope';
import { fieldMaskPaths } from './grpc';
import { protoInt32, protoMessage, protoUint64 } from './proto-json';

/**
 * Shapes of the channels topics. Field names follow the proto JSON mapping (lowerCamelCase), so a
 * command on Kafka is the corresponding gRPC request as JSON (canonical proto3 JSON too: proto-json.ts).
 */
export const channelRefSchema = protoMessage({
  channelId: z.string(),
  channelType: protoInt32,
});

const channelAttributesShape = {
  name: z.string().optional(),
  avatar: z.string().optional(),
  ban: z.boolean().optional(),
  sendBan: z.boolean().optional(),
  disband: z.boolean().optional(),
  large: z.boolean().optional(),
  extra: z.record(z.string(), z.string()).optional(),
};
export const channelAttributesSchema = protoMessage(channelAttributesShape);

const fullAttributesSchema = z.object(channelAttributesShape).required();

/** google.protobuf.FieldMask: canonical JSON is "a,b"; the object form {paths} is accepted too. */
const fieldMaskSchema = z.union([z.string(), z.object({ paths: z.array(z.string()) })]).transform((mask) => ({ paths: fieldMaskPaths(mask) }));

// Commands (im.channels.commands.v1)
export const CreateChannelCommand = messageType('channel.create', protoMessage({ channel: channelRefSchema, attributes: channelAttributesSchema.optional() }));
export const UpdateChannelCommand = messageType(
  'channel.update',
  protoMessage({
    channel: channelRefSchema,
    attributes: channelAttributesSchema.optional(),
    updateMask: fieldMaskSchema.optional(),
    expectedVersion: protoUint64.optional(),
  }),
);
export const DeleteChannelCommand = messageType('channel.delete', protoMessage({ channel: channelRefSchema }));
export const CHANNEL_COMMANDS = [CreateChannelCommand, UpdateChannelCommand, DeleteChannelCommand] as const;

// Events (im.channels.events.v1)
const channelEventData = z.object({
  channel: channelRefSchema,
  attributes: fullAttributesSchema,
  version: z.number().int().positive(),
  changedFields: z.array(z.string()).optional(),
});
export type ChannelEventData = z.infer<typeof channelEventData>;
export const ChannelCreatedEvent = messageType('channel.created', channelEventData);
export const ChannelUpdatedEvent = messageType('channel.updated', channelEventData);
export const ChannelDeletedEvent = messageType('channel.deleted', channelEventData);
export const CHANNEL_EVENTS = [ChannelCreatedEvent, ChannelUpdatedEvent, ChannelDeletedEvent] as const;
