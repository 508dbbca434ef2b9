import { CHANNEL_COMMANDS, TOPICS } from '@im/contracts';
import { CommandConsumerFactory, CommandConsumerHost } from '@im/service-kit';
import { Injectable } from '@nestjs/common';
import { ChannelCommands } from './channel-commands';
import { ChannelCommandType, ChannelRequest, toChannelCommand } from './channel.mapper';

export const CHANNEL_COMMANDS_GROUP = 'channels.commands';

/** im.channels.commands.v1 → the same write path as gRPC; refused commands go to the DLQ. */
@Injectable()
export class ChannelCommandsKafkaConsumer extends CommandConsumerHost {
  constructor(commands: ChannelCommands, factory: CommandConsumerFactory) {
    super();
    this.host(factory, {
      groupId: CHANNEL_COMMANDS_GROUP,
      topic: TOPICS.channelsCommands,
      types: CHANNEL_COMMANDS,
      // Server time, not the producer's clock, stamps the change (as for gRPC).
      execute: (em, envelope, type) =>
        commands
          .executeIn(em, toChannelCommand(type.type as ChannelCommandType, envelope.data as ChannelRequest, new Date().toISOString()))
          .then(() => undefined),
    });
  }
}
