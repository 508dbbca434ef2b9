import { CmdStoredData, StoredMessageData } from '@im/contracts';
import { ChannelIntervals, eachRecipientAt, MembershipSnapshot, recipientsAt, snapshotAnswers, wasMemberAt } from '@im/fanout-domain';
import { channelAsSeenBy, channelKey, ChannelRef, isPersonChannel } from '@im/shared-domain';
import { storedGroupMessage, storedToMessageViews } from '../messages/message.mapper';
import { Audience, DeliveryHub, Frame } from './delivery-hub';
import { MembershipCache } from './membership-cache';
import { Pacer } from './pacer';

/** What the live push handles, from `im.fanout.events.v1`. */
export type LiveItem = { kind: 'message'; message: StoredMessageData } | { kind: 'command'; command: CmdStoredData };

/** Loads the current membership snapshots of channels, keyed by `channelKey` (one query for all). */
export type LoadSnapshots = (channels: readonly ChannelRef[]) => Promise<Map<string, MembershipSnapshot>>;

/**
 * Longest stretch of synchronous delivery work before the event loop gets a turn. A frame costs a
 * few microseconds to make and write (a batched one copies its parts, encoded once: ADR 10), so a
 * slice plus its last frame stays within the 10 ms budget of ADR 10.
 */
export const DELIVERY_SLICE_MS = 5;

const NO_INTERVALS: ChannelIntervals = new Map();

/** Recipients handled between two looks at the clock (each costs a few microseconds at most). */
const CLOCK_EVERY = 64;

/** Membership versions of one channel whose audiences are kept (messages of a channel mostly share one). */
const AUDIENCES_PER_SNAPSHOT = 4;

/** An audience and the hub's `changes` it reflects. */
interface KeptAudience {
  audience: Audience;
  asOf: number;
}

export interface LiveDeliveriesOptions {
  sliceMs?: number;
  /** A message none of whose recipients could be computed (its channel's snapshot is older than its stamp). */
  onUnanswered?: (message: StoredMessageData, snapshotVersion: number | undefined) => void;
}

/**
 * Pushes one consumed batch of stored messages and queued commands to the gateway streams of this
 * instance. Recipients come from the pure rule (`recipientsAt`) over channel memberships held in
 * memory, split by stream into audiences kept between batches (see `audienceOf`). A snapshot at
 * version V answers for any message stamped with V or less, so only a message stamped with a newer
 * version (or a channel not held) makes its channel load again, once per batch for all such
 * channels. The stamp is what makes this right on every instance, whichever partitions its own
 * projection consumes.
 */
export class LiveDeliveries {
  private readonly sliceMs: number;
  /**
   * Audiences of group messages by snapshot and membership version: held as long as the membership
   * cache holds the snapshot, so their memory is bounded by it.
   */
  private readonly audiences = new WeakMap<MembershipSnapshot, Map<number, KeptAudience>>();

  constructor(
    private readonly hub: DeliveryHub,
    private readonly cache: MembershipCache,
    private readonly load: LoadSnapshots,
    private readonly options: LiveDeliveriesOptions = {},
  ) {
    this.sliceMs = options.sliceMs ?? DELIVERY_SLICE_MS;
  }

  /** Writes every frame of the batch in order, yielding between slices; resolves when all are written. */
  async push(items: readonly LiveItem[]): Promise<void> {
    if (this.hub.attached.size === 0) return;
    const snapshots = await this.snapshotsFor(items);
    const pacer = new Pacer(this.sliceMs);
    const writeAll = async (frames: readonly Frame[]) => {
      for (const frame of frames) {
        frame.sink.write(frame.delivery);
        if (pacer.due()) await pacer.yield();
      }
    };
    for (const item of items) {
      if (item.kind === 'command') await writeAll(this.hub.commandFrames(item.command.uid, toCommand(item.command)));
      else if (isPersonChannel(item.message.channel)) {
        const m = item.message;
        await writeAll(this.hub.messageFrames(storedToMessageViews(m, recipientsAt(m.channel, m.membershipVersion, NO_INTERVALS, this.hub.attached))));
      } else {
        const m = item.message;
        const snapshot = snapshots.get(channelKey(m.channel));
        if (!snapshot || !snapshotAnswers(snapshot, m.membershipVersion)) {
          // Only when the projection is behind the stamp (e.g. while it is rebuilt): guessing could
          // reach a uid removed before the send, so nobody gets it live; gateways catch up by sync.
          this.options.onUnanswered?.(m, snapshot?.version);
        } else await writeAll(this.hub.framesFor(await this.audienceOf(m, snapshot, pacer), storedGroupMessage(m)));
      }
      if (pacer.due()) await pacer.yield();
    }
  }

