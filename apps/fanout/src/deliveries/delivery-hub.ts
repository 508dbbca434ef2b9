import { Injectable } from '@nestjs/common';

/** What a stream can do: push one Delivery, or end with an error status. */
export interface DeliverySink {
  write(delivery: object): void;
  fail(error: unknown): void;
}

/** The gateway streams of this instance and the uids attached to each. */
@Injectable()
export class DeliveryHub {
  private readonly streamsByUid = new Map<string, Set<DeliverySink>>();
  private readonly uidsByStream = new Map<DeliverySink, Set<string>>();

  open(sink: DeliverySink): void {
    this.uidsByStream.set(sink, new Set());
  }

  attach(sink: DeliverySink, uids: readonly string[]): void {
    const mine = this.uidsByStream.get(sink);
    if (!mine) return;
    for (const uid of uids) {
      mine.add(uid);
      let streams = this.streamsByUid.get(uid);
      if (!streams) this.streamsByUid.set(uid, (streams = new Set()));
      streams.add(sink);
    }
  }

  detach(sink: DeliverySink, uids: Iterable<string>): void {
    const mine = this.uidsByStream.get(sink);
    for (const uid of uids) {
      mine?.delete(uid);
      const streams = this.streamsByUid.get(uid);
      streams?.delete(sink);
      if (streams?.size === 0) this.streamsByUid.delete(uid);
    }
  }

  close(sink: DeliverySink): void {
    const mine = this.uidsByStream.get(sink);
    if (!mine) return;
    this.detach(sink, [...mine]);
    this.uidsByStream.delete(sink);
  }

  /** Every uid attached to at least one stream. */
  attachedUids(): string[] {
    return [...this.streamsByUid.keys()];
  }

  /** Pushes to every stream the uid is attached to right now. */
  deliver(uid: string, item: object): void {
    for (const sink of this.streamsByUid.get(uid) ?? []) sink.write({ uid, ...item });
  }

  /** Ends every stream (on shutdown: gateways reconnect elsewhere and catch up). */
  failAll(error: unknown): void {
    for (const sink of [...this.uidsByStream.keys()]) {
      this.close(sink);
      sink.fail(error);
    }
  }
}
