import { given, refusalOf } from '@im/shared-domain';
import { ChannelEvent, emptyAttributes } from './channel';
import { ATTRIBUTE_LIMITS } from './channel-attributes';
import { channelDecider } from './channel.decider';

const now = '2026-01-01T00:00:00.000Z';
const later = '2026-01-01T00:01:00.000Z';
const group = { channelId: 'g1', channelType: 2 };
const created: ChannelEvent = {
  type: 'channel.created',
  channel: group,
  attributes: { ...emptyAttributes(), name: 'Team' },
  version: 1,
  occurredAt: now,
};

describe('channel decider', () => {
  describe('create', () => {
    it('given no history, when created, then channel.created at version 1 with defaults filled in', () => {
      const { events } = given(channelDecider, []).when({ type: 'channel.create', channel: group, attributes: { name: 'Team' }, now });
      expect(events).toEqual([created]);
    });

    it('given an active channel, when created again, then ALREADY_EXISTS', () => {
      const { error } = given(channelDecider, [created]).when({ type: 'channel.create', channel: group, now });
      expect(refusalOf(error)).toBe('ALREADY_EXISTS/CHANNEL_EXISTS');
    });

    it('given a deleted channel, when created again, then the stream continues at the next version', () => {
      const deleted: ChannelEvent = { type: 'channel.deleted', channel: group, attributes: created.attributes, version: 2, occurredAt: later };
      const { events } = given(channelDecider, [created, deleted]).when({ type: 'channel.create', channel: group, now: later });
      expect(events?.[0]).toMatchObject({ type: 'channel.created', version: 3 });
    });

    it.each([
      [{ channelId: '', channelType: 2 }, 'INVALID_ARGUMENT/EMPTY_ID'],
      [{ channelId: 'a'.repeat(65), channelType: 2 }, 'INVALID_ARGUMENT/ID_TOO_LONG'],
      [{ channelId: 'bad id', channelType: 2 }, 'INVALID_ARGUMENT/ID_INVALID_CHARACTERS'],
      [{ channelId: 'g', channelType: 0 }, 'INVALID_ARGUMENT/INVALID_CHANNEL_TYPE'],
      [{ channelId: 'g', channelType: 256 }, 'INVALID_ARGUMENT/INVALID_CHANNEL_TYPE'],
      [{ channelId: 'bob|alice', channelType: 1 }, 'INVALID_ARGUMENT/INVALID_PERSON_CHANNEL'],
    ])('rejects channel %j with %s', (channel, expected) => {
      const { error } = given(channelDecider, []).when({ type: 'channel.create', channel, now });
      expect(refusalOf(error)).toBe(expected);
    });

    it('accepts a canonical person channel id', () => {
      const { events } = given(channelDecider, []).when({ type: 'channel.create', channel: { channelId: 'alice|bob', channelType: 1 }, now });
      expect(events).toHaveLength(1);
    });

    it.each([
      ['an over-long name', { name: 'x'.repeat(ATTRIBUTE_LIMITS.nameMaxLength + 1) }, 'INVALID_ARGUMENT/ATTRIBUTE_TOO_LONG'],
      ['a bad extra key', { extra: { 'bad key': 'v' } }, 'INVALID_ARGUMENT/INVALID_EXTRA_KEY'],
      [
        'too many extra entries',
        { extra: Object.fromEntries(Array.from({ length: ATTRIBUTE_LIMITS.extraMaxEntries + 1 }, (_, i) => [`k${i}`, 'v'])) },
        'INVALID_ARGUMENT/TOO_MANY_EXTRA_ENTRIES',
      ],
    ])('rejects %s', (_label, attributes, expected) => {
      const { error } = given(channelDecider, []).when({ type: 'channel.create', channel: group, attributes, now });
      expect(refusalOf(error)).toBe(expected);
    });
  });

  describe('update', () => {
    const update = (over: object = {}) => ({
      type: 'channel.update' as const,
      channel: group,
      attributes: { ban: true, name: 'ignored because not in mask' },
      updateMask: ['ban'],
      expectedVersion: 1,
      now: later,
      ...over,
    });

    it('given an active channel, when updated with a mask, then only masked fields change and the version moves on', () => {
      const { events } = given(channelDecider, [created]).when(update());
      expect(events).toEqual([
        {
          type: 'channel.updated',
          channel: group,
          attributes: { ...created.attributes, ban: true },
          changedFields: ['ban'],
          version: 2,
          occurredAt: later,
        },
      ]);
    });

    it('given version 1, when expected_version is stale, then FAILED_PRECONDITION', () => {
      const { error } = given(channelDecider, [created]).when(update({ expectedVersion: 7 }));
      expect(refusalOf(error)).toBe('FAILED_PRECONDITION/VERSION_MISMATCH');
    });

    it('expected_version 0 means unconditional', () => {
      const { events } = given(channelDecider, [created]).when(update({ expectedVersion: 0 }));
      expect(events?.[0]?.version).toBe(2);
    });

    it('sets and removes single extra entries with extra.<key> paths', () => {
      const withExtra: ChannelEvent = { ...created, attributes: { ...created.attributes, extra: { a: '1', b: '2' } } };
      const { events } = given(channelDecider, [withExtra]).when(update({ attributes: { extra: { c: '3' } }, updateMask: ['extra.a', 'extra.c'] }));
      expect(events?.[0]?.attributes.extra).toEqual({ b: '2', c: '3' });
    });

    it.each([
      [[], 'INVALID_ARGUMENT/EMPTY_UPDATE_MASK'],
      [['colour'], 'INVALID_ARGUMENT/UNKNOWN_MASK_PATH'],
    ])('rejects mask %j with %s', (updateMask, expected) => {
      const { error } = given(channelDecider, [created]).when(update({ updateMask }));
      expect(refusalOf(error)).toBe(expected);
    });

    it('given no channel, when updated, then NOT_FOUND', () => {
      const { error } = given(channelDecider, []).when(update());
      expect(refusalOf(error)).toBe('NOT_FOUND/CHANNEL_NOT_FOUND');
    });
  });

  describe('delete', () => {
    it('given an active channel, when deleted, then channel.deleted keeps the attributes', () => {
      const { events } = given(channelDecider, [created]).when({ type: 'channel.delete', channel: group, now: later });
      expect(events).toEqual([{ type: 'channel.deleted', channel: group, attributes: created.attributes, version: 2, occurredAt: later }]);
    });

    it('given a deleted channel, when deleted again, then NOT_FOUND and no event', () => {
      const deleted: ChannelEvent = { type: 'channel.deleted', channel: group, attributes: created.attributes, version: 2, occurredAt: later };
      const { error } = given(channelDecider, [created, deleted]).when({ type: 'channel.delete', channel: group, now: later });
      expect(refusalOf(error)).toBe('NOT_FOUND/CHANNEL_NOT_FOUND');
    });
  });
});