  /**
   * The audience of a group message: the one kept for its channel and membership version while no
   * attach or detach since it was built touched a member at that version, else walked anew a slice
   * at a time (a 100k-member channel is a walk of tens of milliseconds). Changes made during the
   * walk are checked at the next use, since the kept audience is as of the walk's start.
   */
  private async audienceOf(m: StoredMessageData, snapshot: MembershipSnapshot, pacer: Pacer): Promise<Audience> {
    let byVersion = this.audiences.get(snapshot);
    if (!byVersion) this.audiences.set(snapshot, (byVersion = new Map()));
    const kept = byVersion.get(m.membershipVersion);
    if (kept && this.stillCurrent(kept, snapshot.intervals, m.membershipVersion)) return kept.audience;
    const asOf = this.hub.changes;
    const builder = this.hub.audienceBuilder();
    let sinceCheck = 0;
    for (const uid of eachRecipientAt(m.channel, m.membershipVersion, snapshot.intervals, this.hub.attached)) {
      builder.add(uid);
      if (++sinceCheck === CLOCK_EVERY) {
        sinceCheck = 0;
        if (pacer.due()) await pacer.yield();
      }
    }
    const audience = builder.finish();
    byVersion.delete(m.membershipVersion);
    byVersion.set(m.membershipVersion, { audience, asOf });
    if (byVersion.size > AUDIENCES_PER_SNAPSHOT) byVersion.delete(byVersion.keys().next().value as number);
    return audience;
  }

  /** Whether a kept audience still holds: none of the uids attached or detached since was a member at `version`. */
  private stillCurrent(kept: KeptAudience, intervals: ChannelIntervals, version: number): boolean {
    const changed = this.hub.changesSince(kept.asOf);
    if (!changed || changed.some((uid) => wasMemberAt(intervals, uid, version))) return false;
    kept.asOf = this.hub.changes;
    return true;
  }

  /** The snapshot of each group channel of the batch, new enough for its newest message. */
  private async snapshotsFor(items: readonly LiveItem[]): Promise<Map<string, MembershipSnapshot>> {
    const newest = new Map<string, { channel: ChannelRef; version: number }>();
    for (const item of items) {
      if (item.kind !== 'message' || isPersonChannel(item.message.channel)) continue;
      const { channel, membershipVersion } = item.message;
      const key = channelKey(channel);
      const seen = newest.get(key);
      if (!seen || seen.version < membershipVersion) newest.set(key, { channel, version: membershipVersion });
    }
    const found = new Map<string, MembershipSnapshot>();
    const missing: ChannelRef[] = [];
    for (const [key, { channel, version }] of newest) {
      const held = this.cache.answering(key, version);
      if (held) found.set(key, held);
      else missing.push(channel);
    }
    if (missing.length === 0) return found;
    for (const [key, snapshot] of await this.load(missing)) {
      this.cache.keep(key, snapshot);
      found.set(key, snapshot);
    }
    return found;
  }
}

/** The proto `Command` of a `cmd.stored` event, as its recipient sees the channel. */
const toCommand = (c: CmdStoredData) => ({
  cmdSeq: c.cmdSeq,
  type: c.type,
  channel: channelAsSeenBy(c.uid, c.channel),
  version: c.version,
  payload: Buffer.from(c.payload, 'base64'),
  createdAtMs: c.createdAtMs ?? 0,
});
