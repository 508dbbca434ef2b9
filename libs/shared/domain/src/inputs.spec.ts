import { outcomeOf } from './domain-error';
import { isCleanText, UINT64_MAX_ACCEPTED, validateRequestText, validateText, validateUint64 } from './inputs';

describe('text rule', () => {
  it.each([
    ['NUL', 'a\u0000b'],
    ['another C0 control', 'a\u0001'],
    ['vertical tab', '\u000b'],
    ['form feed', '\u000c'],
    ['escape', 'x\u001b[31m'],
    ['unit separator', '\u001f'],
    ['DEL', '\u007f'],
    ['a C1 control', '\u0085'],
    ['the last C1 control', '\u009f'],
  ])('refuses %s with CONTROL_CHARACTERS', (_, text) => {
    expect(outcomeOf(() => validateText('name', text))).toBe('INVALID_ARGUMENT/CONTROL_CHARACTERS');
    expect(isCleanText(text)).toBe(false);
  });

  it.each([
    ['a high surrogate alone', 'a\ud800'],
    ['a low surrogate alone', '\udc00b'],
    ['two high surrogates', '\ud800\ud800\udc00'],
  ])('refuses %s with INVALID_UNICODE', (_, text) => {
    expect(outcomeOf(() => validateText('name', text))).toBe('INVALID_ARGUMENT/INVALID_UNICODE');
  });

  it.each([
    ['plain text', 'Team 42'],
    ['tab, newline and carriage return', 'a\tb\nc\r\n'],
    ['non-ASCII letters', 'Grüße, 日本語'],
    ['emoji (surrogate pairs)', '👋🏽'],
    ['U+00A0 and beyond', '\u00a0\u2028\ufeff'],
    ['the empty string', ''],
  ])('accepts %s', (_, text) => {
    expect(validateText('name', text)).toBe(text);
    expect(isCleanText(text)).toBe(true);
  });

  it('names the field and the code point', () => {
    expect(() => validateText('client_msg_no', 'ab\u0000')).toThrow('client_msg_no must not contain control characters (found U+0000 at index 2)');
  });
});

describe('validateRequestText', () => {
  it('walks nested objects, arrays and map keys', () => {
    expect(outcomeOf(() => validateRequestText({ attributes: { extra: { k: 'v\u0000' } } }))).toBe('INVALID_ARGUMENT/CONTROL_CHARACTERS');
    expect(outcomeOf(() => validateRequestText({ attributes: { extra: { 'k\u0000': 'v' } } }))).toBe('INVALID_ARGUMENT/CONTROL_CHARACTERS');
    expect(outcomeOf(() => validateRequestText({ uids: ['a', 'b\u0000'] }))).toBe('INVALID_ARGUMENT/CONTROL_CHARACTERS');
    expect(() => validateRequestText({ uids: ['a', 'b\u0000'] })).toThrow('request.uids[1]');
  });

  it('leaves bytes alone', () => {
    expect(outcomeOf(() => validateRequestText({ payload: Buffer.from([0, 1, 0x7f, 0x9f]), x: new Uint8Array([0]) }))).toBe('OK');
  });

  it('accepts clean requests and non-string scalars', () => {
    expect(outcomeOf(() => validateRequestText({ channel: { channelId: 'g1', channelType: 2 }, ban: true, version: 3, none: null, gone: undefined }))).toBe(
      'OK',
    );
  });

  it('refuses absurd nesting instead of recursing without end', () => {
    let deep: unknown = 'x';
    for (let i = 0; i < 100; i++) deep = { d: deep };
    expect(outcomeOf(() => validateRequestText(deep))).toBe('INVALID_ARGUMENT/REQUEST_TOO_DEEP');
  });
});

describe('validateUint64', () => {
  const refuse = { invalid: 'INVALID_SEQ' };
  const clamp = { invalid: 'INVALID_SEQ', clamp: true };

  it.each([
    [undefined, 0],
    [null, 0],
    [0, 0],
    [42, 42],
    [UINT64_MAX_ACCEPTED, UINT64_MAX_ACCEPTED],
    ['9007199254740991', UINT64_MAX_ACCEPTED],
    [7n, 7],
  ])('takes %p as %p', (value, expected) => {
    expect(validateUint64('seq', value, refuse)).toBe(expected);
  });

  it.each([
    ['2^53', 2 ** 53],
    ['2^63 (beyond Postgres bigint)', 2 ** 63],
    ['2^64 - 1 (-1 as uint64)', Number(2n ** 64n - 1n)],
    ['2^53 as a string', '9007199254740992'],
    ['2^64 - 1 as a string', '18446744073709551615'],
    ['2^63 as a bigint', 2n ** 63n],
  ])('refuses %s with VALUE_OUT_OF_RANGE, or clamps it', (_, value) => {
    expect(outcomeOf(() => validateUint64('seq', value, refuse))).toBe('INVALID_ARGUMENT/VALUE_OUT_OF_RANGE');
    expect(validateUint64('seq', value, clamp)).toBe(UINT64_MAX_ACCEPTED);
  });

  it.each([
    ['negative', -1],
    ['fractional', 1.5],
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['a non-numeric string', '12a'],
    ['a negative string', '-1'],
    ['a boolean', true],
  ])('refuses %s with the field reason even when clamping', (_, value) => {
    expect(outcomeOf(() => validateUint64('seq', value, refuse))).toBe('INVALID_ARGUMENT/INVALID_SEQ');
    expect(outcomeOf(() => validateUint64('seq', value, clamp))).toBe('INVALID_ARGUMENT/INVALID_SEQ');
  });
});
