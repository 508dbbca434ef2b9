import { assertNever, ChannelRef } from '@im/shared-domain';

export interface ChannelAttributes {
  name: string;
  avatar: string;
  /** Nobody may send; the channel is frozen. */
  ban: boolean;
  /** Members may not send (admins use the channel as a broadcast). */
  sendBan: boolean;
  /** The group was dissolved; sending is refused. */
  disband: boolean;
  /** A very large channel: clients should page members lazily. */
  large: boolean;
  extra: Record<string, string>;
}

export const emptyAttributes = (): ChannelAttributes => ({
  name: '',
  avatar: '',
  ban: false,
  sendBan: false,
  disband: false,
  large: false,
  extra: {},
});

export type ChannelEvent =
  | { type: 'channel.created'; channel: ChannelRef; attributes: ChannelAttributes; version: number; occurredAt: string }
  | {
      type: 'channel.updated';
      channel: ChannelRef;
      attributes: ChannelAttributes;
      changedFields: string[];
      version: number;
      occurredAt: string;
    }
  | { type: 'channel.deleted'; channel: ChannelRef; attributes: ChannelAttributes; version: number; occurredAt: string };

interface Existing {
  channel: ChannelRef;
  attributes: ChannelAttributes;
  version: number;
  createdAt: string;
  updatedAt: string;
}

/** A channel's life: never created, active, or deleted (its stream and version live on). */
export type ChannelState = { status: 'absent' } | ({ status: 'active' } & Existing) | ({ status: 'deleted' } & Existing);

export const initialChannelState = (): ChannelState => ({ status: 'absent' });

export function evolve(state: ChannelState, event: ChannelEvent): ChannelState {
  switch (event.type) {
    case 'channel.created':
      return {
        status: 'active',
        channel: event.channel,
        attributes: event.attributes,
        version: event.version,
        createdAt: event.occurredAt,
        updatedAt: event.occurredAt,
      };
    case 'channel.updated':
    case 'channel.deleted':
      if (state.status === 'absent') return state;
      return {
        ...state,
        status: event.type === 'channel.deleted' ? 'deleted' : 'active',
        attributes: event.attributes,
        version: event.version,
        updatedAt: event.occurredAt,
      };
    default:
      return assertNever(event);
  }
}

export const currentVersion = (state: ChannelState) => (state.status === 'absent' ? 0 : state.version);
