import { GRPC_SERVICES, responseCodec } from '@im/contracts';
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

  constructor(private readonly encodeDelivery: (delivery: object) => Buffer) {}

  /** The encoder of the contract's `Delivery` (loads the contract: one per process). */
  static forContract(): DeliveryEncoder {
    return new DeliveryEncoder(responseCodec(GRPC_SERVICES.MessageService, 'StreamDeliveries').encode);
  }

  encode(delivery: DeliveryFrame): EncodedResponse {
    const { uid, uids, message } = delivery;
    if (!message) return new EncodedResponse(this.encodeDelivery(delivery));
    const body = this.once(this.messages, message, () => this.encodeDelivery({ message }));
    const recipients = uids ? this.once(this.uidLists, uids, () => this.encodeDelivery({ uids })) : this.encodeDelivery({ uid });
    return new EncodedResponse(Buffer.concat([recipients, body]));
  }

  private once<K extends object>(cache: WeakMap<K, Buffer>, key: K, encode: () => Buffer): Buffer {
    let bytes = cache.get(key);
    if (!bytes) cache.set(key, (bytes = encode()));
    return bytes;
  }
}
