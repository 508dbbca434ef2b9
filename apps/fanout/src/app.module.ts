import { dlqTopicOf, TOPICS } from '@im/contracts';
import { PlatformModule } from '@im/service-kit';
import { DynamicModule, Module } from '@nestjs/common';
import { FanoutConfig, FANOUT_SERVICE } from './config/fanout.config';
import { DeliveriesGrpcController } from './deliveries/deliveries.grpc-controller';
import { DeliveryEncoder } from './deliveries/delivery-encoder';
import { DeliveryHub } from './deliveries/delivery-hub';
import { LiveDeliveriesConsumer } from './deliveries/live-deliveries.kafka-consumer';
import { FanoutCommandsKafkaConsumer } from './fanout-commands.kafka-consumer';
import { FanoutInputsProjection } from './inputs/fanout-inputs.projection';
import { ChannelCommandsProjection } from './commands/channel-commands.projection';
import { CommandStream } from './commands/command-stream';
import { CommandsGrpcController } from './commands/commands.grpc-controller';
import { MessageCommands } from './messages/message-commands';
import { MessageSequencer } from './messages/message-sequencer';
import { MessagesGrpcController } from './messages/messages.grpc-controller';
import { SendMessagesGrpcController } from './messages/send-messages.grpc-controller';
import { FANOUT_MIGRATIONS } from './migrations';

/** The fanout service: the message log (send, history), per-uid command queues and live deliveries to gateways. */
@Module({})
export class FanoutAppModule {
  static forRoot(config: FanoutConfig): DynamicModule {
    return {
      module: FanoutAppModule,
      imports: [
        PlatformModule.forRoot({
          service: FANOUT_SERVICE,
          config,
          migrations: FANOUT_MIGRATIONS,
          // Malformed upstream events are dead-lettered next to their topic, so those DLQs are ours too.
          topics: [
            TOPICS.fanoutEvents,
            TOPICS.fanoutCommands,
            dlqTopicOf(TOPICS.fanoutCommands),
            TOPICS.channelsEvents,
            TOPICS.subscriptionsEvents,
            dlqTopicOf(TOPICS.channelsEvents),
            dlqTopicOf(TOPICS.subscriptionsEvents),
          ],
        }),
      ],
      controllers: [MessagesGrpcController, SendMessagesGrpcController, DeliveriesGrpcController, CommandsGrpcController],
      providers: [
        FanoutInputsProjection,
        MessageSequencer,
        MessageCommands,
        ChannelCommandsProjection,
        CommandStream,
        FanoutCommandsKafkaConsumer,
        DeliveryHub,
        { provide: DeliveryEncoder, useFactory: () => DeliveryEncoder.forContract() },
        LiveDeliveriesConsumer,
      ],
    };
  }
}
