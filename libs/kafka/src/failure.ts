import { Rejection } from '@im/contracts';

/**
 * What a failed apply says about the record:
 * - `transient`: the infrastructure, not the record (connection lost, serialization failure or
 *   deadlock, broker unavailable, a timeout) — or a fault of the code or the schema that fails every
 *   record alike. Retried with backoff; dead-lettering it would drain good records to the DLQ.
 * - `deterministic`: the record itself (Postgres refuses its data, it violates a constraint). Retrying
 *   gives the same answer, so it is isolated and dead-lettered at once.
 * - `unknown`: anything else. Retried; a record that keeps failing when applied alone is isolated.
 */
export type FailureClass = 'transient' | 'deterministic' | 'unknown';

export interface ClassifyOptions {
  /** Integrity violations the code expects and resolves by retrying (e.g. optimistic-concurrency conflicts). */
  isExpectedConflict?: (error: unknown) => boolean;
}

const SQLSTATE = /^[0-9A-Z]{5}$/;

/** The Postgres SQLSTATE of an error (pg's error, or TypeORM's QueryFailedError around it), if any. */
export function sqlStateOf(error: unknown): string | undefined {
  const e = error as { code?: unknown; driverError?: { code?: unknown } } | null | undefined;
  for (const code of [e?.code, e?.driverError?.code]) if (typeof code === 'string' && SQLSTATE.test(code)) return code;
  return undefined;
}

/** SQLSTATE classes that say the record's data is refused: data exceptions, integrity violations, program limits (e.g. an index row too large). */
const RECORD_CLASSES = new Set(['22', '23', '54']);
/**
 * Classes and codes that say the database or the code is not right now or not at all what it should
 * be: connection (08), resources (53), operator intervention / timeouts (57), system (58), lock not
 * available (55P03), serialization failure / deadlock (40), invalid transaction state (25), and
 * faults every record would meet alike (42 syntax or undefined object, 3D/3F missing database or
 * schema, 28 authorization, 0A unsupported, XX internal).
 */
const TRANSIENT_CLASSES = new Set(['08', '53', '57', '58', '40', '25', '42', '3D', '3F', '28', '0A', 'XX']);
const TRANSIENT_CODES = new Set(['55P03', '55006']);
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED']);
const TRANSIENT_MESSAGE = /timeout|timed out|connection terminated|connection (?:is )?(?:closed|lost|ended)|not (?:yet )?available|unavailable/i;

/** Classifies an error thrown while applying records (pure: looks only at the error). */
export function classifyFailure(error: unknown, opts: ClassifyOptions = {}): FailureClass {
  const state = sqlStateOf(error);
  if (state) {
    if (TRANSIENT_CODES.has(state) || TRANSIENT_CLASSES.has(state.slice(0, 2))) return 'transient';
    if (state.startsWith('23') && opts.isExpectedConflict?.(error)) return 'transient';
    if (RECORD_CLASSES.has(state.slice(0, 2))) return 'deterministic';
    return 'unknown';
  }
  const e = error as { name?: unknown; code?: unknown; retriable?: unknown; message?: unknown } | null | undefined;
  if (typeof e?.code === 'string' && NETWORK_CODES.has(e.code)) return 'transient';
  // kafkajs errors are the broker's or the network's, never the record's (a too-large dead letter is handled where it is sent).
  if (typeof e?.name === 'string' && e.name.startsWith('KafkaJS')) return 'transient';
  if (e?.retriable === true) return 'transient';
  if (typeof e?.message === 'string' && TRANSIENT_MESSAGE.test(e.message)) return 'transient';
  return 'unknown';
}

const describe = (error: unknown) => (error instanceof Error ? `${error.name}: ${error.message}` : String(error));

/**
 * Counts how often each record failed when applied alone, and says when to stop retrying it: at once
 * for a deterministic failure, after `maxAttempts` for an unknown one, never for a transient one.
 */
export class RecordFailures {
  private readonly attempts = new Map<string, number>();

  constructor(private readonly opts: ClassifyOptions & { maxAttempts?: number } = {}) {}

  /** One more failure of a record applied alone: the rejection to dead-letter it with, or undefined to retry it. */
  verdict(topic: string, partition: number, offset: string, error: unknown): Rejection | undefined {
    const key = `${topic}:${partition}:${offset}`;
    const attempts = (this.attempts.get(key) ?? 0) + 1;
    const rejection = rejectionFor(error, classifyFailure(error, this.opts), attempts, this.opts.maxAttempts ?? 5);
    if (rejection) this.attempts.delete(key);
    else this.attempts.set(key, attempts);
    return rejection;
  }

  /** The record was applied (or passed): forget its failures. */
  forget(topic: string, partition: number, offset: string): void {
    this.attempts.delete(`${topic}:${partition}:${offset}`);
  }
}

/** The rejection of a record that failed `attempts` times alone with `error`, or undefined while it should be retried. */
export function rejectionFor(error: unknown, failure: FailureClass, attempts: number, maxAttempts: number): Rejection | undefined {
  if (failure === 'deterministic') return { code: `DATA_REJECTED/${sqlStateOf(error) ?? 'UNKNOWN'}`, reason: describe(error) };
  if (failure === 'unknown' && attempts >= maxAttempts)
    return { code: 'REPEATED_FAILURE', reason: `failed ${attempts} times when applied alone; last: ${describe(error)}` };
  return undefined;
}
