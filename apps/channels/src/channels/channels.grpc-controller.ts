import { ChannelServiceController } from '@im/contracts';
import { validateChannelRef } from '@im/shared-domain';
import { Controller } from '@nestjs/common';
import { GrpcMethod } from '@nestjs/microservices';
import { ChannelCommands } from './channel-commands';
import { ChannelCommandType, ChannelRequest, requireLive, toChannelCommand, toChannelMessage } from './channel.mapper';

/** im.v1.ChannelService: request → command → write path → `Channel`. No logic of its own. */
@Controller()
export class ChannelsGrpcController implements ChannelServiceController {
  constructor(private readonly commands: ChannelCommands) {}

  private async run(type: ChannelCommandType, req: ChannelRequest) {
    return toChannelMessage(await this.commands.execute(toChannelCommand(type, req, new Date().toISOString())));
  }

  @GrpcMethod('ChannelService', 'CreateChannel')
  createChannel(req: ChannelRequest) {
    return this.run('channel.create', req);
  }

  @GrpcMethod('ChannelService', 'UpdateChannel')
  updateChannel(req: ChannelRequest) {
    return this.run('channel.update', req);
  }

  @GrpcMethod('ChannelService', 'DeleteChannel')
  deleteChannel(req: ChannelRequest) {
    return this.run('channel.delete', req);
  }

  @GrpcMethod('ChannelService', 'GetChannel')
  async getChannel(req: ChannelRequest) {
    const ref = validateChannelRef(req.channel);
    return toChannelMessage(requireLive(await this.commands.get(ref), ref));
  }
}
