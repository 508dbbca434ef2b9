import { alreadyExists, assertNever, ChannelRef, failedPrecondition, notFound, validateChannelRef } from '@im/shared-domain';
import { ChannelAttributes, ChannelEvent, ChannelState, currentVersion, evolve, initialChannelState } from './channel';
import { applyMask, validateAttributes } from './channel-attributes';

/** Time comes in with the command so `decide` stays deterministic. */
export type ChannelCommand =
  | { type: 'channel.create'; channel: ChannelRef; attributes?: Partial<ChannelAttributes> | null; now: string }
  | {
      type: 'channel.update';
      channel: ChannelRef;
      attributes?: Partial<ChannelAttributes> | null;
      updateMask: string[];
      /** 0 means "whatever the current version is". */
      expectedVersion: number;
      now: string;
    }
  | { type: 'channel.delete'; channel: ChannelRef; now: string };

export function decide(state: ChannelState, command: ChannelCommand): ChannelEvent[] {
  const channel = validateChannelRef(command.channel);
  const next = currentVersion(state) + 1;
  switch (command.type) {
    case 'channel.create': {
      const attributes = validateAttributes(command.attributes);
      if (state.status === 'active') {
        throw alreadyExists('CHANNEL_EXISTS', `channel ${channel.channelType}:${channel.channelId} already exists`);
      }
      // A deleted channel may be created again; its stream (and version) continues.
      return [{ type: 'channel.created', channel, attributes, version: next, occurredAt: command.now }];
    }
    case 'channel.update': {
      const active = requireActive(state, channel);
      if (command.expectedVersion !== 0 && command.expectedVersion !== active.version) {
        throw failedPrecondition('VERSION_MISMATCH', `expected_version ${command.expectedVersion} does not match the current version ${active.version}`);
      }
      const { attributes, changedFields } = applyMask(active.attributes, command.attributes, command.updateMask);
      return [{ type: 'channel.updated', channel, attributes, changedFields, version: next, occurredAt: command.now }];
    }
    case 'channel.delete': {
      const active = requireActive(state, channel);
      return [{ type: 'channel.deleted', channel, attributes: active.attributes, version: next, occurredAt: command.now }];
    }
    default:
      return assertNever(command);
  }
}

function requireActive(state: ChannelState, channel: ChannelRef) {
  if (state.status !== 'active') {
    throw notFound('CHANNEL_NOT_FOUND', `channel ${channel.channelType}:${channel.channelId} does not exist`);
  }
  return state;
}

/** The decider as a value: decide, evolve and the initial state travel together. */
export const channelDecider = { decide, evolve, initialState: initialChannelState };
