import { CmdStoredData, decodeEnvelope, FANOUT_EVENTS, StoredMessageData, TOPICS } from '@im/contracts';
import { LiveConsumer } from '@im/kafka';
import { CONFIG, DATA_SOURCE, KAFKA, KAFKA_ADMIN } from '@im/service-kit';
import { BeforeApplicationShutdown, Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { Admin, Kafka } from 'kafkajs';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { FanoutConfig } from '../config/fanout.config';
import { MembershipRepository } from '../inputs/membership.repository';
import { DeliveryHub } from './delivery-hub';
import { LiveDeliveries, LiveItem } from './live-deliveries';
import { MembershipCache } from './membership-cache';

/**
 * Pushes each stored message and queued command to the gateway streams of this instance. Its own
 * consumer group per instance (every instance sees every event), starting at the end: delivery is
 * at most once, and gateways catch up with SyncMessages / SyncCommands after a reconnect. Batches
 * are pushed one at a time, so each stream gets its deliveries in the order they were consumed.
 */
@Injectable()
export class LiveDeliveriesConsumer implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('deliveries');
  private readonly membership = new MembershipRepository();
  private readonly deliveries: LiveDeliveries;
  private readonly consumer: LiveConsumer;

  constructor(
    @Inject(KAFKA) kafka: Kafka,
    @Inject(KAFKA_ADMIN) admin: Admin,
    @Inject(DATA_SOURCE) dataSource: DataSource,
    @Inject(CONFIG) config: Pick<FanoutConfig, 'DELIVERY_MEMBERSHIP_CACHE_MAX_INTERVALS'>,
    hub: DeliveryHub,
  ) {
    this.deliveries = new LiveDeliveries(
      hub,
      new MembershipCache(config.DELIVERY_MEMBERSHIP_CACHE_MAX_INTERVALS),
      (channels) => this.membership.snapshots(dataSource.manager, channels),
      {
        onUnanswered: (m, snapshotVersion) =>
          this.logger.warn(
            { channel: m.channel, messageSeq: m.messageSeq, membershipVersion: m.membershipVersion, snapshotVersion },
            'membership projection is behind the message stamp; message not pushed live',
          ),
      },
    );
    this.consumer = new LiveConsumer({
      kafka,
      admin,
      groupId: `fanout.deliveries.${randomUUID()}`,
      topics: [TOPICS.fanoutEvents],
      // Nobody attached to this instance: nothing to push, so not even worth decoding.
      handle: async (batch) =>
        hub.attached.size === 0 ? undefined : this.deliveries.push(toLiveItems(batch.records.map((r) => decodeEnvelope(r.value, FANOUT_EVENTS, r.key)))),
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
}

function toLiveItems(decoded: ReturnType<typeof decodeEnvelope<(typeof FANOUT_EVENTS)[number]>>[]): LiveItem[] {
  const items: LiveItem[] = [];
  for (const d of decoded) {
    if (!d.ok) continue;
    if (d.envelope.type === 'message.stored') items.push({ kind: 'message', message: (d.envelope.data as { message: StoredMessageData }).message });
    else if (d.envelope.type === 'cmd.stored') items.push({ kind: 'command', command: d.envelope.data as CmdStoredData });
  }
  return items;
}
