import { CONVERSATION_COMMANDS, TOPICS } from '@im/contracts';
import { CommandConsumerFactory, CommandConsumerHost } from '@im/service-kit';
import { Injectable } from '@nestjs/common';
import { ConversationCommand, ConversationCommands, ConversationRequest, toConversationCommand } from './conversation-commands';
import { ConversationsProjection } from './conversations.projection';

export const CONVERSATION_COMMANDS_GROUP = 'conversations.commands';

/** im.conversations.commands.v1 → the same write path as gRPC; refused commands go to the DLQ. */
@Injectable()
export class ConversationCommandsKafkaConsumer extends CommandConsumerHost {
  constructor(commands: ConversationCommands, projection: ConversationsProjection, factory: CommandConsumerFactory) {
    super();
    this.host(factory, {
      groupId: CONVERSATION_COMMANDS_GROUP,
      topic: TOPICS.conversationsCommands,
      types: CONVERSATION_COMMANDS,
      // The conversation a command names exists once the events before it are applied.
      beforeBatch: () => projection.barrier(),
      execute: (em, envelope, type) =>
        commands.executeIn(em, toConversationCommand(type.type as ConversationCommand['type'], envelope.data as ConversationRequest)),
    });
  }
}
