import { COMMAND_SERVICE, CommandServiceController } from '@im/contracts';
import { Controller } from '@nestjs/common';
import { GrpcMethod } from '@nestjs/microservices';
import { CommandStream } from './command-stream';

/** im.v1.CommandService: request → command stream → response. */
@Controller()
export class CommandsGrpcController implements CommandServiceController {
  constructor(private readonly stream: CommandStream) {}

  @GrpcMethod(COMMAND_SERVICE, 'SyncCommands')
  syncCommands(req: { uid?: string; afterSeq?: number; limit?: number }) {
    return this.stream.sync(req);
  }

  @GrpcMethod(COMMAND_SERVICE, 'AckCommands')
  ackCommands(req: { uid?: string; upToSeq?: number }) {
    return this.stream.ack(req);
  }

  @GrpcMethod(COMMAND_SERVICE, 'SendCommand')
  sendCommand(req: { type?: string; channel?: unknown; uids?: string[]; payload?: Buffer }) {
    return this.stream.send(req);
  }
}
