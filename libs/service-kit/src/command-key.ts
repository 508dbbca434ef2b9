import { Rejection } from '@im/contracts';
import { CHANNEL_TYPE_PERSON, personChannelId } from '@im/shared-domain';

interface ChannelData {
  channel?: { channelId?: unknown; channelType?: unknown };
  uid?: unknown;
  fromUid?: unknown;
}

/**
 * The keys a command naming `data.channel` may carry: `<channelType>:<channelId>`, and for a person
 * channel named by its peer (as a user sees it), the canonical person channel of the acting user
 * (`uid` or `fromUid`) and that peer. Undefined when the command names no channel.
 */
export function expectedCommandKeys(data: unknown): string[] | undefined {
  const { channel, uid, fromUid } = (data ?? {}) as ChannelData;
  if (!channel || typeof channel !== 'object') return undefined;
  const keys = [`${String(channel.channelType)}:${String(channel.channelId)}`];
  const actor = typeof uid === 'string' ? uid : typeof fromUid === 'string' ? fromUid : undefined;
  if (channel.channelType === CHANNEL_TYPE_PERSON && actor !== undefined && typeof channel.channelId === 'string') {
    try {
      keys.push(`${CHANNEL_TYPE_PERSON}:${personChannelId(actor, channel.channelId)}`);
    } catch {
      // Invalid ids: the command is refused by validation anyway; only the plain key can match.
    }
  }
  return keys;
}

/**
 * A command is consumed from the partition of its key, and per-channel order holds only if that key
 * is the channel's: a command keyed for channel A that names channel B would be ordered against A's
 * commands, not B's. Such a command is refused (KEY_MISMATCH), never executed.
 */
export function commandKeyMismatch(recordKey: string | null, envelopeKey: string, data: unknown): Rejection | undefined {
  const expected = expectedCommandKeys(data);
  const key = recordKey ?? envelopeKey;
  if (expected === undefined || expected.includes(key)) return undefined;
  return {
    code: 'KEY_MISMATCH',
    reason: `record key ${JSON.stringify(key)} does not name the command's channel (expected ${expected.map((k) => JSON.stringify(k)).join(' or ')})`,
  };
}
