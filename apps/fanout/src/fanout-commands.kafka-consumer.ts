import { DataOf, FANOUT_COMMANDS, SendCmdCommand, SendMessageCommand, TOPICS } from '@im/contracts';
import { CommandConsumerFactory, CommandConsumerHost } from '@im/service-kit';
import { Injectable } from '@nestjs/common';
import { CommandStream } from './commands/command-stream';
import { FanoutInputsProjection } from './inputs/fanout-inputs.projection';
import { MessageCommands } from './messages/message-commands';

export const FANOUT_COMMANDS_GROUP = 'fanout.commands';

/**
 * im.fanout.commands.v1 → the same write paths as gRPC SendMessage and SendCommand; refusals go to
 * the DLQ. One consumer for the topic: a second group on it would dead-letter the other's types.
 */
@Injectable()
export class FanoutCommandsKafkaConsumer extends CommandConsumerHost {
  constructor(messages: MessageCommands, commands: CommandStream, inputs: FanoutInputsProjection, factory: CommandConsumerFactory) {
    super();
    this.host(factory, {
      groupId: FANOUT_COMMANDS_GROUP,
      topic: TOPICS.fanoutCommands,
      types: FANOUT_COMMANDS,
      // Membership and channel state acknowledged before a command was produced decide its recipients.
      beforeBatch: () => inputs.barrier(),
      execute: async (em, envelope, type) => {
        if (type === SendMessageCommand) return messages.sendCommand(envelope.data as DataOf<typeof SendMessageCommand>);
        if (type === SendCmdCommand) return commands.sendFromKafka(em, { ...envelope, data: envelope.data as DataOf<typeof SendCmdCommand> });
        throw new Error(`no handler for ${type.type}`); // every type of FANOUT_COMMANDS is handled above
      },
    });
  }
}
