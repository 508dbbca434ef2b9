import { GRPC_SERVICES, responseCodec } from '@im/contracts';
import { AudienceIds } from '@im/fanout-domain';
import { EncodedResponse } from '@im/service-kit';
import { DeliveryFrame } from './delivery-hub';

/**
 * Encodes Deliveries for the wire with each shared part encoded once: the Message of a message
 * (shared by all its frames) and the uid list of a batched audience part (shared by every message
 * that reaches it while the audience holds). A frame is the concatenation of its parts' encodings,
 * which protobuf parses as their merge: for these disjoint fields, the Delivery with all of them.
 */
export class DeliveryEncoder {
  private readonly messages = new WeakMap<object, Buffer>();
  private readonly uidLists = new WeakMap<readonly string[], Buffer>();
  /** `audience` naming an id without its uids: a few bytes, the same on every stream. */
  private readonly audienceIds = new Map<number, Buffer>();

  constructor(private readonly encodeDelivery: (delivery: object) => Buffer) {}

  /** The encoder of the contract's `Delivery` (loads the contract: one per process). */
  static forContract(): DeliveryEncoder {
    return new DeliveryEncoder(responseCodec(GRPC_SERVICES.MessageService, 'StreamDeliveries').encode);
  }

  /**
   * `audiences`: the ids of the stream the frame goes to when it is an audience stream. A message
   * frame for several of its uids then names them by id, carrying them only when it defines the id.
   */
  encode(delivery: DeliveryFrame, audiences?: AudienceIds): EncodedResponse {
    const { uid, uids, message } = delivery;
    if (!message) return new EncodedResponse(this.encodeDelivery(delivery));
    const body = this.once(this.messages, message, () => this.encodeDelivery({ message }));
    return new EncodedResponse(Buffer.concat([this.recipients(uid, uids, audiences), body]));
  }

  private recipients(uid: string, uids: readonly string[] | undefined, audiences: AudienceIds | undefined): Buffer {
    if (!uids) return this.encodeDelivery({ uid });
    if (!audiences || uids.length === 1) return this.once(this.uidLists, uids, () => this.encodeDelivery({ uids }));
    const { id, defines } = audiences.idOf(uids);
    if (defines) return this.encodeDelivery({ audience: { id, uids } });
    let named = this.audienceIds.get(id);
    if (!named) this.audienceIds.set(id, (named = this.encodeDelivery({ audience: { id } })));
    return named;
  }

  private once<K extends object>(cache: WeakMap<K, Buffer>, key: K, encode: () => Buffer): Buffer {
    let bytes = cache.get(key);
    if (!bytes) cache.set(key, (bytes = encode()));
    return bytes;
  }
}
