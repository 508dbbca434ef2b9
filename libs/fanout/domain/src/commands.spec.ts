import { outcomeOf } from '@im/shared-domain';
import {
  CHANNEL_UPDATED_COMMAND,
  COMMAND_PAYLOAD_MAX_BYTES,
  commandForChannelEvent,
  isReservedCommandType,
  nextAckCursor,
  syncWindow,
  validateSendCommand,
} from './commands';

const group = { channelId: 'g1', channelType: 2 };

describe('command stream rules', () => {
  describe('sending a command from another service', () => {
    it('accepts an application type and deduplicates and sorts recipients', () => {
      const valid = validateSendCommand({ type: 'app.poll.closed', channel: group, uids: ['b', 'a', 'b'], payload: Buffer.from('x') });
      expect(valid.uids).toEqual(['a', 'b']);
      expect(valid.command).toMatchObject({ type: 'app.poll.closed', channel: group, version: 0 });
    });

    it.each([
      ['no type', { type: '' }, 'INVALID_ARGUMENT/EMPTY_COMMAND_TYPE'],
      ['a type of 129 characters', { type: 'x'.repeat(129) }, 'INVALID_ARGUMENT/COMMAND_TYPE_TOO_LONG'],
      ['the platform type channel.updated', { type: 'channel.updated' }, 'INVALID_ARGUMENT/RESERVED_COMMAND_TYPE'],
      ['an im.-prefixed type', { type: 'im.anything' }, 'INVALID_ARGUMENT/RESERVED_COMMAND_TYPE'],
      ['a payload over 64 KiB', { payload: Buffer.alloc(COMMAND_PAYLOAD_MAX_BYTES + 1) }, 'INVALID_ARGUMENT/PAYLOAD_TOO_LARGE'],
      ['10,001 recipients', { uids: Array.from({ length: 10_001 }, (_, i) => `u${i}`) }, 'INVALID_ARGUMENT/TOO_MANY_UIDS'],
      ['a malformed uid', { uids: ['ok', 'not ok'] }, 'INVALID_ARGUMENT/ID_INVALID_CHARACTERS'],
      ['no channel', { channel: undefined }, 'INVALID_ARGUMENT/MISSING_CHANNEL'],
      ['a type with U+0000', { type: 'app.\u0000' }, 'INVALID_ARGUMENT/CONTROL_CHARACTERS'],
      ['a type with a C1 control', { type: 'app.\u0085' }, 'INVALID_ARGUMENT/CONTROL_CHARACTERS'],
    ])('refuses %s', (_label, over, expected) => {
      expect(outcomeOf(() => validateSendCommand({ type: 'app.t', channel: group, ...over }))).toBe(expected);
    });

    it('reserves exactly the platform types and the im. prefix', () => {
      expect(isReservedCommandType('channel.deleted')).toBe(true);
      expect(isReservedCommandType('im.x')).toBe(true);
      expect(isReservedCommandType('channel.updated.v2')).toBe(false);
      expect(isReservedCommandType('app.im.x')).toBe(false);
    });
  });

  describe('channel events become commands', () => {
    it('an update becomes channel.updated carrying only the channel and its version', () => {
      expect(commandForChannelEvent({ type: 'channel.updated', channel: group, version: 7 })).toEqual({
        type: CHANNEL_UPDATED_COMMAND,
        channel: group,
        version: 7,
        payload: new Uint8Array(),
      });
    });

    it('a deletion becomes channel.deleted; a creation becomes nothing', () => {
      expect(commandForChannelEvent({ type: 'channel.deleted', channel: group, version: 3 })?.type).toBe('channel.deleted');
      expect(commandForChannelEvent({ type: 'channel.created', channel: group, version: 1 })).toBeUndefined();
    });
  });

  describe('sync window', () => {
    it('starts after the ack cursor when the caller asks for less', () => {
      expect(syncWindow({ afterSeq: 3, limit: 10 }, 5)).toEqual({ afterSeq: 5, limit: 10 });
      expect(syncWindow({ afterSeq: 9, limit: 10 }, 5)).toEqual({ afterSeq: 9, limit: 10 });
    });

    it('defaults the limit to 100 and caps it at 1000', () => {
      expect(syncWindow({}, 0)).toEqual({ afterSeq: 0, limit: 100 });
      expect(syncWindow({ limit: 5000 }, 0).limit).toBe(1000);
    });

    it('refuses a negative position', () => {
      expect(outcomeOf(() => syncWindow({ afterSeq: -1 }, 0))).toBe('INVALID_ARGUMENT/INVALID_AFTER_SEQ');
    });

    it.each([[2 ** 53], [2 ** 63], [Number(2n ** 64n - 1n)]])('refuses a position of %p (beyond 2^53 - 1) with VALUE_OUT_OF_RANGE', (afterSeq) => {
      expect(outcomeOf(() => syncWindow({ afterSeq }, 0))).toBe('INVALID_ARGUMENT/VALUE_OUT_OF_RANGE');
    });
  });

  describe('ack cursor', () => {
    it.each([
      ['moves forward', { ackedSeq: 0, lastSeq: 10 }, 5, 5],
      ['never moves back (ack 5 then 3)', { ackedSeq: 5, lastSeq: 10 }, 3, 5],
      ['never passes the last queued command', { ackedSeq: 2, lastSeq: 4 }, 99, 4],
      ['stays put on a repeated ack', { ackedSeq: 5, lastSeq: 10 }, 5, 5],
      ['clamps 2^64 - 1 (-1 as uint64) to the last queued command', { ackedSeq: 2, lastSeq: 4 }, Number(2n ** 64n - 1n), 4],
    ])('%s', (_label, current, upTo, expected) => {
      expect(nextAckCursor(current, upTo)).toBe(expected);
    });
  });
});
