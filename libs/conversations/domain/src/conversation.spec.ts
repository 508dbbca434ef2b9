import { refusalOf } from '@im/shared-domain';
import {
  applyMembershipEvent,
  channelStateChanges,
  ConversationInputs,
  conversationVersion,
  conversationView,
  decideDelete,
  decideMarkRead,
  isRecipient,
  Membership,
  MembershipEvent,
  NO_MEMBERSHIP,
  passesFilters,
  toSyncQuery,
} from './conversation';

const member = (over: Partial<ConversationInputs> = {}): ConversationInputs => ({
  joinVersion: 1,
  leftVersion: null,
  joinFloor: 0,
  ceiling: 0,
  readSeq: 0,
  deleteFloor: 0,
  ownLastSentSeq: 0,
  channelDeleted: false,
  ...over,
});

const added = (v: number): MembershipEvent => ({ type: 'subscribers.added', membershipVersion: v });
const removed = (v: number): MembershipEvent => ({ type: 'subscribers.removed', membershipVersion: v });
const fold = (events: MembershipEvent[], from: Membership = NO_MEMBERSHIP) => events.reduce((m, e) => applyMembershipEvent(m, e) ?? m, from);

describe('membership intervals', () => {
  it('given nothing, when added at v3, then the interval opens at 3', () => {
    expect(fold([added(3)])).toEqual({ joinVersion: 3, leftVersion: null, appliedVersion: 3 });
  });

  it('given a member since v3, when removed at v5, then the interval closes at 5', () => {
    expect(fold([added(3), removed(5)])).toEqual({ joinVersion: 3, leftVersion: 5, appliedVersion: 5 });
  });

  it('given a left member, when added again, then a new interval starts', () => {
    expect(fold([added(1), removed(2), added(4)])).toEqual({ joinVersion: 4, leftVersion: null, appliedVersion: 4 });
  });

  it('given any history, when every event is delivered again (redelivery or replay), then nothing changes', () => {
    const events = [added(1), removed(2), added(4), removed(6)];
    const once = fold(events);
    for (const e of events) expect(applyMembershipEvent(once, e)).toBeNull();
    expect(fold([...events, ...events, ...events])).toEqual(once);
  });

  it('given a member, when added again, then the original join stands', () => {
    expect(fold([added(1), added(2)])).toMatchObject({ joinVersion: 1, leftVersion: null, appliedVersion: 2 });
  });

  it('decides recipients by the version stamped on the message', () => {
    const m = { joinVersion: 3, leftVersion: 5 };
    expect([2, 3, 4, 5].map((v) => isRecipient(m, v))).toEqual([false, true, true, false]);
    expect(isRecipient({ joinVersion: 0, leftVersion: null }, 0)).toBe(true);
    expect(isRecipient({ joinVersion: null, leftVersion: null }, 0)).toBe(false);
  });
});

describe('conversation view (unread, state)', () => {
  it('counts messages after the read position, never the uid its own', () => {
    expect(conversationView(member({ ceiling: 10, readSeq: 4 }))).toMatchObject({ state: 'ACTIVE', unread: 6, readSeq: 4, lastMsgSeq: 10 });
    expect(conversationView(member({ ceiling: 10, readSeq: 4, ownLastSentSeq: 8 }))).toMatchObject({ unread: 2, readSeq: 8 });
    expect(conversationView(member({ ceiling: 10, ownLastSentSeq: 10 }))).toMatchObject({ state: 'ACTIVE', unread: 0 });
  });

  it('does not count what was sent before the uid joined', () => {
    expect(conversationView(member({ joinFloor: 7, ceiling: 9 }))).toMatchObject({ state: 'ACTIVE', unread: 2, readSeq: 7, visibleFrom: 7 });
  });

  it('shows nothing for a member that has received no message', () => {
    expect(conversationView(member({ joinFloor: 7, ceiling: 7 })).state).toBeNull();
    expect(conversationView({ ...member(), joinVersion: null, ceiling: 5 }).state).toBeNull();
  });

  it('is LEFT once the channel is deleted, for a member who never left', () => {
    expect(conversationView(member({ ceiling: 6, readSeq: 5, channelDeleted: true }))).toMatchObject({ state: 'LEFT', lastMsgSeq: 6, unread: 1 });
  });

  it('stays DELETED when the user had deleted it before the channel was', () => {
    expect(conversationView(member({ ceiling: 6, deleteFloor: 6, channelDeleted: true }))).toMatchObject({ state: 'DELETED' });
  });

  it('is LEFT once the interval is closed, whatever arrived (in flight) after the leave', () => {
    expect(conversationView(member({ leftVersion: 4, ceiling: 6, readSeq: 5 }))).toMatchObject({ state: 'LEFT', lastMsgSeq: 6, unread: 1 });
  });

  it('is DELETED until a message after the delete floor arrives, then counts only those', () => {
    expect(conversationView(member({ ceiling: 5, deleteFloor: 5 }))).toMatchObject({ state: 'DELETED', unread: 0 });
    expect(conversationView(member({ ceiling: 6, deleteFloor: 5 }))).toMatchObject({ state: 'ACTIVE', unread: 1, visibleFrom: 5 });
  });

  it('never reports a negative unread or a read position beyond the last message', () => {
    expect(conversationView(member({ ceiling: 3, readSeq: 9 }))).toMatchObject({ unread: 0, readSeq: 3 });
  });
});

