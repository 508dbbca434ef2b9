/** The recipient fields of a `Delivery`, as proto-loader decodes them. */
export interface DeliveryRecipientFields {
  uid?: string;
  uids?: readonly string[];
  audience?: { id: number; uids?: readonly string[] } | null;
}

/**
 * How a gateway reads who a `message` Delivery is for, on one stream: `uids` on a batched stream,
 * the list an audience id names on an audience stream (kept from the frame that last defined the
 * id), else the one `uid` of a per-uid stream. One per stream: audience ids are per stream.
 */
export class StreamRecipients {
  private readonly audiences = new Map<number, readonly string[]>();

  of(frame: DeliveryRecipientFields): readonly string[] {
    if (frame.audience) {
      if (frame.audience.uids && frame.audience.uids.length > 0) this.audiences.set(frame.audience.id, frame.audience.uids);
      return this.audiences.get(frame.audience.id) ?? [];
    }
    return frame.uids && frame.uids.length > 0 ? frame.uids : frame.uid ? [frame.uid] : [];
  }
}
