import { z } from 'zod';
import { channelRefSchema } from './channels.messages';
import { messageType } from './envelope';
import { protoMessage, protoUint64 } from './proto-json';

/** Commands of im.conversations.commands.v1: the gRPC requests as JSON (a person channel by the peer's uid). */
export const DeleteConversationCommand = messageType('conversation.delete', protoMessage({ uid: z.string(), channel: channelRefSchema }));
export const MarkReadCommand = messageType(
  'conversation.mark_read',
  // Any non-negative integer, beyond 2^53 too: the read position is clamped to the last message (as over gRPC).
  protoMessage({ uid: z.string(), channel: channelRefSchema, readSeq: protoUint64.optional() }),
);
export const CONVERSATION_COMMANDS = [DeleteConversationCommand, MarkReadCommand] as const;
