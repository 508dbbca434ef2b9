import { randomUUID } from 'node:crypto';
import { z } from 'zod';

/** Schema version of the envelope format itself; each message type versions its `data` with `version`. */
export const envelopeSchema = z.object({
  id: z.guid(),
  type: z.string().min(1).max(128),
  version: z.number().int().positive(),
  occurred_at: z.iso.datetime({ offset: true }),
  key: z.string().min(1).max(512),
  data: z.unknown(),
});

export type Envelope<T = unknown> = Omit<z.infer<typeof envelopeSchema>, 'data'> & { data: T };

export function makeEnvelope<T>(type: string, key: string, data: T, opts: { id?: string; occurredAt?: string; version?: number } = {}): Envelope<T> {
  return {
    id: opts.id ?? randomUUID(),
    type,
    version: opts.version ?? 1,
    occurred_at: opts.occurredAt ?? new Date().toISOString(),
    key,
    data,
  };
}

/** Why a record was refused; becomes the DLQ headers. `code` is stable, `reason` is for humans. */
export interface Rejection {
  code: string;
  reason: string;
}

export type Decoded<T> = { ok: true; envelope: Envelope<T> } | { ok: false; rejection: Rejection };

/** A message type: its name, the schema version this code speaks, and the schema of its data. */
export interface MessageType<T> {
  type: string;
  version: number;
  data: z.ZodType<T>;
}

export const messageType = <T>(type: string, data: z.ZodType<T>, version = 1): MessageType<T> => ({ type, version, data });

export type DataOf<M> = M extends MessageType<infer T> ? T : never;

const describe = (error: z.ZodError) =>
  error.issues
    .slice(0, 5)
    .map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`)
    .join('; ');

/**
 * Decodes and validates a record value against the message types a consumer understands.
 * Never throws: a bad record is a value, so the caller can dead-letter it and move on.
 */
export function decodeEnvelope<M extends MessageType<unknown>>(
  value: Buffer | string | null | undefined,
  types: readonly M[],
  expectedKey?: string | null,
): Decoded<DataOf<M>> & { type?: M } {
  if (value === null || value === undefined || value.length === 0) {
    return { ok: false, rejection: { code: 'EMPTY_RECORD', reason: 'record has no value' } };
  }
  let json: unknown;
  try {
    json = JSON.parse(value.toString());
  } catch (error) {
    return { ok: false, rejection: { code: 'MALFORMED_JSON', reason: `value is not JSON: ${(error as Error).message}` } };
  }
  const envelope = envelopeSchema.safeParse(json);
  if (!envelope.success) {
    return { ok: false, rejection: { code: 'INVALID_ENVELOPE', reason: describe(envelope.error) } };
  }
  const messageType = types.find((t) => t.type === envelope.data.type);
  if (!messageType) {
    return {
      ok: false,
      rejection: { code: 'UNKNOWN_TYPE', reason: `type ${JSON.stringify(envelope.data.type)} is not one of ${types.map((t) => t.type).join(', ')}` },
    };
  }
  if (envelope.data.version > messageType.version) {
    return {
      ok: false,
      rejection: { code: 'UNSUPPORTED_VERSION', reason: `${messageType.type} version ${envelope.data.version} is newer than ${messageType.version}` },
    };
  }
  if (expectedKey !== undefined && expectedKey !== null && expectedKey !== envelope.data.key) {
    return {
      ok: false,
      rejection: { code: 'KEY_MISMATCH', reason: `record key ${JSON.stringify(expectedKey)} differs from envelope key ${JSON.stringify(envelope.data.key)}` },
    };
  }
  const data = messageType.data.safeParse(envelope.data.data);
  if (!data.success) {
    return { ok: false, rejection: { code: 'INVALID_DATA', reason: `${messageType.type}: ${describe(data.error)}` } };
  }
  return { ok: true, envelope: { ...envelope.data, data: data.data as DataOf<M> }, type: messageType };
}
