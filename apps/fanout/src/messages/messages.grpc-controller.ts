import { MESSAGE_SERVICE, MessageServiceController } from '@im/contracts';
import { Controller } from '@nestjs/common';
import { GrpcMethod } from '@nestjs/microservices';
import { MessageCommands, SyncInput } from './message-commands';
import { SendMessageInput } from './message.mapper';

/** im.v1.MessageService unary methods: request → write path or query → response. */
@Controller()
export class MessagesGrpcController implements Pick<MessageServiceController, 'sendMessage' | 'syncMessages'> {
  constructor(private readonly messages: MessageCommands) {}

  @GrpcMethod(MESSAGE_SERVICE, 'SendMessage')
  sendMessage(req: SendMessageInput) {
    return this.messages.send(req);
  }

  @GrpcMethod(MESSAGE_SERVICE, 'SyncMessages')
  syncMessages(req: SyncInput) {
    return this.messages.sync(req);
  }
}
