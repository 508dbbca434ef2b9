import { TOPICS } from '@im/contracts';
import { crashPoint, EventStore, inTransaction, isStreamConflict, OutboxRelay } from '@im/persistence';
import { DATA_SOURCE, OUTBOX_RELAY } from '@im/service-kit';
import { channelKey } from '@im/shared-domain';
import {
  channelNotFound,
  decideMembership,
  decodePageToken,
  effectivePageSize,
  encodePageToken,
  MembershipCommand,
  MembershipEvent,
  validateMembershipChannel,
  validateMembershipCommand,
} from '@im/subscriptions-domain';
import { Inject, Injectable } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';
import { ChannelDirectory } from '../channel-directory/channel-directory.projection';
import { MembershipRepository } from './membership.repository';

/** What goes on the wire for a membership event: the domain event minus its time (carried by the envelope). */
const eventData = (e: MembershipEvent) => ({
  channel: e.channel,
  uids: e.uids,
  membershipVersion: e.membershipVersion,
  ...(e.reset ? { reset: true } : {}),
});

export interface SubscribersPage {
  uids: string[];
  nextPageToken: string;
  membershipVersion: number;
}

/**
 * The write path of the subscriptions service, shared by gRPC and Kafka commands:
 * validate → wait for the channel directory → decide (pure) → commit events + membership in one
 * transaction → publish through the outbox → acknowledge.
 */
@Injectable()
export class MembershipCommands {
  private readonly store = new EventStore('subscriptions');
  private readonly repository = new MembershipRepository();

  constructor(
    @Inject(DATA_SOURCE) private readonly dataSource: DataSource,
    @Inject(OUTBOX_RELAY) private readonly relay: OutboxRelay,
    private readonly directory: ChannelDirectory,
  ) {}

  /** For callers that wait for the answer: returns the membership version once the events are on Kafka. */
  async execute(command: MembershipCommand): Promise<number> {
    const valid = validateMembershipCommand(command);
    await this.directory.barrier();
    const version = await inTransaction(this.dataSource, (em) => this.apply(em, valid), { retryOn: isStreamConflict });
    crashPoint('subscriptions:after-commit');
    await this.relay.flush();
    return version;
  }

  /**
   * Applies a command inside the caller's transaction (the Kafka consumer adds its checkpoint to
   * it). The caller has passed the channel directory's barrier first, outside the transaction.
   */
  async executeIn(em: EntityManager, command: MembershipCommand): Promise<number> {
    return this.apply(em, validateMembershipCommand(command));
  }

  private async apply(em: EntityManager, command: MembershipCommand): Promise<number> {
    const { channel } = command;
    if (!(await this.directory.isLive(em, channel))) throw channelNotFound(channel);
    const version = await this.repository.lockVersion(em, channel, command.now);
    const reset = command.type === 'subscribers.add' && command.reset;
    const current = reset ? await this.repository.allCurrent(em, channel) : await this.repository.currentAmong(em, channel, command.uids);
    const events = decideMembership({ channelExists: true, version, currentMembers: new Set(current) }, command);
    if (events.length === 0) return version;
    // Stream = channel, version = membership version: the unique (stream_id, version) key backs up the row lock.
    await this.store.append(
      em,
      events.map((e) => ({
        streamId: channelKey(e.channel),
        version: e.membershipVersion,
        type: e.type,
        data: eventData(e),
        topic: TOPICS.subscriptionsEvents,
        key: channelKey(e.channel),
        occurredAt: e.occurredAt,
      })),
    );
    await this.repository.apply(em, channel, events, command.now);
    return events[events.length - 1].membershipVersion;
  }

  /** One page of current subscribers, read in one snapshot with the membership version it reflects. */
  async list(req: { channel: unknown; pageSize?: unknown; pageToken?: unknown }): Promise<SubscribersPage> {
    const channel = validateMembershipChannel(req.channel);
    const after = decodePageToken(channel, req.pageToken);
    const size = effectivePageSize(req.pageSize);
    await this.directory.barrier();
    return this.dataSource.transaction('REPEATABLE READ', async (em) => {
      if (!(await this.directory.isLive(em, channel))) throw channelNotFound(channel);
      const membershipVersion = await this.repository.readVersion(em, channel);
      const uids = await this.repository.listCurrent(em, channel, after, size + 1);
      const more = uids.length > size;
      const page = more ? uids.slice(0, size) : uids;
      return { uids: page, nextPageToken: more ? encodePageToken(channel, page[page.length - 1]) : '', membershipVersion };
    });
  }
}
