import { ChannelRef, invalidArgument, validateChannelRef, validateRequestText, validateUid, validateUint64 } from '@im/shared-domain';

/**
 * Command messages: small control notices queued per uid (write diffusion) until the uid acks them.
 * Each uid has one queue with a gapless `cmd_seq` and one ack cursor that only moves forward.
 */

export const COMMAND_TYPE_MAX_LENGTH = 128;
export const COMMAND_PAYLOAD_MAX_BYTES = 64 * 1024;
export const COMMAND_RECIPIENTS_MAX = 10_000;
export const SYNC_COMMANDS_DEFAULT_LIMIT = 100;
export const SYNC_COMMANDS_MAX_LIMIT = 1_000;

/** Types the platform emits itself. Other services may not send them, so clients can trust them. */
export const CHANNEL_UPDATED_COMMAND = 'channel.updated';
export const CHANNEL_DELETED_COMMAND = 'channel.deleted';
const PLATFORM_TYPES: ReadonlySet<string> = new Set([CHANNEL_UPDATED_COMMAND, CHANNEL_DELETED_COMMAND]);
const RESERVED_PREFIX = 'im.';

export const isReservedCommandType = (type: string) => PLATFORM_TYPES.has(type) || type.startsWith(RESERVED_PREFIX);

/** One command to queue: the same content goes to every recipient, each with its own cmd_seq. */
export interface CommandToQueue {
  type: string;
  channel: ChannelRef;
  version: number;
  payload: Uint8Array;
}

export interface SendCommandRequest {
  type?: unknown;
  channel?: unknown;
  uids?: unknown;
  payload?: unknown;
}

export interface ValidSendCommand {
  command: CommandToQueue;
  /** Explicit recipients, deduplicated; empty means "every current member of the channel". */
  uids: string[];
}

/** A command another service sends (gRPC SendCommand or Kafka `cmd.send`). */
export function validateSendCommand(req: SendCommandRequest): ValidSendCommand {
  // `type` reaches a text column; payload bytes are not text and are left alone.
  validateRequestText(req);
  const type = req.type;
  if (typeof type !== 'string' || type.length === 0) throw invalidArgument('EMPTY_COMMAND_TYPE', 'type is required');
  if (type.length > COMMAND_TYPE_MAX_LENGTH) {
    throw invalidArgument('COMMAND_TYPE_TOO_LONG', `type must be at most ${COMMAND_TYPE_MAX_LENGTH} characters (got ${type.length})`);
  }
  if (isReservedCommandType(type)) {
    throw invalidArgument(
      'RESERVED_COMMAND_TYPE',
      `type ${JSON.stringify(type)} is reserved for the platform (${[...PLATFORM_TYPES].join(', ')} and the "${RESERVED_PREFIX}" prefix)`,
    );
  }
  const channel = validateChannelRef(req.channel);
  const payload = (req.payload as Uint8Array | undefined) ?? new Uint8Array();
  if (payload.length > COMMAND_PAYLOAD_MAX_BYTES) {
    throw invalidArgument('PAYLOAD_TOO_LARGE', `payload must be at most ${COMMAND_PAYLOAD_MAX_BYTES} bytes (got ${payload.length})`);
  }
  const uids = (req.uids ?? []) as unknown[];
  if (!Array.isArray(uids)) throw invalidArgument('INVALID_UIDS', 'uids must be a list');
  if (uids.length > COMMAND_RECIPIENTS_MAX) {
    throw invalidArgument('TOO_MANY_UIDS', `at most ${COMMAND_RECIPIENTS_MAX} uids per command (got ${uids.length})`);
  }
  uids.forEach((u, i) => validateUid(u, `uids[${i}]`));
  return { command: { type, channel, version: 0, payload }, uids: [...new Set(uids as string[])].sort() };
}

/** The command a channel event becomes for every member: it names the change, never its content. */
export function commandForChannelEvent(event: { type: string; channel: ChannelRef; version: number }): CommandToQueue | undefined {
  switch (event.type) {
    case 'channel.updated':
      return { type: CHANNEL_UPDATED_COMMAND, channel: event.channel, version: event.version, payload: new Uint8Array() };
    case 'channel.deleted':
      return { type: CHANNEL_DELETED_COMMAND, channel: event.channel, version: event.version, payload: new Uint8Array() };
    default:
      return undefined; // creation reaches members through membership, not a command
  }
}

/** The page SyncCommands reads: after whichever is further, the caller's position or the ack cursor. */
export function syncWindow(req: { afterSeq?: number; limit?: number }, ackedSeq: number): { afterSeq: number; limit: number } {
  const requested = validateUint64('after_seq', req.afterSeq, { invalid: 'INVALID_AFTER_SEQ' });
  const limit = Number(req.limit ?? 0);
  if (!Number.isInteger(limit) || limit < 0) throw invalidArgument('INVALID_LIMIT', 'limit must be a non-negative integer');
  return {
    afterSeq: Math.max(requested, ackedSeq),
    limit: limit === 0 ? SYNC_COMMANDS_DEFAULT_LIMIT : Math.min(limit, SYNC_COMMANDS_MAX_LIMIT),
  };
}

/** The ack cursor after an ack: forward only, and never past what was queued. */
export function nextAckCursor(current: { ackedSeq: number; lastSeq: number }, upToSeq: unknown): number {
  // Clamped: acknowledging beyond the last queued command acknowledges everything queued.
  const upTo = validateUint64('up_to_seq', upToSeq, { invalid: 'INVALID_UP_TO_SEQ', clamp: true });
  return Math.max(current.ackedSeq, Math.min(upTo, current.lastSeq));
}
