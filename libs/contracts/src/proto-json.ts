import { z } from 'zod';

/**
 * Kafka commands are gRPC requests as JSON. Producers write that JSON as their tools do: ours in
 * lowerCamelCase with numbers, protobuf's own JSON printers (Go's protojson, Java's JsonFormat) in
 * canonical proto3 JSON, with 64-bit integers as decimal strings and, from some, the proto field
 * names. The proto3 JSON mapping requires parsers to accept all of these, so command schemas do.
 */

/** int32 / uint32: a JSON number, or a decimal string. */
export const protoInt32 = z
  .union([
    z.number(),
    z
      .string()
      .regex(/^-?[0-9]{1,10}$/, 'must be a decimal integer')
      .transform(Number),
  ])
  .pipe(
    z
      .number()
      .int()
      .min(-(2 ** 31))
      .max(2 ** 32 - 1),
  );

/**
 * uint64: a decimal string (canonical) or a JSON number. A value above 2^53 - 1 stays a string, so
 * the domain's exact rule (validateUint64) refuses or clamps it, as it does on gRPC.
 */
export const protoUint64 = z.union([
  // Not .int(): it stops at 2^53 - 1, and a number above (from a JSON writer that emits numbers) is
  // the domain's to clamp or refuse with its own reason.
  z.number().nonnegative().refine(Number.isInteger, 'must be an integer'),
  z
    .string()
    .regex(/^[0-9]{1,30}$/, 'must be a decimal integer')
    .transform((digits) => (BigInt(digits) <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(digits) : digits)),
]);

const protoNameOf = (jsonName: string) => jsonName.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/**
 * A proto message in JSON: each field under its JSON name (lowerCamelCase) or its proto name
 * (snake_case). Only the message's own fields are renamed; map values such as `extra` keep their keys.
 */
export function protoMessage<T extends z.ZodRawShape>(shape: T) {
  const jsonNameOf = new Map(
    Object.keys(shape)
      .map((name) => [protoNameOf(name), name] as const)
      .filter(([proto, json]) => proto !== json),
  );
  return z.preprocess((value) => {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
    const renamed: Record<string, unknown> = {};
    for (const [key, field] of Object.entries(value)) {
      const json = jsonNameOf.get(key) ?? key;
      // The JSON name wins when a producer wrote both.
      if (json === key || !(json in value)) renamed[json] = field;
    }
    return renamed;
  }, z.object(shape));
}
