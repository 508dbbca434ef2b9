import { ConversationServiceController } from '@im/contracts';
import { Controller } from '@nestjs/common';
import { GrpcMethod } from '@nestjs/microservices';
import { ConversationCommands, ConversationRequest, toConversationCommand } from './conversation-commands';
import { SyncConversations } from './sync-conversations';

/** im.v1.ConversationService: request → command or query → response. No logic of its own. */
@Controller()
export class ConversationsGrpcController implements ConversationServiceController {
  constructor(
    private readonly commands: ConversationCommands,
    private readonly query: SyncConversations,
  ) {}

  @GrpcMethod('ConversationService', 'SyncConversations')
  syncConversations(req: Parameters<SyncConversations['sync']>[0]) {
    return this.query.sync(req);
  }

  @GrpcMethod('ConversationService', 'DeleteConversation')
  async deleteConversation(req: ConversationRequest) {
    await this.commands.execute(toConversationCommand('conversation.delete', req));
    return {};
  }

  @GrpcMethod('ConversationService', 'MarkRead')
  async markRead(req: ConversationRequest) {
    await this.commands.execute(toConversationCommand('conversation.mark_read', req));
    return {};
  }
}
