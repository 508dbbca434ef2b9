import { DeliveryStreamMode, MAX_DELIVERY_FRAME_UIDS, RequestedStreamMode, streamModeAfterAttach, UidLookup } from '@im/fanout-domain';
import { Injectable } from '@nestjs/common';

/** What a stream can do: push one Delivery, or end with an error status. */
export interface DeliverySink {
  write(delivery: DeliveryFrame): void;
  fail(error: unknown): void;
}

/** A Delivery as the hub builds it (the proto `Delivery`, fields left out when unset). */
export interface DeliveryFrame {
  uid: string;
  uids?: readonly string[];
  message?: object;
  command?: object;
  attached?: { uids: readonly string[] };
}

/** One Delivery to write on one stream. */
export interface Frame {
  sink: DeliverySink;
  delivery: DeliveryFrame;
}

/**
 * Who receives one message on this instance, stream by stream: on each batched stream its
 * recipients in parts of at most MAX_DELIVERY_FRAME_UIDS, on each per-uid stream each recipient.
 * It depends on the recipients and on the attachments only, so the messages of one channel at one
 * membership version share it (and a batched part's encoding) until an attach or detach touches
 * one of its members (see `changesSince`).
 */
export interface Audience {
  batched: ReadonlyArray<{ sink: DeliverySink; uids: readonly string[] }>;
  perUid: ReadonlyArray<{ sink: DeliverySink; uid: string }>;
}

/** See DeliveryHub.audienceBuilder. */
export interface AudienceBuilder {
  add(uid: string): void;
  finish(): Audience;
}

/**
 * How many attach/detach changes of single uids the hub remembers: a cached audience older than
 * that is rebuilt instead of checked. Checking a change is one probe of the channel's memberships.
 */
export const REMEMBERED_UID_CHANGES = 4096;

/** Recipients who all see a message the same way, and the proto `Message` as they see it. */
export interface MessageView {
  uids: readonly string[];
  message: object;
}

interface Stream {
  sink: DeliverySink;
  uids: Set<string>;
  /** Fixed by the stream's first Attach; undefined before it. */
  mode?: DeliveryStreamMode;
}

/** Batched and audience streams both get one frame per message listing (or naming) its recipients. */
const isBatched = (stream: Stream) => stream.mode !== undefined && stream.mode !== 'per-uid';

/**
 * The gateway streams of this instance, indexed by uid: what a delivery costs depends on the
 * recipients of the message, not on how many uids are attached.
 */
@Injectable()
export class DeliveryHub {
  private readonly streamsByUid = new Map<string, Set<Stream>>();
  private readonly streams = new Map<DeliverySink, Stream>();
  /** Uids attached or detached, oldest first; `changeCount` counts every one ever made. */
  private readonly recentChanges: string[] = [];
  private changeCount = 0;

  open(sink: DeliverySink): void {
    this.streams.set(sink, { sink, uids: new Set() });
  }

  /**
   * Registers uids on a stream and returns its mode. The first Attach decides the mode; a later one
   * that disagrees is refused (INVALID_ARGUMENT, see `streamModeAfterAttach`) and registers nothing.
   */
  attach(sink: DeliverySink, uids: readonly string[], requested: RequestedStreamMode = {}): DeliveryStreamMode | undefined {
    const stream = this.streams.get(sink);
    if (!stream) return undefined;
    stream.mode = streamModeAfterAttach(stream.mode, requested);
    for (const uid of uids) {
      if (stream.uids.has(uid)) continue;
      stream.uids.add(uid);
      this.changed(uid);
      let streams = this.streamsByUid.get(uid);
      if (!streams) this.streamsByUid.set(uid, (streams = new Set()));
      streams.add(stream);
    }
    return stream.mode;
  }

  detach(sink: DeliverySink, uids: Iterable<string>): void {
    const stream = this.streams.get(sink);
    if (!stream) return;
    for (const uid of uids) {
      if (stream.uids.delete(uid)) this.changed(uid);
      const streams = this.streamsByUid.get(uid);
      streams?.delete(stream);
      if (streams?.size === 0) this.streamsByUid.delete(uid);
    }
  }

