import { ChannelAttributes, ChannelCommand, ChannelState } from '@im/channels-domain';
import { fieldMaskPaths } from '@im/contracts';
import { assertNever, notFound, validateRequestText, validateUint64 } from '@im/shared-domain';

/**
 * Requests as they arrive, from gRPC or as the `data` of a Kafka command (the same JSON shape).
 * Everything is optional here: validation is the domain's job, with reasons the caller can act on.
 */
export interface ChannelRequest {
  channel?: { channelId?: string; channelType?: number } | null;
  attributes?: Partial<ChannelAttributes> | null;
  /** `{ paths }` at runtime; the generated type says `string[]` (see fieldMaskPaths). */
  updateMask?: Parameters<typeof fieldMaskPaths>[0];
  /** A string when a Kafka command carries a uint64 above 2^53 - 1 (proto3 JSON). */
  expectedVersion?: number | string | null;
}

export type ChannelCommandType = ChannelCommand['type'];

export function toChannelCommand(type: ChannelCommandType, req: ChannelRequest, now: string): ChannelCommand {
  // Names, avatars and `extra` (keys and values) reach jsonb, which refuses U+0000.
  validateRequestText(req);
  const channel = req.channel as ChannelCommand['channel'];
  switch (type) {
    case 'channel.create':
      return { type, channel, attributes: req.attributes, now };
    case 'channel.update':
      return {
        type,
        channel,
        attributes: req.attributes,
        updateMask: fieldMaskPaths(req.updateMask),
        expectedVersion: validateUint64('expected_version', req.expectedVersion, { invalid: 'INVALID_EXPECTED_VERSION' }),
        now,
      };
    case 'channel.delete':
      return { type, channel, now };
    default:
      return assertNever(type);
  }
}

/** The proto `Channel` message of a live channel; deleted and unknown channels are NOT_FOUND. */
export function toChannelMessage(state: ChannelState) {
  if (state.status === 'absent') throw notFound('CHANNEL_NOT_FOUND', 'channel does not exist');
  return {
    channel: state.channel,
    attributes: state.attributes,
    version: state.version,
    deleted: state.status === 'deleted',
    createdAtMs: Date.parse(state.createdAt),
    updatedAtMs: Date.parse(state.updatedAt),
  };
}

export function requireLive(state: ChannelState, ref: { channelId: string; channelType: number }) {
  if (state.status !== 'active') throw notFound('CHANNEL_NOT_FOUND', `channel ${ref.channelType}:${ref.channelId} does not exist`);
  return state;
}
