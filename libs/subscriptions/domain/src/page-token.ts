import { ChannelRef, channelKey, invalidArgument, validateUid } from '@im/shared-domain';

/** ListSubscribers page size: 0 means this many. */
export const DEFAULT_PAGE_SIZE = 1_000;
/** ListSubscribers page size: larger requests are served this many. */
export const MAX_PAGE_SIZE = 10_000;

export function effectivePageSize(requested: unknown): number {
  const n = Number(requested ?? 0);
  if (!Number.isFinite(n) || n <= 0) return DEFAULT_PAGE_SIZE;
  return Math.min(Math.floor(n), MAX_PAGE_SIZE);
}

/**
 * Page tokens carry the last uid returned, bound to the channel: the next page starts strictly after
 * it (keyset paging), so members that stay put are listed exactly once however the membership
 * changes between pages. Opaque to clients (base64url of JSON), but not secret.
 */
export function encodePageToken(channel: ChannelRef, lastUid: string): string {
  return Buffer.from(JSON.stringify({ c: channelKey(channel), a: lastUid }), 'utf8').toString('base64url');
}

/** The uid to continue after, or undefined for the first page. */
export function decodePageToken(channel: ChannelRef, token: unknown): string | undefined {
  if (token === undefined || token === null || token === '') return undefined;
  const invalid = () => invalidArgument('INVALID_PAGE_TOKEN', 'page_token was not returned by ListSubscribers for this channel');
  if (typeof token !== 'string' || !/^[A-Za-z0-9_-]+$/.test(token)) throw invalid();
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    throw invalid();
  }
  const { c, a } = (parsed ?? {}) as { c?: unknown; a?: unknown };
  if (c !== channelKey(channel) || typeof a !== 'string') throw invalid();
  try {
    return validateUid(a);
  } catch {
    throw invalid();
  }
}
