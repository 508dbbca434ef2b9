import { MembershipCommand } from '@im/subscriptions-domain';
import { assertNever, validateRequestText } from '@im/shared-domain';

/**
 * Requests as they arrive, from gRPC or as the `data` of a Kafka command (the same JSON shape).
 * Everything is loose here: validation is the domain's job, with reasons the caller can act on.
 */
export interface MembershipRequest {
  channel?: { channelId?: string; channelType?: number } | null;
  uids?: unknown;
  reset?: boolean | null;
}

export interface ListSubscribersRequest {
  channel?: { channelId?: string; channelType?: number } | null;
  pageSize?: number | null;
  pageToken?: string | null;
}

export type MembershipCommandType = MembershipCommand['type'];

export function toMembershipCommand(type: MembershipCommandType, req: MembershipRequest, now: string): MembershipCommand {
  validateRequestText(req);
  const channel = req.channel as MembershipCommand['channel'];
  const uids = req.uids as string[];
  switch (type) {
    case 'subscribers.add':
      return { type, channel, uids, reset: req.reset === true, now };
    case 'subscribers.remove':
      return { type, channel, uids, now };
    default:
      return assertNever(type);
  }
}
