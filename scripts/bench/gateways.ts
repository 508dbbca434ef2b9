import { loadSync } from '@grpc/proto-loader';
import { GRPC_LOADER_OPTIONS, PROTO_FILES, PROTO_ROOT } from '@im/contracts';
import { grpcClient, StreamRecipients } from '@im/testing';
import { join } from 'node:path';

/**
 * Simulated gateways (connection servers): StreamDeliveries streams that share the attached uids
 * and count what arrives. A stream is per-uid (one `message` frame per recipient, the protocol of
 * clients that predate batching), batched (`attach.batched`: one frame per message and stream,
 * listing its recipients there in `uids`) or an audience stream (`attach.audiences` as well: the
 * recipients named by an id the stream defined earlier). The counting works for every kind,
 * whichever the server actually sends.
 */

export type StreamMode = 'per-uid' | 'batched' | 'audiences';

/** The mode of the sweep and of the profiled run: what a gateway written against today's contract would ask for. */
export const FASTEST_MODE: StreamMode = 'audiences';

/** Deliveries of one load phase, told apart by the `client_msg_no` prefix the phase sends with. */
export interface PhaseDeliveries {
  deliveries: number;
  lastAt: number;
}

interface DeliveryFrame {
  item?: string;
  uid?: string;
  uids?: string[];
  audience?: { id: number; uids?: string[] } | null;
  message?: { clientMsgNo?: string };
}

/** Whether the contract this bench is built with can express batched and audience streams at all. */
export function batchedContractSupport(): { attachBatched: boolean; deliveryUids: boolean; attachAudiences: boolean; deliveryAudience: boolean } {
  const definition = loadSync(
    PROTO_FILES.map((f: string) => join(PROTO_ROOT, f)),
    GRPC_LOADER_OPTIONS,
  ) as unknown as Record<string, { type: { field: { name: string }[]; nestedType?: { name: string; field: { name: string }[] }[] } }>;
  const fieldsOf = (fields: { name: string }[] | undefined) => new Set((fields ?? []).map((f) => f.name));
  const attach = definition['im.v1.StreamDeliveriesRequest']?.type.nestedType?.find((t) => t.name === 'Attach');
  return {
    attachBatched: fieldsOf(attach?.field).has('batched'),
    deliveryUids: fieldsOf(definition['im.v1.Delivery']?.type.field).has('uids'),
    attachAudiences: fieldsOf(attach?.field).has('audiences'),
    deliveryAudience: fieldsOf(definition['im.v1.Delivery']?.type.field).has('audience'),
  };
}

/** `clientMsgNo` of the i-th send of a phase: the prefix up to the first dot names the phase. */
export const clientMsgNo = (phase: string, i: number) => `${phase}.${i}`;
const phaseOf = (clientMsgNo = '') => clientMsgNo.slice(0, clientMsgNo.indexOf('.'));

export class Gateways {
  /**
   * `message` frames by shape: how the server actually delivered, whatever was asked (`audience`:
   * frames naming their recipients by audience id, `audienceDefinitions` those of them that carried the list).
   */
  readonly frames = { batched: 0, audience: 0, audienceDefinitions: 0, perUid: 0, withoutRecipient: 0 };
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
      const recipients = new StreamRecipients();
      stream.on('data', (frame: DeliveryFrame) => {
        if (frame.item === 'message') gateways.count(frame, recipients.of(frame).length);
        else if (frame.item === 'attached') pendingAcks--;
      });
      // Every stream ends with exactly one status; an error status is also emitted as 'error'.
      stream.on('error', () => undefined);
      stream.on('status', (s: { code: number; details: string }) => gateways.streamEnded(s.code === 0 ? 'OK' : s.details));
      const mine = uids.slice(g * perStream, (g + 1) * perStream);
      for (let i = 0; i < mine.length; i += 10_000) {
        // A field unknown to the contract is dropped by the encoder: the server then streams as it can.
        const mode = { ...(opts.mode !== 'per-uid' ? { batched: true } : {}), ...(opts.mode === 'audiences' ? { audiences: true } : {}) };
        stream.write({ attach: { uids: mine.slice(i, i + 10_000), ...mode } });
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

  /** `recipients`: how many uids the frame delivers to (see StreamRecipients). */
  private count(frame: DeliveryFrame, recipients: number) {
    if (frame.audience) {
      this.frames.audience++;
      if (frame.audience.uids && frame.audience.uids.length > 0) this.frames.audienceDefinitions++;
    } else if (frame.uids && frame.uids.length > 0) this.frames.batched++;
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
