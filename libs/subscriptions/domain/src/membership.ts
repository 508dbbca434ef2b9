import {
  assertNever,
  CHANNEL_TYPE_PERSON,
  ChannelRef,
  channelKey,
  invalidArgument,
  notFound,
  validateChannelRef,
  validateChannelType,
  validateUid,
} from '@im/shared-domain';

/** At most this many uids in one request; larger memberships are built with several calls or `reset`. */
export const MAX_UIDS_PER_REQUEST = 10_000;
/** Uids per event, so one request of 10,000 uids is 10 events, not 10,000 (and no record nears Kafka's size limit). */
export const UIDS_PER_EVENT = 1_000;

export type MembershipEventType = 'subscribers.added' | 'subscribers.removed';

export interface MembershipEvent {
  type: MembershipEventType;
  channel: ChannelRef;
  /** Sorted, distinct, 1 to UIDS_PER_EVENT of them. */
  uids: string[];
  /** The channel's membership version after this event: +1 per event, gapless. */
  membershipVersion: number;
  /** Set on every event of an AddSubscribers with `reset`. */
  reset?: true;
  occurredAt: string;
}

export type MembershipCommand =
  | { type: 'subscribers.add'; channel: ChannelRef; uids: string[]; reset: boolean; now: string }
  | { type: 'subscribers.remove'; channel: ChannelRef; uids: string[]; now: string };

/**
 * What a decision needs to know: the channel's current membership version, whether the channel is
 * live, and which of the uids involved are members now. With `reset` it also needs every current
 * member, since everyone not in the new list leaves.
 */
export interface MembershipView {
  channelExists: boolean;
  version: number;
  /** Current members among the uids of the command (all current members for a reset). */
  currentMembers: ReadonlySet<string>;
}

/** Validates a uid list and drops duplicates (first occurrence wins). `allowEmpty` is for `reset`. */
export function validateUids(uids: unknown, allowEmpty = false): string[] {
  if (!Array.isArray(uids) || (uids.length === 0 && !allowEmpty)) throw invalidArgument('EMPTY_UIDS', 'uids must name at least one uid');
  if (uids.length > MAX_UIDS_PER_REQUEST) {
    throw invalidArgument('TOO_MANY_UIDS', `at most ${MAX_UIDS_PER_REQUEST} uids per request (got ${uids.length})`);
  }
  uids.forEach((u, i) => validateUid(u, `uids[${i}]`));
  return [...new Set(uids as string[])];
}

/**
 * A group channel reference. The type is checked before the id, so a person channel is refused as
 * such (PERSON_CHANNEL_MEMBERSHIP) whatever id it is named by.
 */
export function validateMembershipChannel(ref: unknown): ChannelRef {
  if (ref === null || typeof ref !== 'object') throw invalidArgument('MISSING_CHANNEL', 'channel is required');
  if (validateChannelType((ref as Partial<ChannelRef>).channelType) === CHANNEL_TYPE_PERSON) {
    throw invalidArgument('PERSON_CHANNEL_MEMBERSHIP', 'person channels have exactly their two people as members; they take no subscribers');
  }
  return validateChannelRef(ref);
}

/**
 * Checks everything that needs no state (channel, uids, limits) and returns the command normalised:
 * a clean channel reference and distinct uids. Callers run it before waiting on anything.
 */
export function validateMembershipCommand(command: MembershipCommand): MembershipCommand {
  const channel = validateMembershipChannel(command.channel);
  switch (command.type) {
    case 'subscribers.add':
      return { ...command, channel, reset: command.reset === true, uids: validateUids(command.uids, command.reset === true) };
    case 'subscribers.remove':
      return { ...command, channel, uids: validateUids(command.uids) };
    default:
      return assertNever(command);
  }
}

function chunks(uids: string[]): string[][] {
  const result: string[][] = [];
  for (let i = 0; i < uids.length; i += UIDS_PER_EVENT) result.push(uids.slice(i, i + UIDS_PER_EVENT));
  return result;
}

export const channelNotFound = (channel: ChannelRef) =>
  notFound('CHANNEL_NOT_FOUND', `channel ${channelKey(channel)} does not exist (never created, or deleted)`);

/**
 * Adding present members or removing absent ones changes nothing and produces no event, so such
 * requests are harmless no-ops. Each event carries the membership version it creates; a reset emits
 * its removals before its additions, so at no version does the channel hold more than either list.
 */
export function decideMembership(view: MembershipView, input: MembershipCommand): MembershipEvent[] {
  const command = validateMembershipCommand(input);
  if (!view.channelExists) throw channelNotFound(command.channel);
  let version = view.version;
  const events: MembershipEvent[] = [];
  const reset = command.type === 'subscribers.add' && command.reset ? { reset: true as const } : {};
  const emit = (type: MembershipEventType, list: string[]) => {
    // Code-unit order, the same order ListSubscribers pages in (Postgres "C" collation).
    for (const chunk of chunks([...list].sort())) {
      events.push({ type, channel: command.channel, uids: chunk, membershipVersion: ++version, ...reset, occurredAt: command.now });
    }
  };
  switch (command.type) {
    case 'subscribers.add': {
      if (command.reset) {
        const wanted = new Set(command.uids);
        emit(
          'subscribers.removed',
          [...view.currentMembers].filter((u) => !wanted.has(u)),
        );
      }
      emit(
        'subscribers.added',
        command.uids.filter((u) => !view.currentMembers.has(u)),
      );
      return events;
    }
    case 'subscribers.remove':
      emit(
        'subscribers.removed',
        command.uids.filter((u) => view.currentMembers.has(u)),
      );
      return events;
    default:
      return assertNever(command);
  }
}
