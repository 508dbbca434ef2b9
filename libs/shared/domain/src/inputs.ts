import { invalidArgument } from './domain-error';

/**
 * Rules every request passes before any of it reaches storage, whether it came over gRPC or as the
 * `data` of a Kafka command (the same shape).
 *
 * Text. PostgreSQL `text` and `jsonb` refuse U+0000, and no field of the contract has a use for
 * control characters, so a string is refused with INVALID_ARGUMENT / CONTROL_CHARACTERS when it
 * holds any of
 *   - C0 controls U+0000–U+001F, except TAB (U+0009), LF (U+000A) and CR (U+000D), which free
 *     text such as a channel name or an `extra` value may legitimately carry;
 *   - DEL U+007F and the C1 controls U+0080–U+009F.
 * A string holding half of a surrogate pair is not Unicode text (it cannot be stored as UTF-8
 * without being altered) and is refused with INVALID_ARGUMENT / INVALID_UNICODE.
 * Identifiers (uids, channel ids, extra keys) keep their own narrower alphabets on top of this.
 * Bytes (`payload`) are bytes: Buffers and Uint8Arrays are never inspected.
 *
 * Numbers. The contract's uint64 fields arrive as JavaScript numbers, exact only up to
 * 2^53 − 1 (Number.MAX_SAFE_INTEGER), and Postgres `bigint` ends at 2^63 − 1. No sequence or
 * version the services hand out ever exceeds 2^53 − 1, so a uint64 above it is refused with
 * INVALID_ARGUMENT / VALUE_OUT_OF_RANGE, or, where the contract says so, clamped to it.
 */
export const CONTROL_CHARACTERS = 'CONTROL_CHARACTERS';
export const INVALID_UNICODE = 'INVALID_UNICODE';
export const VALUE_OUT_OF_RANGE = 'VALUE_OUT_OF_RANGE';

/** The largest uint64 the services accept as an exact value: 2^53 − 1. */
export const UINT64_MAX_ACCEPTED = Number.MAX_SAFE_INTEGER;

// eslint-disable-next-line no-control-regex
const FORBIDDEN_CONTROL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** How deep a request may nest; deeper values are refused rather than walked. */
const MAX_DEPTH = 32;

const codePoint = (s: string, at: number) => `U+${s.charCodeAt(at).toString(16).toUpperCase().padStart(4, '0')}`;

/** Whether `value` is a string the services accept as text (see the rule above). */
export const isCleanText = (value: string) => !FORBIDDEN_CONTROL.test(value) && !LONE_SURROGATE.test(value);

/** Refuses a string holding control characters or broken Unicode; returns it unchanged otherwise. */
export function validateText(field: string, value: string): string {
  const control = FORBIDDEN_CONTROL.exec(value);
  if (control) {
    throw invalidArgument(
      CONTROL_CHARACTERS,
      `${field} must not contain control characters (found ${codePoint(value, control.index)} at index ${control.index})`,
    );
  }
  const surrogate = LONE_SURROGATE.exec(value);
  if (surrogate) {
    throw invalidArgument(
      INVALID_UNICODE,
      `${field} is not valid Unicode (unpaired surrogate ${codePoint(value, surrogate.index)} at index ${surrogate.index})`,
    );
  }
  return value;
}

/**
 * Checks every string of a request: strings, array elements, object keys and values, at any depth
 * (JSON maps such as `extra` included). Bytes are skipped. Call it once where a request becomes a
 * command or query, before anything else reads it.
 */
export function validateRequestText(value: unknown, field = 'request'): void {
  walk(value, field, 0);
}

function walk(value: unknown, path: string, depth: number): void {
  if (typeof value === 'string') {
    validateText(path, value);
    return;
  }
  if (value === null || typeof value !== 'object' || value instanceof Uint8Array) return;
  if (depth >= MAX_DEPTH) throw invalidArgument('REQUEST_TOO_DEEP', `${path} nests more than ${MAX_DEPTH} levels`);
  if (Array.isArray(value)) {
    value.forEach((item, i) => walk(item, `${path}[${i}]`, depth + 1));
    return;
  }
  for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
    validateText(`key of ${path}`, key);
    walk(item, `${path}.${key}`, depth + 1);
  }
}

export interface Uint64Options {
  /** Reason for a value that is not a non-negative integer at all (negative, fractional, not a number). */
  invalid: string;
  /** Values above UINT64_MAX_ACCEPTED become UINT64_MAX_ACCEPTED instead of being refused. */
  clamp?: boolean;
}

/**
 * A uint64 request field as a safe JavaScript integer. Unset is 0. Accepts numbers (gRPC, Kafka
 * JSON), decimal strings (the proto JSON form of 64-bit integers) and bigints; values above
 * 2^53 − 1 are refused with VALUE_OUT_OF_RANGE, or clamped when `clamp` is set, so no imprecise
 * or out-of-range number ever reaches SQL.
 */
export function validateUint64(field: string, value: unknown, opts: Uint64Options): number {
  if (value === undefined || value === null) return 0;
  let exact: bigint;
  if (typeof value === 'bigint') exact = value;
  else if (typeof value === 'string' && /^[0-9]{1,30}$/.test(value)) exact = BigInt(value);
  else if (typeof value === 'number' && Number.isInteger(value)) exact = BigInt(value);
  else throw invalidArgument(opts.invalid, `${field} must be a non-negative integer (got ${describe(value)})`);
  if (exact < 0n) throw invalidArgument(opts.invalid, `${field} must be a non-negative integer (got ${describe(value)})`);
  if (exact > BigInt(UINT64_MAX_ACCEPTED)) {
    if (opts.clamp) return UINT64_MAX_ACCEPTED;
    throw invalidArgument(VALUE_OUT_OF_RANGE, `${field} must be at most ${UINT64_MAX_ACCEPTED} (2^53 - 1; got ${describe(value)})`);
  }
  return Number(exact);
}

const describe = (value: unknown) =>
  typeof value === 'bigint' ? value.toString() : typeof value === 'number' ? String(value) : (JSON.stringify(value) ?? String(value));