  close(sink: DeliverySink): void {
    const stream = this.streams.get(sink);
    if (!stream) return;
    this.detach(sink, [...stream.uids]);
    this.streams.delete(sink);
  }

  /** The uids attached to at least one stream, to probe or walk. */
  get attached(): UidLookup {
    return this.streamsByUid;
  }

  /** The number of uid attachments made or undone so far: the `asOf` of an audience built now. */
  get changes(): number {
    return this.changeCount;
  }

  /**
   * The uids attached or detached since `asOf` (a value of `changes`), or undefined when more
   * changed than the hub remembers: then every audience built before is stale.
   */
  changesSince(asOf: number): readonly string[] | undefined {
    const count = this.changeCount - asOf;
    if (count > this.recentChanges.length) return undefined;
    return this.recentChanges.slice(this.recentChanges.length - count);
  }

  /**
   * The audience of a recipient list, built as its recipients come (for a list too long to go
   * through in one turn of the event loop). A uid attached to no stream is skipped.
   */
  audienceBuilder(): AudienceBuilder {
    const parts = new Map<Stream, string[][]>();
    const perUid: Array<{ sink: DeliverySink; uid: string }> = [];
    return {
      add: (uid) => {
        for (const stream of this.streamsByUid.get(uid) ?? []) {
          if (!isBatched(stream)) {
            perUid.push({ sink: stream.sink, uid });
            continue;
          }
          const mine = parts.get(stream);
          if (!mine) parts.set(stream, [[uid]]);
          else if (mine[mine.length - 1].length < MAX_DELIVERY_FRAME_UIDS) mine[mine.length - 1].push(uid);
          else mine.push([uid]);
        }
      },
      finish: () => ({ batched: [...parts].flatMap(([stream, all]) => all.map((uids) => ({ sink: stream.sink, uids }))), perUid }),
    };
  }

  /**
   * The frames of one message for its audience: on a per-uid stream one per recipient (`uid` set,
   * as before batching existed), on a batched stream one per part with `uids` = the part. The
   * `message` object is shared by every frame.
   */
  framesFor(audience: Audience, message: object): Frame[] {
    const frames: Frame[] = [];
    for (const { sink, uid } of audience.perUid) frames.push({ sink, delivery: { uid, message } });
    for (const { sink, uids } of audience.batched) frames.push({ sink, delivery: { uid: '', uids, message } });
    return frames;
  }

  /** The frames of the views of one message (a group message has one view, a person message one per viewpoint). */
  messageFrames(views: readonly MessageView[]): Frame[] {
    return views.flatMap(({ uids, message }) => {
      const audience = this.audienceBuilder();
      for (const uid of uids) audience.add(uid);
      return this.framesFor(audience.finish(), message);
    });
  }

  /** The frames of one command: one per stream the uid is attached to; batched streams also get `uids` = [uid]. */
  commandFrames(uid: string, command: object): Frame[] {
    const frames: Frame[] = [];
    for (const stream of this.streamsByUid.get(uid) ?? []) {
      frames.push({ sink: stream.sink, delivery: isBatched(stream) ? { uid, uids: [uid], command } : { uid, command } });
    }
    return frames;
  }

  private changed(uid: string): void {
    this.changeCount++;
    this.recentChanges.push(uid);
    // Dropped in chunks, so a steady stream of attaches costs O(1) each on average.
    if (this.recentChanges.length >= 2 * REMEMBERED_UID_CHANGES) this.recentChanges.splice(0, this.recentChanges.length - REMEMBERED_UID_CHANGES);
  }

  /** Ends every stream (on shutdown: gateways reconnect elsewhere and catch up). */
  failAll(error: unknown): void {
    for (const sink of [...this.streams.keys()]) {
      this.close(sink);
      sink.fail(error);
    }
  }
}
