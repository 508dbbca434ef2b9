import { CHANNEL_TYPE_MAX, CHANNEL_TYPE_MIN, invalidArgument, isMemberAt, validateUid, validateUint64 } from '@im/shared-domain';

/** Limits of ConversationService requests (see conversations.proto). */
export const SYNC_LIMIT_DEFAULT = 100;
export const SYNC_LIMIT_MAX = 500;
export const MSG_COUNT_MAX = 20;

export type ConversationState = 'ACTIVE' | 'LEFT' | 'DELETED';

/**
 * A uid's latest membership interval of a channel (`MembershipInterval` of shared-domain, with no
 * join yet while `joinVersion` is null): it receives exactly the messages stamped with a version v
 * where joinVersion <= v < leftVersion. `appliedVersion` is the
 * newest membership event applied to it, so a redelivered or replayed event changes nothing.
 * Person channels: joinVersion 0, never left.
 */
export interface Membership {
  joinVersion: number | null;
  leftVersion: number | null;
  appliedVersion: number;
}

export const NO_MEMBERSHIP: Membership = { joinVersion: null, leftVersion: null, appliedVersion: 0 };

export type MembershipEvent = { type: 'subscribers.added' | 'subscribers.removed'; membershipVersion: number };

/**
 * Applies a membership event to one uid's interval. Returns null when it changes nothing: an event
 * not newer than the last applied one (redelivery, replay), or a removal of a non-member.
 */
export function applyMembershipEvent(current: Membership, event: MembershipEvent): Membership | null {
  if (event.membershipVersion <= current.appliedVersion) return null;
  const isMember = current.joinVersion !== null && current.leftVersion === null;
  if (event.type === 'subscribers.added') {
    // Added again while a member: the original join stands (its floor must not move forward).
    if (isMember) return { ...current, appliedVersion: event.membershipVersion };
    return { joinVersion: event.membershipVersion, leftVersion: null, appliedVersion: event.membershipVersion };
  }
  // Removing a non-member changes nothing, recorded or not: the result must not depend on whether
  // a message happened to create the uid's row first (topics interleave differently on replay).
  if (!isMember) return null;
  return { ...current, leftVersion: event.membershipVersion, appliedVersion: event.membershipVersion };
}

/** Whether a member with this interval is a recipient of a message stamped with `membershipVersion` (never before joining). */
export function isRecipient(m: Pick<Membership, 'joinVersion' | 'leftVersion'>, membershipVersion: number): boolean {
  return m.joinVersion !== null && isMemberAt({ joinVersion: m.joinVersion, leftVersion: m.leftVersion }, membershipVersion);
}

/**
 * What a uid's conversation is made of: its cursors plus two seqs resolved from the channel's
 * messages. Because a channel's membership version never decreases along its seqs, the messages a
 * member received are exactly the seqs in (joinFloor, ceiling].
 */
export interface ConversationInputs {
  joinVersion: number | null;
  leftVersion: number | null;
  /** Highest seq stamped with a membership version below joinVersion (0 if none). */
  joinFloor: number;
  /** Highest seq the uid received: the head while a member, else the last seq stamped before leftVersion. */
  ceiling: number;
  readSeq: number;
  deleteFloor: number;
  ownLastSentSeq: number;
  /** The channel itself is deleted: every member's conversation leaves, as if unsubscribed. */
  channelDeleted: boolean;
}

export interface ConversationView {
  /** null: nothing to show (never a member, or no message received since joining). */
  state: ConversationState | null;
  lastMsgSeq: number;
  readSeq: number;
  unread: number;
  /** Messages above this seq (up to lastMsgSeq) are the ones the uid may see in recents. */
  visibleFrom: number;
}

/**
 * The uid's view of a conversation, computed at read time (read diffusion): unread is
 * max(0, last − max(read, own last sent, join floor, delete floor)); a delete hides everything up
 * to its floor until a newer message arrives; a closed interval, or a deleted channel, is LEFT
 * whatever arrives later.
 */
export function conversationView(c: ConversationInputs): ConversationView {
  if (c.joinVersion === null) return { state: null, lastMsgSeq: 0, readSeq: 0, unread: 0, visibleFrom: 0 };
  const last = c.ceiling;
  const floor = Math.max(c.readSeq, c.ownLastSentSeq, c.joinFloor, c.deleteFloor);
  const readSeq = Math.min(floor, last);
  const unread = Math.max(0, last - floor);
  const visibleFrom = Math.max(c.joinFloor, c.deleteFloor);
  const base = { lastMsgSeq: last, readSeq, unread, visibleFrom };
  if (c.deleteFloor > 0 && c.deleteFloor >= last) return { ...base, unread: 0, state: 'DELETED' };
  if (c.leftVersion !== null || c.channelDeleted) return { ...base, state: 'LEFT' };
  if (last > c.joinFloor) return { ...base, state: 'ACTIVE' };
  return { ...base, state: null };
}

