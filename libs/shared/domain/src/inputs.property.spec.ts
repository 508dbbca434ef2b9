import { DomainError } from './domain-error';
import { UINT64_MAX_ACCEPTED, validateRequestText, validateText, validateUint64 } from './inputs';

/**
 * Properties of the input rules over generated inputs, checked against independent reference
 * definitions. A few hundred cases per property by default; `npm run test:fuzz` runs many more
 * (FUZZ_RUNS). A failure prints its seed: FUZZ_SEED=<seed> reproduces it.
 */
const RUNS = Number(process.env['FUZZ_RUNS'] ?? 300);
const SEED = Number(process.env['FUZZ_SEED'] ?? 0x5eed);

/** A small deterministic generator (xorshift32), so a failing case can be replayed from its seed. */
function random(seed: number) {
  let state = seed >>> 0 || 1;
  const next = () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state / 0x1_0000_0000;
  };
  const int = (max: number) => Math.floor(next() * max);
  return { next, int, pick: <T>(items: readonly T[]) => items[int(items.length)] };
}
type Random = ReturnType<typeof random>;

// Code units drawn from the interesting regions: printable ASCII, allowed whitespace, C0, DEL and C1,
// other BMP text, both surrogate halves.
const REGIONS: readonly [number, number][] = [
  [0x20, 0x7e],
  [0x09, 0x0a],
  [0x0d, 0x0d],
  [0x00, 0x1f],
  [0x7f, 0x9f],
  [0xa0, 0xd7ff],
  [0xd800, 0xdbff],
  [0xdc00, 0xdfff],
  [0xe000, 0xffff],
];

function text(r: Random, maxLength = 12): string {
  let s = '';
  const length = r.int(maxLength + 1);
  for (let i = 0; i < length; i++) {
    // Mostly clean text, so both outcomes are common.
    const [lo, hi] = r.next() < 0.85 ? r.pick([REGIONS[0], REGIONS[1], REGIONS[5], REGIONS[8]]) : r.pick(REGIONS);
    s += String.fromCharCode(lo + r.int(hi - lo + 1));
  }
  return s;
}

/** Reference rule, written per code point rather than with regular expressions. */
function referenceClean(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const unit = s.charCodeAt(i);
    if (unit >= 0xd800 && unit <= 0xdbff) {
      const low = s.charCodeAt(i + 1);
      if (!(low >= 0xdc00 && low <= 0xdfff)) return false;
      i++;
      continue;
    }
    if (unit >= 0xdc00 && unit <= 0xdfff) return false;
    const allowedWhitespace = unit === 0x09 || unit === 0x0a || unit === 0x0d;
    if ((unit < 0x20 && !allowedWhitespace) || (unit >= 0x7f && unit <= 0x9f)) return false;
  }
  return true;
}

const outcome = (fn: () => unknown): string => {
  try {
    fn();
    return 'OK';
  } catch (error) {
    if (error instanceof DomainError) return error.reason;
    throw error;
  }
};

function forAll(name: string, property: (r: Random) => void) {
  it(`${name} (${RUNS} cases)`, () => {
    for (let run = 0; run < RUNS; run++) {
      const seed = (SEED + run * 0x9e3779b1) >>> 0;
      try {
        property(random(seed));
      } catch (error) {
        throw new Error(`property failed for FUZZ_SEED=${seed}: ${(error as Error).message}`);
      }
    }
  });
}

describe('input rules, over generated inputs', () => {
  forAll('a string is accepted exactly when the reference rule accepts it', (r) => {
    const s = text(r);
    const result = outcome(() => validateText('f', s));
    expect(result === 'OK').toBe(referenceClean(s));
    if (result !== 'OK') expect(['CONTROL_CHARACTERS', 'INVALID_UNICODE']).toContain(result);
  });

  forAll('an accepted string is stored unchanged: it survives UTF-8 and holds no NUL byte', (r) => {
    const s = text(r);
    if (outcome(() => validateText('f', s)) !== 'OK') return;
    const bytes = Buffer.from(s, 'utf8');
    expect(bytes.includes(0)).toBe(false);
    expect(bytes.toString('utf8')).toBe(s);
  });

  forAll('a request is refused exactly when one of its strings, keys included, is refused', (r) => {
    let clean = true;
    const value = (depth: number): unknown => {
      const kind = depth > 3 ? 0 : r.int(4);
      if (kind === 0) {
        if (r.next() < 0.2) return Buffer.from(text(r, 4), 'latin1'); // bytes are never checked
        const s = text(r, 6);
        clean &&= referenceClean(s);
        return s;
      }
      if (kind === 1) return r.pick([0, 1, true, null, 2 ** 60]);
      if (kind === 2) return Array.from({ length: r.int(3) }, () => value(depth + 1));
      const entries: Record<string, unknown> = {};
      for (let i = r.int(3); i > 0; i--) {
        const key = text(r, 4);
        if (Object.prototype.hasOwnProperty.call(entries, key)) continue;
        clean &&= referenceClean(key);
        Object.defineProperty(entries, key, { value: value(depth + 1), enumerable: true });
      }
      return entries;
    };
    const request = value(0);
    expect(outcome(() => validateRequestText(request)) === 'OK').toBe(clean);
  });

  forAll('a uint64 is taken exactly up to 2^53 - 1 and refused or clamped above, in every wire form', (r) => {
    // Magnitudes spread over the whole uint64 range, with the boundaries over-represented.
    const boundary = r.pick([2n ** 53n, 2n ** 63n, 2n ** 64n]);
    const big = r.next() < 0.3 ? boundary - 1n + BigInt(r.int(3)) - 1n : BigInt(Math.floor(r.next() * 2 ** 32)) * 2n ** BigInt(r.int(33)) + BigInt(r.int(1000));
    const value = big < 0n ? 0n : big >= 2n ** 64n ? 2n ** 64n - 1n : big;
    const inRange = value <= BigInt(UINT64_MAX_ACCEPTED);
    for (const wire of [value, value.toString(), Number(value)]) {
      const exact = typeof wire === 'number' ? BigInt(wire) : value;
      const expectAccepted = typeof wire === 'number' ? exact <= BigInt(UINT64_MAX_ACCEPTED) : inRange;
      const result = outcome(() => validateUint64('f', wire, { invalid: 'INVALID_F' }));
      expect(result).toBe(expectAccepted ? 'OK' : 'VALUE_OUT_OF_RANGE');
      if (expectAccepted) expect(BigInt(validateUint64('f', wire, { invalid: 'INVALID_F' }))).toBe(exact);
      const clamped = validateUint64('f', wire, { invalid: 'INVALID_F', clamp: true });
      expect(Number.isSafeInteger(clamped)).toBe(true);
      expect(BigInt(clamped) <= 2n ** 63n - 1n).toBe(true); // always a valid Postgres bigint
    }
  });
});
