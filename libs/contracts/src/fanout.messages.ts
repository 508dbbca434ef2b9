import { z } from 'zod';
import { channelRefSchema } from './channels.messages';
import { messageType } from './envelope';
import { protoMessage } from './proto-json';

/**
 * Shapes of the fanout topics (see asyncapi.yaml). Proto `bytes` travel as base64 strings (the
 * proto JSON mapping); uint64 as JSON numbers.
 */
export const base64Schema = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'must be base64');

// Commands (im.fanout.commands.v1)
export const SendMessageCommand = messageType(
  'message.send',
  protoMessage({ fromUid: z.string(), channel: channelRefSchema, payload: base64Schema, clientMsgNo: z.string() }),
);
export const SendCmdCommand = messageType(
  'cmd.send',
  protoMessage({ type: z.string(), channel: channelRefSchema, uids: z.array(z.string()).optional(), payload: base64Schema.optional() }),
);
export const FANOUT_COMMANDS = [SendMessageCommand, SendCmdCommand] as const;

// Events (im.fanout.events.v1)
export const storedMessageSchema = z.object({
  messageId: z.string(),
  messageSeq: z.number().int().positive(),
  /** A person channel by its canonical id. */
  channel: channelRefSchema,
  fromUid: z.string(),
  clientMsgNo: z.string(),
  payload: base64Schema,
  sentAtMs: z.number().int(),
  /** The channel's membership version the recipients were taken from (0 for person channels). */
  membershipVersion: z.number().int().nonnegative(),
});
export type StoredMessageData = z.infer<typeof storedMessageSchema>;
export const MessageStoredEvent = messageType('message.stored', z.object({ message: storedMessageSchema }));

export const cmdStoredSchema = z.object({
  uid: z.string(),
  cmdSeq: z.number().int().positive(),
  type: z.string().min(1).max(128),
  /** A person channel by its canonical id. */
  channel: channelRefSchema,
  version: z.number().int().nonnegative(),
  payload: base64Schema,
  createdAtMs: z.number().int().optional(),
});
export type CmdStoredData = z.infer<typeof cmdStoredSchema>;
export const CmdStoredEvent = messageType('cmd.stored', cmdStoredSchema);
export const FANOUT_EVENTS = [MessageStoredEvent, CmdStoredEvent] as const;
