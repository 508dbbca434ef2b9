import { AsyncLocalStorage } from 'node:async_hooks';

const storage = new AsyncLocalStorage<Readonly<Record<string, string>>>();

/**
 * Runs `fn` with headers that every event appended inside it carries (correlation id, trace
 * context), so write paths pass them on to Kafka without threading them through every call.
 * Nested calls add to, and may override, the outer headers.
 */
export function withEventHeaders<T>(headers: Record<string, string>, fn: () => T): T {
  return storage.run({ ...storage.getStore(), ...headers }, fn);
}

/** The headers of the innermost `withEventHeaders` around the caller; empty outside any. */
export const ambientEventHeaders = (): Readonly<Record<string, string>> => storage.getStore() ?? {};
