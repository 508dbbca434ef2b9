import { DataOf, Envelope, SendCmdCommand } from '@im/contracts';
import { nextAckCursor, SendCommandRequest, syncWindow, validateSendCommand, ValidSendCommand } from '@im/fanout-domain';
import { inTransaction, OutboxRelay } from '@im/persistence';
import { DATA_SOURCE, OUTBOX_RELAY } from '@im/service-kit';
import { channelAsSeenBy, notFound, validateUid } from '@im/shared-domain';
import { Inject, Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { DataSource, EntityManager } from 'typeorm';
import { FanoutInputsProjection } from '../inputs/fanout-inputs.projection';
import { ChannelCommandsProjection } from './channel-commands.projection';
import { currentRecipients, isLiveChannel } from './channel-recipients';
import { CommandQueueRepository } from './command-queue.repository';

/**
 * The command stream of CommandService and `cmd.send`: queue (write diffusion, through the outbox),
 * sync (exact paging after the ack cursor) and ack (forward only).
 */
@Injectable()
export class CommandStream {
  private readonly queue = new CommandQueueRepository();

  constructor(
    @Inject(DATA_SOURCE) private readonly dataSource: DataSource,
    @Inject(OUTBOX_RELAY) private readonly relay: OutboxRelay,
    private readonly inputs: FanoutInputsProjection,
    private readonly channelCommands: ChannelCommandsProjection,
  ) {}

  /** SendCommand: acknowledged once every copy is on Kafka. */
  async send(req: SendCommandRequest): Promise<{ commandId: string }> {
    const valid = validateSendCommand(req);
    const commandId = randomUUID();
    if (valid.uids.length === 0) await this.inputs.barrier();
    await inTransaction(this.dataSource, (em) => this.sendIn(em, valid, commandId));
    await this.relay.flush();
    return { commandId };
  }

  /**
   * `cmd.send` from Kafka, inside the consumer's transaction, which has passed the inputs' barrier
   * first; the envelope id makes redelivery harmless.
   */
  async sendFromKafka(em: EntityManager, envelope: Envelope<DataOf<typeof SendCmdCommand>>): Promise<void> {
    const { payload, ...rest } = envelope.data;
    const valid = validateSendCommand({ ...rest, payload: Buffer.from(payload ?? '', 'base64') });
    await this.sendIn(em, valid, envelope.id);
  }

  private async sendIn(em: EntityManager, valid: ValidSendCommand, sourceId: string): Promise<void> {
    const { channel } = valid.command;
    let uids = valid.uids;
    if (uids.length === 0) {
      if (!(await isLiveChannel(em, this.inputs, channel))) {
        throw notFound('CHANNEL_NOT_FOUND', `channel ${channel.channelType}:${channel.channelId} does not exist`);
      }
      uids = await currentRecipients(em, this.inputs, channel);
    }
    await this.queue.enqueue(em, sourceId, valid.command, uids, new Date());
  }

  async sync(req: { uid?: unknown; afterSeq?: number; limit?: number }) {
    const uid = validateUid(req.uid);
    // Read-your-writes: every channel update acknowledged before this sync is queued.
    await this.channelCommands.barrier();
    const em = this.dataSource.manager;
    const window = syncWindow(req, (await this.queue.cursor(em, uid)).ackedSeq);
    const page = await this.queue.page(em, uid, window.afterSeq, window.limit + 1);
    return {
      commands: page.slice(0, window.limit).map((c) => ({
        cmdSeq: c.cmdSeq,
        type: c.type,
        channel: channelAsSeenBy(uid, c.channel),
        version: c.version,
        payload: c.payload,
        createdAtMs: c.createdAt.getTime(),
      })),
      hasMore: page.length > window.limit,
    };
  }

  async ack(req: { uid?: unknown; upToSeq?: number }): Promise<Record<string, never>> {
    const uid = validateUid(req.uid);
    await inTransaction(this.dataSource, async (em) => {
      const cursor = await this.queue.cursor(em, uid, true);
      await this.queue.setAcked(em, uid, nextAckCursor(cursor, req.upToSeq));
    });
    return {};
  }
}
