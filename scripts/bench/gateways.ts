import { loadSync } from '@grpc/proto-loader';
import { GRPC_LOADER_OPTIONS, PROTO_FILES, PROTO_ROOT } from '@im/contracts';
import { grpcClient } from '@im/testing';
import { join } from 'node:path';

/**
 * Simulated gateways (connection servers): StreamDeliveries streams that share the attached uids
 * and count what arrives. A stream is either per-uid (one `message` frame per recipient, today's
 * protocol) or batched (`attach.batched`: one frame per message and stream, listing its recipients
 * there in `uids`). The counting works for both, whichever the server actually sends.
 */

export type StreamMode = 'per-uid' | 'batched';

/** Deliveries of one load phase, told apart by the `client_msg_no` prefix the phase sends with. */
export interface PhaseDeliveries {
  deliveries: number;
  lastAt: number;
}

interface DeliveryFrame {
  item?: string;
  uid?: string;
  uids?: string[];
  message?: { clientMsgNo?: string };
}

/** Whether the contract this bench is built with can express batched streams at all. */
export function batchedContractSupport(): { attachBatched: boolean; deliveryUids: boolean } {
  const definition = loadSync(
    PROTO_FILES.map((f: string) => join(PROTO_ROOT, f)),
    GRPC_LOADER_OPTIONS,
  ) as unknown as Record<string, { type: { field: { name: string }[]; nestedType?: { name: string; field: { name: string }[] }[] } }>;
  const fieldsOf = (fields: { name: string }[] | undefined) => new Set((fields ?? []).map((f) => f.name));
  const attach = definition['im.v1.StreamDeliveriesRequest']?.type.nestedType?.find((t) => t.name === 'Attach');
  return {
    attachBatched: fieldsOf(attach?.field).has('batched'),
    deliveryUids: fieldsOf(definition['im.v1.Delivery']?.type.field).has('uids'),
  };
}

/** `clientMsgNo` of the i-th send of a phase: the prefix up to the first dot names the phase. */
export const clientMsgNo = (phase: string, i: number) => `${phase}.${i}`;
const phaseOf = (clientMsgNo = '') => clientMsgNo.slice(0, clientMsgNo.indexOf('.'));

/** Recipients a `message` frame delivers to: its `uids` on a batched stream, else its one `uid`. */
const recipientsOf = (frame: DeliveryFrame) => (frame.uids && frame.uids.length > 0 ? frame.uids.length : frame.uid ? 1 : 0);

export class Gateways {
  /** `message` frames by shape: how the server actually delivered, whatever was asked. */
  readonly frames = { batched: 0, perUid: 0, withoutRecipient: 0 };
  /** Status details of every stream the server ended (e.g. STREAM_BEHIND, SHUTTING_DOWN). */
  readonly ended: string[] = [];
  private readonly phases = new Map<string, PhaseDeliveries>();
  private closing = false;

  private constructor(
    private readonly client: ReturnType<typeof grpcClient>,
    private readonly streams: { end(): void }[],
  ) {}

  /** Opens `count` streams, spreads `uids` over them and waits until every attach is acknowledged. */
  static async open(fanoutAddress: string, uids: string[], opts: { count: number; mode: StreamMode }): Promise<Gateways> {
    // A connection of their own, as gateways in other processes have: the senders' calls must not
    // queue behind delivery frames in one HTTP/2 connection's flow-control window.
    const client = grpcClient('MessageService', fanoutAddress, { ownConnection: true });
    const streams: { end(): void }[] = [];
    const gateways = new Gateways(client, streams);
    const perStream = Math.ceil(uids.length / opts.count);
    let pendingAcks = 0;
    for (let g = 0; g < opts.count; g++) {
      const stream = client.raw.streamDeliveries();
      streams.push(stream);
      stream.on('data', (frame: DeliveryFrame) => {
        if (frame.item === 'message') gateways.count(frame);
        else if (frame.item === 'attached') pendingAcks--;
      });
      // Every stream ends with exactly one status; an error status is also emitted as 'error'.
      stream.on('error', () => undefined);
      stream.on('status', (s: { code: number; details: string }) => gateways.streamEnded(s.code === 0 ? 'OK' : s.details));
      const mine = uids.slice(g * perStream, (g + 1) * perStream);
      for (let i = 0; i < mine.length; i += 10_000) {
        // `batched` is unknown to a contract without it and dropped by the encoder: the server then streams per uid.
        stream.write({ attach: { uids: mine.slice(i, i + 10_000), ...(opts.mode === 'batched' ? { batched: true } : {}) } });
        pendingAcks++;
      }
    }
    const deadline = Date.now() + 60_000;
    while (pendingAcks > 0 && gateways.ended.length === 0) {
      if (Date.now() > deadline) throw new Error(`attach not acknowledged within 60 s (${pendingAcks} pending)`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return gateways;
  }

  deliveriesOf(phase: string): PhaseDeliveries {
    return this.phases.get(phase) ?? { deliveries: 0, lastAt: 0 };
  }

  /**
   * Waits until `expected` deliveries of `phase` arrived, or nothing arrived for `quietMs` (e.g. a
   * stream was ended: the others still drain, so the next phase starts without a backlog), or `maxMs`.
   */
  async awaitDeliveries(phase: string, expected: number, quietMs = 10_000, maxMs = 600_000): Promise<PhaseDeliveries> {
    let seen = -1;
    const startedAt = performance.now();
    let progressAt = startedAt;
    for (;;) {
      const now = this.deliveriesOf(phase);
      if (now.deliveries >= expected || performance.now() - startedAt > maxMs) return now;
      if (now.deliveries !== seen) {
        seen = now.deliveries;
        progressAt = performance.now();
      } else if (performance.now() - progressAt > quietMs) {
        return now;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async close(): Promise<void> {
    this.closing = true;
    this.streams.forEach((s) => s.end());
    this.client.close();
    // Lets the server detach these uids before the next phase attaches them elsewhere.
    await new Promise((r) => setTimeout(r, 500));
  }

  private count(frame: DeliveryFrame) {
    const recipients = recipientsOf(frame);
    if (frame.uids && frame.uids.length > 0) this.frames.batched++;
    else if (frame.uid) this.frames.perUid++;
    else this.frames.withoutRecipient++;
    const phase = phaseOf(frame.message?.clientMsgNo);
    const counted = this.phases.get(phase) ?? { deliveries: 0, lastAt: 0 };
    counted.deliveries += recipients;
    counted.lastAt = performance.now();
    this.phases.set(phase, counted);
  }

  private streamEnded(details: string) {
    if (!this.closing) this.ended.push(details);
  }
}
