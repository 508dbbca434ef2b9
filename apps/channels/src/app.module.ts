import { TOPICS, dlqTopicOf } from '@im/contracts';
import { PlatformModule } from '@im/service-kit';
import { DynamicModule, Module } from '@nestjs/common';
import { ChannelCommands } from './channels/channel-commands';
import { ChannelCommandsKafkaConsumer } from './channels/channel-commands.kafka-consumer';
import { ChannelsGrpcController } from './channels/channels.grpc-controller';
import { CHANNELS_SERVICE, ChannelsConfig } from './config/channels.config';
import { CHANNELS_MIGRATIONS } from './migrations';

@Module({})
export class ChannelsAppModule {
  static forRoot(config: ChannelsConfig): DynamicModule {
    return {
      module: ChannelsAppModule,
      imports: [
        PlatformModule.forRoot({
          service: CHANNELS_SERVICE,
          config,
          migrations: CHANNELS_MIGRATIONS,
          topics: [TOPICS.channelsEvents, TOPICS.channelsCommands, dlqTopicOf(TOPICS.channelsCommands)],
        }),
      ],
      controllers: [ChannelsGrpcController],
      providers: [ChannelCommands, ChannelCommandsKafkaConsumer],
    };
  }
}
