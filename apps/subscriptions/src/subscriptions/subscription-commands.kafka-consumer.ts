import { SUBSCRIPTION_COMMANDS, TOPICS } from '@im/contracts';
import { CommandConsumerFactory, CommandConsumerHost } from '@im/service-kit';
import { Injectable } from '@nestjs/common';
import { ChannelDirectory } from '../channel-directory/channel-directory.projection';
import { MembershipCommands } from './membership-commands';
import { MembershipCommandType, MembershipRequest, toMembershipCommand } from './subscription.mapper';

export const SUBSCRIPTION_COMMANDS_GROUP = 'subscriptions.commands';

/** im.subscriptions.commands.v1 → the same write path as gRPC; refused commands go to the DLQ. */
@Injectable()
export class SubscriptionCommandsKafkaConsumer extends CommandConsumerHost {
  constructor(commands: MembershipCommands, directory: ChannelDirectory, factory: CommandConsumerFactory) {
    super();
    this.host(factory, {
      groupId: SUBSCRIPTION_COMMANDS_GROUP,
      topic: TOPICS.subscriptionsCommands,
      types: SUBSCRIPTION_COMMANDS,
      // A channel created before the command was produced is known to the directory.
      beforeBatch: () => directory.barrier(),
      // Server time, not the producer's clock, stamps the change (as for gRPC).
      execute: (em, envelope, type) =>
        commands
          .executeIn(em, toMembershipCommand(type.type as MembershipCommandType, envelope.data as MembershipRequest, new Date().toISOString()))
          .then(() => undefined),
    });
  }
}
