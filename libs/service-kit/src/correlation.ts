import { HEADERS } from '@im/contracts';
import { ambientEventHeaders, withEventHeaders } from '@im/persistence';
import { randomUUID } from 'node:crypto';

export const CORRELATION_HEADER = HEADERS.correlationId;

// Generous enough for uuids, ULIDs and W3C trace ids; nothing that could break a log line or header.
const VALID = /^[A-Za-z0-9._:@/+=-]{1,128}$/;

/** The caller's correlation id when it is a sane one; a fresh uuid otherwise. */
export function correlationIdFrom(value: unknown): string {
  const text = Buffer.isBuffer(value) ? value.toString() : value;
  return typeof text === 'string' && VALID.test(text) ? text : randomUUID();
}

/**
 * Runs `fn` as part of one correlated unit of work: the id (and any extra headers such as the
 * trace context) goes into every event appended inside, and into every log line written inside.
 */
export function withCorrelation<T>(correlationId: string, fn: () => T, extraHeaders: Record<string, string> = {}): T {
  return withEventHeaders({ ...extraHeaders, [CORRELATION_HEADER]: correlationId }, fn);
}

/** The correlation id of the unit of work the caller runs in, if any. */
export const currentCorrelationId = (): string | undefined => ambientEventHeaders()[CORRELATION_HEADER];
