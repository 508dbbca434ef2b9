import { StoredMessageData } from '@im/contracts';
import { SendRequest, validateSendRequest } from '@im/fanout-domain';
import { channelAsSeenBy, ChannelRef, isPersonChannel, resolveChannelForUser, validateRequestText } from '@im/shared-domain';
import { MessageRow } from './message.repository';

/** SendMessageRequest as it arrives from gRPC (payload bytes) or as the data of `message.send` (payload base64). */
export interface SendMessageInput {
  fromUid?: string;
  channel?: { channelId?: string; channelType?: number } | null;
  payload?: Uint8Array | string | null;
  clientMsgNo?: string;
}

/** Validates a send and names its channel as stored (a person channel by its canonical id). */
export function toSendRequest(input: SendMessageInput): SendRequest {
  // client_msg_no reaches a text column; payload bytes are not text and are left alone.
  validateRequestText(input);
  const payload = typeof input.payload === 'string' ? Buffer.from(input.payload, 'base64') : Buffer.from(input.payload ?? []);
  validateSendRequest({ fromUid: input.fromUid, payload, clientMsgNo: input.clientMsgNo });
  const fromUid = input.fromUid as string;
  return { fromUid, channel: resolveChannelForUser(fromUid, input.channel), payload, clientMsgNo: input.clientMsgNo as string };
}

/** The `message` of a `message.stored` event: channel by canonical id, payload in base64. */
export const toStoredEventData = (m: MessageRow): StoredMessageData => ({
  messageId: m.messageId,
  messageSeq: m.messageSeq,
  channel: m.channel,
  fromUid: m.fromUid,
  clientMsgNo: m.clientMsgNo,
  payload: m.payload.toString('base64'),
  sentAtMs: m.sentAt.getTime(),
  membershipVersion: m.membershipVersion,
});

/** The proto `Message` as `uid` sees it. */
export const toMessageFor = (uid: string, m: { channel: ChannelRef } & Omit<MessageRow, 'channel' | 'sentAt'> & { sentAtMs: number }) => ({
  messageId: m.messageId,
  messageSeq: m.messageSeq,
  channel: channelAsSeenBy(uid, m.channel),
  fromUid: m.fromUid,
  clientMsgNo: m.clientMsgNo,
  payload: m.payload,
  sentAtMs: m.sentAtMs,
  membershipVersion: m.membershipVersion,
});

export const rowToMessageFor = (uid: string, m: MessageRow) => toMessageFor(uid, { ...m, sentAtMs: m.sentAt.getTime() });

/** A `message.stored` message with its payload decoded, ready to be shown to any of its recipients. */
export const decodeStored = (m: StoredMessageData) => ({ ...m, payload: Buffer.from(m.payload, 'base64') });

/**
 * The proto `Message`s of a stored message for its recipients, one per way they see it: a group is
 * seen the same by all (one view), a person channel differently by each of its two people. The
 * payload is decoded once and shared by every view.
 */
export function storedToMessageViews(m: StoredMessageData, recipients: readonly string[]): { uids: string[]; message: ReturnType<typeof toMessageFor> }[] {
  if (recipients.length === 0) return [];
  const decoded = decodeStored(m);
  if (isPersonChannel(m.channel)) return recipients.map((uid) => ({ uids: [uid], message: toMessageFor(uid, decoded) }));
  return [{ uids: [...recipients], message: toMessageFor(recipients[0], decoded) }];
}

/** The proto `Message` of a stored group message: every recipient sees the group itself. */
export const storedGroupMessage = (m: StoredMessageData) => toMessageFor(m.fromUid, decodeStored(m));
