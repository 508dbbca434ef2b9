import { ChannelRef, invalidArgument, isPersonChannel, notFound, permissionDenied, validateUint64 } from '@im/shared-domain';
import { ChannelFacts } from './send';

export const DEFAULT_SYNC_LIMIT = 100;
export const MAX_SYNC_LIMIT = 1000;

export interface SyncRange {
  startSeq: number;
  /** 0: no upper bound. */
  endSeq: number;
  limit: number;
}

export function validateSyncRange(req: { startSeq?: unknown; endSeq?: unknown; limit?: unknown }): SyncRange {
  const startSeq = Math.max(1, validateUint64('start_seq', req.startSeq, { invalid: 'INVALID_RANGE' }));
  const endSeq = validateUint64('end_seq', req.endSeq, { invalid: 'INVALID_RANGE' });
  if (endSeq !== 0 && endSeq < startSeq) throw invalidArgument('INVALID_RANGE', `end_seq ${endSeq} is below start_seq ${startSeq}`);
  const asked = Number(req.limit ?? 0) || 0;
  const limit = asked <= 0 ? DEFAULT_SYNC_LIMIT : Math.min(asked, MAX_SYNC_LIMIT);
  return { startSeq, endSeq, limit };
}

/**
 * From which membership version on `uid` may read a channel's history. A current subscriber of a
 * group sees what was stored since its current subscription began; the two people of a person
 * channel see everything; anyone else is refused.
 */
export function historyVisibleFrom(channel: ChannelRef, facts: ChannelFacts, currentJoinVersion: number | null): number {
  const name = `${channel.channelType}:${channel.channelId}`;
  if (isPersonChannel(channel)) return 0;
  if (!facts.exists) throw notFound('CHANNEL_NOT_FOUND', `channel ${name} does not exist`);
  if (currentJoinVersion === null) throw permissionDenied('NOT_SUBSCRIBER', `not a subscriber of ${name}`);
  return currentJoinVersion;
}
