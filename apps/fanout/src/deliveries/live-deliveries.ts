import { CmdStoredData, StoredMessageData } from '@im/contracts';
import { ChannelIntervals, eachRecipientAt, MembershipSnapshot, recipientsAt, snapshotAnswers } from '@im/fanout-domain';
import { channelAsSeenBy, channelKey, ChannelRef, isPersonChannel } from '@im/shared-domain';
import { storedGroupMessage, storedToMessageViews } from '../messages/message.mapper';
import { DeliveryHub, Frame, MessageFramesBuilder } from './delivery-hub';
import { MembershipCache } from './membership-cache';
import { Pacer } from './pacer';

/** What the live push handles, from `im.fanout.events.v1`. */
export type LiveItem = { kind: 'message'; message: StoredMessageData } | { kind: 'command'; command: CmdStoredData };

/** Loads the current membership snapshots of channels, keyed by `channelKey` (one query for all). */
export type LoadSnapshots = (channels: readonly ChannelRef[]) => Promise<Map<string, MembershipSnapshot>>;

/**
 * Longest stretch of synchronous delivery work before the event loop gets a turn. A per-uid frame
 * costs a few microseconds to make and write, a batched frame of 10000 uids about 3 ms to encode,
 * so a slice plus its last frame stays within the 10 ms budget of ADR 10.
 */
export const DELIVERY_SLICE_MS = 5;

const NO_INTERVALS: ChannelIntervals = new Map();

/** Recipients handled between two looks at the clock (each costs a few microseconds at most). */
const CLOCK_EVERY = 64;

export interface LiveDeliveriesOptions {
  sliceMs?: number;
  /** A message none of whose recipients could be computed (its channel's snapshot is older than its stamp). */
  onUnanswered?: (message: StoredMessageData, snapshotVersion: number | undefined) => void;
}

/**
 * Pushes one consumed batch of stored messages and queued commands to the gateway streams of this
 * instance. Recipients come from the pure rule (`recipientsAt`) over channel memberships held in
 * memory: a snapshot at version V answers for any message stamped with V or less, so only a message
 * stamped with a newer version (or a channel not held) makes its channel load again, once per
 * batch for all such channels. The stamp is what makes this right on every instance, whichever
 * partitions its own projection consumes.
 */
export class LiveDeliveries {
  private readonly sliceMs: number;

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
    // Messages of one channel at one version have the same recipients: computed once per batch.
    // Reusing them after a yield is right: every message of the batch was stored before any attach
    // handled during the push was acknowledged, and detached uids are skipped when frames are made.
    const recipientsMemo = new Map<string, string[]>();
    for (const item of items) {
      if (item.kind === 'command') await writeAll(this.hub.commandFrames(item.command.uid, toCommand(item.command)));
      else if (isPersonChannel(item.message.channel)) {
        const m = item.message;
        await writeAll(this.hub.messageFrames(storedToMessageViews(m, recipientsAt(m.channel, m.membershipVersion, NO_INTERVALS, this.hub.attached))));
      } else await this.pushGroupMessage(item.message, snapshots, recipientsMemo, pacer, writeAll);
      if (pacer.due()) await pacer.yield();
    }
  }

  /**
   * A group message: one Message for everyone, recipients walked and frames made a slice at a time
   * (a 100k-member channel is a walk of tens of milliseconds).
   */
  private async pushGroupMessage(
    m: StoredMessageData,
    snapshots: Map<string, MembershipSnapshot>,
    memo: Map<string, string[]>,
    pacer: Pacer,
    writeAll: (frames: readonly Frame[]) => Promise<void>,
  ): Promise<void> {
    const key = channelKey(m.channel);
    const snapshot = snapshots.get(key);
    if (!snapshot || !snapshotAnswers(snapshot, m.membershipVersion)) {
      // Only when the projection is behind the stamp (e.g. while it is rebuilt): guessing could
      // reach a uid removed before the send, so nobody gets it live; gateways catch up by sync.
      this.options.onUnanswered?.(m, snapshot?.version);
      return;
    }
    const memoKey = `${key}@${m.membershipVersion}`;
    const known = memo.get(memoKey);
    const found: string[] = [];
    let frames: MessageFramesBuilder | undefined;
    let sinceCheck = 0;
    for (const uid of known ?? eachRecipientAt(m.channel, m.membershipVersion, snapshot.intervals, this.hub.attached)) {
      if (!known) found.push(uid);
      frames ??= this.hub.messageFramesBuilder(storedGroupMessage(m), (frame) => frame.sink.write(frame.delivery));
      frames.add(uid);
      if (++sinceCheck === CLOCK_EVERY && pacer.due()) await pacer.yield();
      sinceCheck %= CLOCK_EVERY;
    }
    if (!known) memo.set(memoKey, found);
    if (frames) await writeAll(frames.finish());
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
