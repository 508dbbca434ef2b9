import { SubscriptionServiceController } from '@im/contracts';
import { Controller } from '@nestjs/common';
import { GrpcMethod } from '@nestjs/microservices';
import { MembershipCommands } from './membership-commands';
import { ListSubscribersRequest, MembershipRequest, toMembershipCommand } from './subscription.mapper';

/** im.v1.SubscriptionService: request → command → write path → response. No logic of its own. */
@Controller()
export class SubscriptionsGrpcController implements SubscriptionServiceController {
  constructor(private readonly commands: MembershipCommands) {}

  @GrpcMethod('SubscriptionService', 'AddSubscribers')
  async addSubscribers(req: MembershipRequest) {
    return { membershipVersion: await this.commands.execute(toMembershipCommand('subscribers.add', req, new Date().toISOString())) };
  }

  @GrpcMethod('SubscriptionService', 'RemoveSubscribers')
  async removeSubscribers(req: MembershipRequest) {
    return { membershipVersion: await this.commands.execute(toMembershipCommand('subscribers.remove', req, new Date().toISOString())) };
  }

  @GrpcMethod('SubscriptionService', 'ListSubscribers')
  listSubscribers(req: ListSubscribersRequest) {
    return this.commands.list({ channel: req.channel, pageSize: req.pageSize, pageToken: req.pageToken });
  }
}