describe('channel state (deletion and re-creation)', () => {
  it('given no state, a deletion is kept and a creation is not (a channel never deleted needs none)', () => {
    expect(channelStateChanges(undefined, { deleted: true, channelVersion: 3 })).toBe(true);
    expect(channelStateChanges(undefined, { deleted: false, channelVersion: 1 })).toBe(false);
  });

  it('given a deletion at v3, a creation at v4 is kept, and a redelivered or older event is not', () => {
    const deleted = { deleted: true, channelVersion: 3 };
    expect(channelStateChanges(deleted, { deleted: false, channelVersion: 4 })).toBe(true);
    expect(channelStateChanges(deleted, { deleted: true, channelVersion: 3 })).toBe(false);
    expect(channelStateChanges(deleted, { deleted: false, channelVersion: 2 })).toBe(false);
  });

  it('given a re-creation at v4, a later deletion is kept again', () => {
    expect(channelStateChanges({ deleted: false, channelVersion: 4 }, { deleted: true, channelVersion: 5 })).toBe(true);
  });
});

describe('delete and mark read', () => {
  it('given an active conversation, when deleted, then the floor is the last received seq', () => {
    expect(decideDelete(member({ ceiling: 8 }))).toBe(8);
  });

  it('given a deleted conversation or none, when deleted (again), then nothing changes', () => {
    expect(decideDelete(member({ ceiling: 8, deleteFloor: 8 }))).toBeNull();
    expect(decideDelete(member({ ceiling: 0 }))).toBeNull();
    expect(decideDelete({ ...member(), joinVersion: null })).toBeNull();
  });

  it('given a revived conversation, when deleted again, then the floor moves forward only', () => {
    expect(decideDelete(member({ ceiling: 9, deleteFloor: 5 }))).toBe(9);
  });

  it('moves the read position forward only, clamped to the last message; 0 reads everything', () => {
    expect(decideMarkRead(member({ ceiling: 10, readSeq: 3 }), 5)).toBe(5);
    expect(decideMarkRead(member({ ceiling: 10, readSeq: 3 }), 50)).toBe(10);
    expect(decideMarkRead(member({ ceiling: 10, readSeq: 3 }), 0)).toBe(10);
    expect(decideMarkRead(member({ ceiling: 10, readSeq: 6 }), 5)).toBeNull();
    expect(decideMarkRead(member({ ceiling: 0 }), 5)).toBeNull();
  });
});

describe('conversation version', () => {
  const head = { version: 40, membershipVersion: 3 };
  it('follows the head while the uid receives its message', () => {
    expect(conversationVersion(10, { joinVersion: 1, leftVersion: null }, head)).toBe(40);
  });
  it('ignores a head message the uid does not receive (sent after it left, or before it joined)', () => {
    expect(conversationVersion(10, { joinVersion: 1, leftVersion: 3 }, head)).toBe(10);
    expect(conversationVersion(10, { joinVersion: 4, leftVersion: null }, head)).toBe(10);
    expect(conversationVersion(50, { joinVersion: 1, leftVersion: null }, head)).toBe(50);
  });
});

describe('sync request validation', () => {
  it('applies the documented defaults and caps', () => {
    expect(toSyncQuery({ uid: 'alice' })).toMatchObject({ limit: 100, msgCount: 0, sinceVersion: 0, beforeVersion: 0 });
    expect(toSyncQuery({ uid: 'alice', limit: 9999, msgCount: 99 })).toMatchObject({ limit: 500, msgCount: 20 });
  });

  it.each([
    ['since_version', { sinceVersion: 2 ** 63 }],
    ['since_version', { sinceVersion: Number(2n ** 64n - 1n) }],
    ['before_version', { beforeVersion: 2 ** 53 }],
  ])('refuses a %s beyond 2^53 - 1 with VALUE_OUT_OF_RANGE', (_field, over) => {
    expect(() => toSyncQuery({ uid: 'alice', ...over })).toThrow(expect.objectContaining({ kind: 'INVALID_ARGUMENT', reason: 'VALUE_OUT_OF_RANGE' }));
  });

  it('takes versions up to 2^53 - 1 exactly', () => {
    expect(toSyncQuery({ uid: 'alice', sinceVersion: Number.MAX_SAFE_INTEGER })).toMatchObject({ sinceVersion: Number.MAX_SAFE_INTEGER });
  });

  it.each([[0], [256], [1.5]])('refuses exclude_channel_types entry %p with INVALID_CHANNEL_TYPE', (t) => {
    expect(() => toSyncQuery({ uid: 'alice', excludeChannelTypes: [t] })).toThrow(
      expect.objectContaining({ kind: 'INVALID_ARGUMENT', reason: 'INVALID_CHANNEL_TYPE' }),
    );
  });

  it('refuses a malformed uid', () => {
    let error: unknown;
    try {
      toSyncQuery({ uid: 'has space' });
    } catch (e) {
      error = e;
    }
    expect(refusalOf(error)).toBe('INVALID_ARGUMENT/ID_INVALID_CHARACTERS');
  });

  it('filters by channel type and unread', () => {
    const view = conversationView(member({ ceiling: 2, readSeq: 2 }));
    expect(passesFilters({ onlyUnread: false, excludeChannelTypes: [2] }, 2, view)).toBe(false);
    expect(passesFilters({ onlyUnread: true, excludeChannelTypes: [] }, 2, view)).toBe(false);
    expect(passesFilters({ onlyUnread: false, excludeChannelTypes: [1] }, 2, view)).toBe(true);
  });
});