/** What the conversations service keeps of a channel's own life: whether it is deleted, as of which channel version. */
export interface ChannelState {
  deleted: boolean;
  channelVersion: number;
}

/**
 * Whether a channel.created / channel.deleted event changes the kept state: once per channel
 * version (redelivery and replay change nothing), and a creation only after a deletion (a channel
 * never deleted needs no state).
 */
export function channelStateChanges(current: ChannelState | undefined, event: ChannelState): boolean {
  if (current && current.channelVersion >= event.channelVersion) return false;
  return event.deleted || current?.deleted === true;
}

/** DeleteConversation: the new delete floor, or null when nothing changes (no conversation, already deleted). */
export function decideDelete(c: ConversationInputs): number | null {
  const view = conversationView(c);
  if (view.state === null || view.state === 'DELETED') return null;
  return c.ceiling > c.deleteFloor ? c.ceiling : null;
}

/**
 * MarkRead: the new read seq, or null when nothing changes. 0 means everything received; values
 * above the last received seq are clamped to it; the read position never moves back.
 */
export function decideMarkRead(c: ConversationInputs, requested: number): number | null {
  const view = conversationView(c);
  if (view.state === null) return null;
  const target = requested === 0 ? c.ceiling : Math.min(requested, c.ceiling);
  return target > c.readSeq ? target : null;
}

/**
 * The version a uid sees for a conversation: the newest of its own row's changes and the channel
 * head's, the latter only while the uid is a recipient of the head's message (a message the uid
 * does not receive is not a change for it).
 */
export function conversationVersion(
  rowVersion: number,
  membership: Pick<Membership, 'joinVersion' | 'leftVersion'>,
  head: { version: number; membershipVersion: number } | null,
): number {
  if (!head || !isRecipient(membership, head.membershipVersion)) return rowVersion;
  return Math.max(rowVersion, head.version);
}

export interface SyncQuery {
  uid: string;
  sinceVersion: number;
  beforeVersion: number;
  limit: number;
  msgCount: number;
  onlyUnread: boolean;
  excludeChannelTypes: number[];
}

const toCount = (value: unknown) => {
  const n = Number(value ?? 0);
  return Number.isFinite(n) && n > 0 ? Math.floor(n) : 0;
};

/** Validates and normalises a SyncConversations request (limits as in conversations.proto). */
export function toSyncQuery(req: {
  uid?: unknown;
  sinceVersion?: unknown;
  beforeVersion?: unknown;
  limit?: unknown;
  msgCount?: unknown;
  onlyUnread?: unknown;
  excludeChannelTypes?: unknown;
}): SyncQuery {
  const uid = validateUid(req.uid);
  const excluded = Array.isArray(req.excludeChannelTypes) ? req.excludeChannelTypes : [];
  for (const t of excluded) {
    if (typeof t !== 'number' || !Number.isInteger(t) || t < CHANNEL_TYPE_MIN || t > CHANNEL_TYPE_MAX) {
      throw invalidArgument(
        'INVALID_CHANNEL_TYPE',
        `exclude_channel_types entries must be from ${CHANNEL_TYPE_MIN} to ${CHANNEL_TYPE_MAX} (got ${JSON.stringify(t)})`,
      );
    }
  }
  const limit = toCount(req.limit);
  return {
    uid,
    // Versions reach SQL as bigint: above 2^53 - 1 they are refused (VALUE_OUT_OF_RANGE), never rounded.
    sinceVersion: validateUint64('since_version', req.sinceVersion, { invalid: 'INVALID_VERSION' }),
    beforeVersion: validateUint64('before_version', req.beforeVersion, { invalid: 'INVALID_VERSION' }),
    limit: limit === 0 ? SYNC_LIMIT_DEFAULT : Math.min(limit, SYNC_LIMIT_MAX),
    msgCount: Math.min(toCount(req.msgCount), MSG_COUNT_MAX),
    onlyUnread: req.onlyUnread === true,
    excludeChannelTypes: [...new Set(excluded as number[])],
  };
}

/** Whether a conversation passes the request's filters. */
export function passesFilters(q: Pick<SyncQuery, 'onlyUnread' | 'excludeChannelTypes'>, channelType: number, view: ConversationView): boolean {
  if (q.excludeChannelTypes.includes(channelType)) return false;
  if (q.onlyUnread && view.unread === 0) return false;
  return true;
}
