import { decideDelete, decideMarkRead } from '@im/conversations-domain';
import { inTransaction, preferGenericPlans } from '@im/persistence';
import { DATA_SOURCE } from '@im/service-kit';
import { ChannelRef, resolveChannelForUser, validateRequestText, validateUid, validateUint64 } from '@im/shared-domain';
import { Inject, Injectable } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';
import { transactionVersion } from './change-versions';
import { ConversationRepository } from './conversation.repository';
import { ConversationsProjection } from './conversations.projection';

/** Requests as they arrive from gRPC or as the `data` of a Kafka command (same JSON shape). */
export interface ConversationRequest {
  uid?: unknown;
  channel?: unknown;
  readSeq?: unknown;
}

export type ConversationCommand =
  { type: 'conversation.delete'; uid: string; channel: ChannelRef } | { type: 'conversation.mark_read'; uid: string; channel: ChannelRef; readSeq: number };

export function toConversationCommand(type: ConversationCommand['type'], req: ConversationRequest): ConversationCommand {
  validateRequestText(req);
  const uid = validateUid(req.uid);
  const channel = resolveChannelForUser(uid, req.channel);
  if (type === 'conversation.delete') return { type, uid, channel };
  // Clamped, as the contract says: a read position beyond the last message means "all of it".
  const readSeq = validateUint64('read_seq', req.readSeq, { invalid: 'INVALID_READ_SEQ', clamp: true });
  return { type, uid, channel, readSeq };
}

/**
 * The write path of DeleteConversation and MarkRead, shared by gRPC and Kafka commands:
 * read barrier → one transaction (cursor move, numbered with its transaction's version) → acknowledge. Both are
 * idempotent: a cursor only moves forward.
 */
@Injectable()
export class ConversationCommands {
  private readonly repository = new ConversationRepository();

  constructor(
    @Inject(DATA_SOURCE) private readonly dataSource: DataSource,
    private readonly projection: ConversationsProjection,
  ) {}

  async execute(command: ConversationCommand): Promise<void> {
    await this.projection.barrier();
    await inTransaction(this.dataSource, (em) => this.apply(em, command));
  }

  /**
   * Inside the caller's transaction (the Kafka consumer claims the command in the same one). The
   * caller has passed the projection's barrier first, outside the transaction.
   */
  async executeIn(em: EntityManager, command: ConversationCommand): Promise<void> {
    await this.apply(em, command);
  }

  private async apply(em: EntityManager, command: ConversationCommand): Promise<void> {
    await preferGenericPlans(em);
    // No lock against the projection: a message projected after this read is newer than what the
    // uid deleted or read, so it stays unread and brings a deleted conversation back (G4), and the
    // cursors only move forward, whatever the order of concurrent commands.
    const row = await this.repository.findOne(em, command.uid, command.channel);
    if (!row) return;
    const now = Date.now();
    if (command.type === 'conversation.delete') {
      const floor = decideDelete(row);
      if (floor !== null) await this.repository.moveDeleteFloor(em, command.uid, command.channel, floor, await transactionVersion(em), now);
    } else {
      const readSeq = decideMarkRead(row, command.readSeq);
      if (readSeq !== null) await this.repository.moveReadSeq(em, command.uid, command.channel, readSeq, await transactionVersion(em), now);
    }
  }
}
