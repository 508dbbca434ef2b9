import { ChannelRef, invalidArgument, isPersonChannel, notFound, permissionDenied, personChannelMembers, validateUid } from '@im/shared-domain';

export const MAX_PAYLOAD_BYTES = 64 * 1024;
export const CLIENT_MSG_NO_MAX_LENGTH = 64;

/** What the fanout knows of a channel from the channels events it consumed. */
export interface ChannelFacts {
  exists: boolean;
  ban: boolean;
  sendBan: boolean;
  disband: boolean;
}

export interface SendRequest {
  fromUid: string;
  channel: ChannelRef;
  payload: Uint8Array;
  clientMsgNo: string;
}

export interface StoredMessage {
  messageId: string;
  messageSeq: number;
  channel: ChannelRef;
  fromUid: string;
  clientMsgNo: string;
  payload: Uint8Array;
  sentAt: string;
  /** The membership version the recipients were taken from: every consumer computes the same set. */
  membershipVersion: number;
}

export function validateSendRequest(req: { fromUid?: unknown; payload?: unknown; clientMsgNo?: unknown }): void {
  validateUid(req.fromUid, 'from_uid');
  const payload = req.payload as Uint8Array | undefined;
  if (!payload || payload.length === 0) throw invalidArgument('EMPTY_PAYLOAD', 'payload must not be empty');
  if (payload.length > MAX_PAYLOAD_BYTES) {
    throw invalidArgument('PAYLOAD_TOO_LARGE', `payload must be at most ${MAX_PAYLOAD_BYTES} bytes (got ${payload.length})`);
  }
  const no = req.clientMsgNo;
  if (typeof no !== 'string' || no.length === 0) {
    throw invalidArgument('MISSING_CLIENT_MSG_NO', 'client_msg_no is required: it makes retries of a send safe');
  }
  if (no.length > CLIENT_MSG_NO_MAX_LENGTH) {
    throw invalidArgument('CLIENT_MSG_NO_TOO_LONG', `client_msg_no must be at most ${CLIENT_MSG_NO_MAX_LENGTH} characters`);
  }
}

/**
 * May `fromUid` send to the channel now? Person channels need no subscription (the two people are
 * the members) but honour bans set on them; every other type needs a live channel and membership.
 */
export function authorizeSend(req: SendRequest, channel: ChannelFacts, senderIsMember: boolean): void {
  const name = `${req.channel.channelType}:${req.channel.channelId}`;
  if (isPersonChannel(req.channel)) {
    if (!personChannelMembers(req.channel.channelId).includes(req.fromUid)) {
      throw permissionDenied('NOT_SUBSCRIBER', `${req.fromUid} is not part of person channel ${name}`);
    }
  } else {
    if (!channel.exists) throw notFound('CHANNEL_NOT_FOUND', `channel ${name} does not exist`);
  }
  if (channel.disband) throw permissionDenied('CHANNEL_DISBANDED', `channel ${name} was disbanded`);
  if (channel.ban) throw permissionDenied('CHANNEL_BANNED', `channel ${name} is banned`);
  if (!isPersonChannel(req.channel)) {
    if (!senderIsMember) throw permissionDenied('NOT_SUBSCRIBER', `${req.fromUid} is not a subscriber of ${name}`);
    if (channel.sendBan) throw permissionDenied('CHANNEL_SEND_BANNED', `members may not send to ${name}`);
  }
}

/** Who receives a person channel's messages: always its two people. */
export const personRecipients = (channel: ChannelRef): string[] => [...new Set(personChannelMembers(channel.channelId))];
