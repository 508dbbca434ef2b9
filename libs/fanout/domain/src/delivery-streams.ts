import { invalidArgument, validateUid } from '@im/shared-domain';

/** At most this many uids per attach or detach request on a delivery stream. */
export const MAX_STREAM_UIDS = 10_000;

/**
 * At most this many uids in the `uids` of one batched delivery: a message with more recipients on
 * one stream comes in several frames. Keeps every frame far below the 4 MiB default gRPC message
 * limit (10000 uids of 64 characters are about 660 KB) and bounds the time one frame takes to encode.
 */
export const MAX_DELIVERY_FRAME_UIDS = 10_000;

export function validateStreamUids(uids: unknown): string[] {
  if (!Array.isArray(uids) || uids.length === 0) throw invalidArgument('EMPTY_UIDS', 'attach and detach must name at least one uid');
  if (uids.length > MAX_STREAM_UIDS) {
    throw invalidArgument('TOO_MANY_UIDS', `at most ${MAX_STREAM_UIDS} uids per request (got ${uids.length})`);
  }
  uids.forEach((u, i) => validateUid(u, `uids[${i}]`));
  return [...new Set(uids as string[])];
}

/**
 * How a delivery stream names the recipients of a message: one frame per recipient (`per-uid`,
 * clients that predate batching), one frame per message listing them (`batched`), or one frame per
 * message naming a list defined once on the stream (`audiences`).
 */
export type DeliveryStreamMode = 'per-uid' | 'batched' | 'audiences';

/** What an Attach asks for, as decoded (unset fields may be null or absent). */
export interface RequestedStreamMode {
  batched?: boolean | null;
  audiences?: boolean | null;
}

const modeOf = ({ batched, audiences }: RequestedStreamMode): DeliveryStreamMode =>
  audiences === true ? 'audiences' : batched === true ? 'batched' : 'per-uid';

/**
 * The mode of a delivery stream once an Attach is applied (`current` undefined before its first
 * Attach): the first Attach decides, and every later one must say the same, so a gateway never
 * receives a mix of frame kinds on one stream. Unset means per-uid (older clients). Audiences are a
 * form of batching, so they need `batched` too.
 */
export function streamModeAfterAttach(current: DeliveryStreamMode | undefined, requested: RequestedStreamMode): DeliveryStreamMode {
  if (requested.audiences === true && requested.batched !== true) {
    throw invalidArgument('AUDIENCES_NEED_BATCHED', 'an attach with audiences: true must also set batched: true');
  }
  const mode = modeOf(requested);
  if (current === undefined || current === mode) return mode;
  const batchingDiffers = (current === 'per-uid') !== (mode === 'per-uid');
  throw invalidArgument(
    batchingDiffers ? 'BATCHED_MODE_MISMATCH' : 'AUDIENCES_MODE_MISMATCH',
    `this stream's first attach made it ${current}; every attach on the stream must do the same (got ${mode})`,
  );
}

/**
 * Audience ids live on one stream at a time: the gateway keeps at most this many lists per stream,
 * and the server defines a list again when its id was given to another one.
 */
export const LIVE_AUDIENCES_PER_STREAM = 256;

/** The id of a recipient list on a stream, and whether this frame must carry the list (define the id). */
export interface AudienceId {
  id: number;
  defines: boolean;
}

/**
 * The ids one audience stream gives its recipient lists: a list keeps its id while it is among the
 * `capacity` lists used most recently; a list used for the first time, or again after its id went to
 * another list, gets an id (new, or the least recently used one's) and must be defined in the frame.
 * Lists are compared by identity: the server keeps one array per audience part while it holds.
 */
export class AudienceIds<List extends object = readonly string[]> {
  /** Lists and their ids, least recently used first. */
  private readonly live = new Map<List, number>();
  private nextId = 1;

  constructor(private readonly capacity = LIVE_AUDIENCES_PER_STREAM) {}

  idOf(list: List): AudienceId {
    const known = this.live.get(list);
    if (known !== undefined) {
      this.live.delete(list);
      this.live.set(list, known);
      return { id: known, defines: false };
    }
    let id: number;
    if (this.live.size < this.capacity) id = this.nextId++;
    else {
      const [oldest, oldestId] = this.live.entries().next().value as [List, number];
      this.live.delete(oldest);
      id = oldestId;
    }
    this.live.set(list, id);
    return { id, defines: true };
  }
}
