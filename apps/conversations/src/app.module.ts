import { dlqTopicOf, TOPICS } from '@im/contracts';
import { PlatformModule } from '@im/service-kit';
import { DynamicModule, Module } from '@nestjs/common';
import { ConversationsConfig, CONVERSATIONS_SERVICE } from './config/conversations.config';
import { ChannelMessagePruning } from './conversations/channel-message-pruning';
import { ConversationCommands } from './conversations/conversation-commands';
import { ConversationCommandsKafkaConsumer } from './conversations/conversation-commands.kafka-consumer';
import { ConversationsGrpcController } from './conversations/conversations.grpc-controller';
import { CONVERSATIONS_INPUT_TOPICS, ConversationsProjection } from './conversations/conversations.projection';
import { SyncConversations } from './conversations/sync-conversations';
import { CONVERSATIONS_MIGRATIONS } from './migrations';

/** The conversations service: each uid's conversation list, read-diffused from the message, membership and channel topics. */
@Module({})
export class ConversationsAppModule {
  static forRoot(config: ConversationsConfig): DynamicModule {
    return {
      module: ConversationsAppModule,
      imports: [
        PlatformModule.forRoot({
          service: CONVERSATIONS_SERVICE,
          config,
          migrations: CONVERSATIONS_MIGRATIONS,
          topics: [
            TOPICS.conversationsCommands,
            dlqTopicOf(TOPICS.conversationsCommands),
            ...CONVERSATIONS_INPUT_TOPICS,
            // Malformed upstream events are dead-lettered by the projection.
            ...CONVERSATIONS_INPUT_TOPICS.map(dlqTopicOf),
          ],
        }),
      ],
      controllers: [ConversationsGrpcController],
      providers: [ConversationsProjection, ConversationCommands, SyncConversations, ConversationCommandsKafkaConsumer, ChannelMessagePruning],
    };
  }
}
