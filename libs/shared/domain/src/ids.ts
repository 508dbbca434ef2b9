import { invalidArgument } from './domain-error';

/**
 * Identifier rules shared by every context.
 *
 * uids and channel ids use a URL- and log-safe alphabet. The `|` separator is deliberately outside it,
 * so the canonical id of a person channel (`<uid>|<uid>`, sorted) can never collide with a group id or
 * with another pair: no hashing, no ambiguity.
 */
export const ID_ALPHABET = 'A-Z a-z 0-9 _ - . @';
export const ID_MAX_LENGTH = 64;
const ID_PATTERN = /^[A-Za-z0-9_.@-]+$/;
const PERSON_SEPARATOR = '|';

export const CHANNEL_TYPE_PERSON = 1;
export const CHANNEL_TYPE_GROUP = 2;
export const CHANNEL_TYPE_MIN = 1;
export const CHANNEL_TYPE_MAX = 255;

export interface ChannelRef {
  channelId: string;
  channelType: number;
}

export function validateId(field: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw invalidArgument('EMPTY_ID', `${field} must not be empty`);
  }
  if (value.length > ID_MAX_LENGTH) {
    throw invalidArgument('ID_TOO_LONG', `${field} must be at most ${ID_MAX_LENGTH} characters (got ${value.length})`);
  }
  if (!ID_PATTERN.test(value)) {
    throw invalidArgument('ID_INVALID_CHARACTERS', `${field} may only contain ${ID_ALPHABET} (got ${JSON.stringify(value)})`);
  }
  return value;
}

export const validateUid = (value: unknown, field = 'uid') => validateId(field, value);

export function validateChannelType(value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < CHANNEL_TYPE_MIN || value > CHANNEL_TYPE_MAX) {
    throw invalidArgument(
      'INVALID_CHANNEL_TYPE',
      `channel_type must be an integer from ${CHANNEL_TYPE_MIN} to ${CHANNEL_TYPE_MAX} (1 = person, 2 = group; got ${JSON.stringify(value)})`,
    );
  }
  return value;
}

/** Canonical id of the one log two people share, independent of who is asking. */
export function personChannelId(uidA: string, uidB: string): string {
  validateUid(uidA);
  validateUid(uidB);
  return uidA <= uidB ? `${uidA}${PERSON_SEPARATOR}${uidB}` : `${uidB}${PERSON_SEPARATOR}${uidA}`;
}

export function personChannelMembers(canonicalId: string): [string, string] {
  const parts = canonicalId.split(PERSON_SEPARATOR);
  if (parts.length !== 2 || parts[0] > parts[1]) {
    throw invalidArgument('INVALID_PERSON_CHANNEL', `not a canonical person channel id: ${JSON.stringify(canonicalId)}`);
  }
  validateUid(parts[0]);
  validateUid(parts[1]);
  return [parts[0], parts[1]];
}

export const isPersonChannel = (ref: ChannelRef) => ref.channelType === CHANNEL_TYPE_PERSON;

/**
 * Validates a channel reference as stored. Person channels are addressed by their canonical id;
 * every other type by a plain id.
 */
export function validateChannelRef(ref: unknown): ChannelRef {
  if (ref === null || typeof ref !== 'object') {
    throw invalidArgument('MISSING_CHANNEL', 'channel is required');
  }
  const { channelId, channelType } = ref as Partial<ChannelRef>;
  const type = validateChannelType(channelType);
  if (type === CHANNEL_TYPE_PERSON) {
    personChannelMembers(String(channelId ?? ''));
    return { channelId: channelId as string, channelType: type };
  }
  return { channelId: validateId('channel_id', channelId), channelType: type };
}

/**
 * Resolves what a user calls a channel into the stored reference: for a person channel the user
 * names the peer, and the log is the pair's canonical channel.
 */
export function resolveChannelForUser(uid: string, ref: unknown): ChannelRef {
  if (ref === null || typeof ref !== 'object') {
    throw invalidArgument('MISSING_CHANNEL', 'channel is required');
  }
  const { channelId, channelType } = ref as Partial<ChannelRef>;
  const type = validateChannelType(channelType);
  if (type === CHANNEL_TYPE_PERSON) {
    return { channelId: personChannelId(uid, validateId('channel_id', channelId)), channelType: type };
  }
  return { channelId: validateId('channel_id', channelId), channelType: type };
}

/** How `uid` sees a stored channel: the peer's uid for person channels, the channel itself otherwise. */
export function channelAsSeenBy(uid: string, ref: ChannelRef): ChannelRef {
  if (ref.channelType !== CHANNEL_TYPE_PERSON) return ref;
  const [a, b] = personChannelMembers(ref.channelId);
  return { channelId: uid === a ? b : a, channelType: ref.channelType };
}

/** The Kafka key and event-stream id of a channel: keeps every event of one channel in one partition, in order. */
export const channelKey = (ref: ChannelRef) => `${ref.channelType}:${ref.channelId}`;
