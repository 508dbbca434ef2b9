import { dlqTopicOf, TOPICS } from '@im/contracts';
import { PlatformModule } from '@im/service-kit';
import { DynamicModule, Module } from '@nestjs/common';
import { ChannelDirectory } from './channel-directory/channel-directory.projection';
import { SubscriptionsConfig, SUBSCRIPTIONS_SERVICE } from './config/subscriptions.config';
import { SUBSCRIPTIONS_MIGRATIONS } from './migrations';
import { MembershipCommands } from './subscriptions/membership-commands';
import { SubscriptionCommandsKafkaConsumer } from './subscriptions/subscription-commands.kafka-consumer';
import { SubscriptionsGrpcController } from './subscriptions/subscriptions.grpc-controller';

@Module({})
export class SubscriptionsAppModule {
  static forRoot(config: SubscriptionsConfig): DynamicModule {
    return {
      module: SubscriptionsAppModule,
      imports: [
        PlatformModule.forRoot({
          service: SUBSCRIPTIONS_SERVICE,
          config,
          migrations: SUBSCRIPTIONS_MIGRATIONS,
          topics: [TOPICS.subscriptionsEvents, TOPICS.subscriptionsCommands, dlqTopicOf(TOPICS.subscriptionsCommands), TOPICS.channelsEvents],
        }),
      ],
      controllers: [SubscriptionsGrpcController],
      providers: [ChannelDirectory, MembershipCommands, SubscriptionCommandsKafkaConsumer],
    };
  }
}
