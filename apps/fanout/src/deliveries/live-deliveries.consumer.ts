import { CmdStoredData, decodeEnvelope, FANOUT_EVENTS, StoredMessageData, TOPICS } from '@im/contracts';
import { LiveConsumer } from '@im/kafka';
import { DATA_SOURCE, KAFKA, KAFKA_ADMIN } from '@im/service-kit';
import { channelAsSeenBy, isPersonChannel, personChannelMembers } from '@im/shared-domain';
import { BeforeApplicationShutdown, Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { Admin, Kafka } from 'kafkajs';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { MembershipRepository } from '../inputs/membership.repository';
import { storedToMessageFor } from '../messages/message.mapper';
import { DeliveryHub } from './delivery-hub';

/**
 * Pushes each stored message and queued command to the gateway streams of this instance. Its own
 * consumer group per instance (every instance sees every event), starting at the end: delivery is
 * at most once, and gateways catch up with SyncMessages / SyncCommands after a reconnect.
 */
@Injectable()
export class LiveDeliveriesConsumer implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('deliveries');
  private readonly membership = new MembershipRepository();
  private readonly consumer: LiveConsumer;

  constructor(
    @Inject(KAFKA) kafka: Kafka,
    @Inject(KAFKA_ADMIN) admin: Admin,
    @Inject(DATA_SOURCE) private readonly dataSource: DataSource,
    private readonly hub: DeliveryHub,
  ) {
    this.consumer = new LiveConsumer({
      kafka,
      admin,
      groupId: `fanout.deliveries.${randomUUID()}`,
      topics: [TOPICS.fanoutEvents],
      handle: (batch) => this.push(batch.records.map((r) => decodeEnvelope(r.value, FANOUT_EVENTS, r.key))),
      onError: (error, batch) => this.logger.warn({ err: error, partition: batch.partition }, 'deliveries of a batch dropped'),
    });
  }

  /** Must finish before the instance reports ready: an attach acknowledged later sees every later message. */
  onApplicationBootstrap() {
    return this.consumer.start();
  }

  async beforeApplicationShutdown() {
    await this.consumer.stop();
  }

  private async push(decoded: ReturnType<typeof decodeEnvelope<(typeof FANOUT_EVENTS)[number]>>[]): Promise<void> {
    const attached = this.hub.attachedUids();
    if (attached.length === 0) return;
    const items: ({ kind: 'message'; message: StoredMessageData } | { kind: 'command'; command: CmdStoredData })[] = [];
    for (const d of decoded) {
      if (!d.ok) continue;
      if (d.envelope.type === 'message.stored') items.push({ kind: 'message', message: (d.envelope.data as { message: StoredMessageData }).message });
      else if (d.envelope.type === 'cmd.stored') items.push({ kind: 'command', command: d.envelope.data as CmdStoredData });
    }
    // Recipients of every group message of the batch, among the attached uids, in one query.
    const groupMessages = items.flatMap((i) => (i.kind === 'message' && !isPersonChannel(i.message.channel) ? [i.message] : []));
    const recipients = await this.membership.recipientsAmong(this.dataSource.manager, groupMessages, attached);
    const recipientsOf = new Map(groupMessages.map((m, i) => [m, recipients[i]]));
    for (const item of items) {
      if (item.kind === 'command') {
        const c = item.command;
        this.hub.deliver(c.uid, {
          command: {
            cmdSeq: c.cmdSeq,
            type: c.type,
            channel: channelAsSeenBy(c.uid, c.channel),
            version: c.version,
            payload: Buffer.from(c.payload, 'base64'),
            createdAtMs: c.createdAtMs ?? 0,
          },
        });
        continue;
      }
      const m = item.message;
      const uids = isPersonChannel(m.channel) ? [...new Set(personChannelMembers(m.channel.channelId))] : (recipientsOf.get(m) ?? []);
      for (const uid of uids) this.hub.deliver(uid, { message: storedToMessageFor(uid, m) });
    }
  }
}
