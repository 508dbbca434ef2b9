import { batchedAfterAttach, MAX_DELIVERY_FRAME_UIDS, UidLookup } from '@im/fanout-domain';
import { Injectable } from '@nestjs/common';

/** What a stream can do: push one Delivery, or end with an error status. */
export interface DeliverySink {
  write(delivery: object): void;
  fail(error: unknown): void;
}

/** One Delivery to write on one stream. */
export interface Frame {
  sink: DeliverySink;
  delivery: object;
}

/** Recipients who all see a message the same way, and the proto `Message` as they see it. */
export interface MessageView {
  uids: readonly string[];
  message: object;
}

/** See DeliveryHub.messageFramesBuilder. */
export interface MessageFramesBuilder {
  add(uid: string): void;
  finish(): Frame[];
}

interface Stream {
  sink: DeliverySink;
  uids: Set<string>;
  /** Fixed by the stream's first Attach; undefined before it. */
  batched?: boolean;
}

/**
 * The gateway streams of this instance, indexed by uid: what a delivery costs depends on the
 * recipients of the message, not on how many uids are attached.
 */
@Injectable()
export class DeliveryHub {
  private readonly streamsByUid = new Map<string, Set<Stream>>();
  private readonly streams = new Map<DeliverySink, Stream>();

  open(sink: DeliverySink): void {
    this.streams.set(sink, { sink, uids: new Set() });
  }

  /**
   * Registers uids on a stream. The first Attach decides whether the stream is batched; a later one
   * that disagrees is refused (INVALID_ARGUMENT / BATCHED_MODE_MISMATCH) and registers nothing.
   */
  attach(sink: DeliverySink, uids: readonly string[], batched?: boolean | null): void {
    const stream = this.streams.get(sink);
    if (!stream) return;
    stream.batched = batchedAfterAttach(stream.batched, batched);
    for (const uid of uids) {
      stream.uids.add(uid);
      let streams = this.streamsByUid.get(uid);
      if (!streams) this.streamsByUid.set(uid, (streams = new Set()));
      streams.add(stream);
    }
  }

  detach(sink: DeliverySink, uids: Iterable<string>): void {
    const stream = this.streams.get(sink);
    if (!stream) return;
    for (const uid of uids) {
      stream.uids.delete(uid);
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

  /**
   * The frames of one message: on a per-uid stream one per recipient attached to it (`uid` set, as
   * before batching existed), on a batched stream one per view with `uids` = the view's recipients
   * attached to it (split in parts of MAX_DELIVERY_FRAME_UIDS). The `message` objects of the views
   * are shared by every frame.
   */
  messageFrames(views: readonly MessageView[]): Frame[] {
    const frames: Frame[] = [];
    for (const { uids, message } of views) {
      const builder = this.messageFramesBuilder(message, (frame) => frames.push(frame));
      for (const uid of uids) builder.add(uid);
      frames.push(...builder.finish());
    }
    return frames;
  }

  /**
   * The frames of one view of a message, built as its recipients come (for a recipient list too
   * long to go through in one turn of the event loop): `add` emits per-uid frames, and a batched
   * frame once it holds MAX_DELIVERY_FRAME_UIDS uids; `finish` returns the batched frames left.
   */
  messageFramesBuilder(message: object, emit: (frame: Frame) => void): MessageFramesBuilder {
    const batched = new Map<Stream, string[]>();
    return {
      add: (uid) => {
        const streams = this.streamsByUid.get(uid);
        if (!streams) return;
        for (const stream of streams) {
          if (!stream.batched) {
            emit({ sink: stream.sink, delivery: { uid, message } });
            continue;
          }
          const mine = batched.get(stream);
          if (!mine) batched.set(stream, [uid]);
          else if (mine.length < MAX_DELIVERY_FRAME_UIDS) mine.push(uid);
          else {
            emit({ sink: stream.sink, delivery: { uid: '', uids: mine, message } });
            batched.set(stream, [uid]);
          }
        }
      },
      finish: () => [...batched].map(([stream, uids]) => ({ sink: stream.sink, delivery: { uid: '', uids, message } })),
    };
  }

  /** The frames of one command: one per stream the uid is attached to; batched streams also get `uids` = [uid]. */
  commandFrames(uid: string, command: object): Frame[] {
    const frames: Frame[] = [];
    for (const stream of this.streamsByUid.get(uid) ?? []) {
      frames.push({ sink: stream.sink, delivery: stream.batched ? { uid, uids: [uid], command } : { uid, command } });
    }
    return frames;
  }

  /** Ends every stream (on shutdown: gateways reconnect elsewhere and catch up). */
  failAll(error: unknown): void {
    for (const sink of [...this.streams.keys()]) {
      this.close(sink);
      sink.fail(error);
    }
  }
}
