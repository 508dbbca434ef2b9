import { ChannelRef, channelKey, DomainError, isPersonChannel } from '@im/shared-domain';
import { authorizeSend, ChannelFacts, SendRequest } from './send';

/** A message's place in its channel, as its sender is answered. */
export interface SentMessage {
  messageId: string;
  messageSeq: number;
}

/** A message a batch stores: the request, with the seq and membership version it was given. */
export interface SequencedMessage extends SentMessage {
  channel: ChannelRef;
  fromUid: string;
  clientMsgNo: string;
  payload: Uint8Array;
  sentAt: Date;
  /** The membership version the recipients are taken from (0 for person channels: their two people). */
  membershipVersion: number;
}

/** What is known, under the batch's channel locks, about the channels and senders it touches. */
export interface BatchState {
  /** Per channel (channelKey): its last seq and current membership version; absent = none yet. */
  heads: ReadonlyMap<string, { lastSeq: number; membershipVersion: number }>;
  /** Messages stored before, by sendKey (idempotency). */
  stored: ReadonlyMap<string, SentMessage>;
  /** Channel facts per channelKey; absent = the channel is not known. */
  facts: ReadonlyMap<string, ChannelFacts>;
  /** Current members, as memberKey(channel, uid), of the group channels the batch sends to. */
  members: ReadonlySet<string>;
}

/** Each request's answer: stored now, stored before (a retry), or refused (for that request only). */
export type SendOutcome = { kind: 'stored'; message: SequencedMessage } | { kind: 'retry'; message: SentMessage } | { kind: 'refused'; error: DomainError };

export interface SequencedBatch {
  outcomes: SendOutcome[];
  /** The messages to store, per channel in seq order. */
  messages: SequencedMessage[];
}

/** The idempotency key of a send: (channel, from_uid, client_msg_no). */
export const sendKey = (r: { channel: ChannelRef; fromUid: string; clientMsgNo: string }) => `${channelKey(r.channel)}\u0000${r.fromUid}\u0000${r.clientMsgNo}`;

export const memberKey = (channel: ChannelRef, uid: string) => `${channelKey(channel)}\u0000${uid}`;

const NO_FACTS: ChannelFacts = { exists: false, ban: false, sendBan: false, disband: false };

/**
 * Group commit of sends, decided together: in arrival order, each request is a retry of a message
 * stored before (or earlier in the same batch), refused on its own, or given its channel's next seq
 * and current membership version. Refusals and retries take no seq, so seqs stay gapless.
 * Deterministic: ids and time come in.
 */
export function sequenceBatch(requests: readonly SendRequest[], state: BatchState, newId: () => string, now: Date): SequencedBatch {
  const lastSeqs = new Map<string, number>();
  const sentNow = new Map<string, SendOutcome>();
  const messages: SequencedMessage[] = [];
  const outcomes = requests.map((req): SendOutcome => {
    const key = sendKey(req);
    const before = state.stored.get(key);
    if (before) return { kind: 'retry', message: before };
    const earlierInBatch = sentNow.get(key);
    if (earlierInBatch) return earlierInBatch.kind === 'stored' ? { kind: 'retry', message: pick(earlierInBatch.message) } : earlierInBatch;
    const outcome = sequenceOne(req, state, lastSeqs, newId, now);
    sentNow.set(key, outcome);
    if (outcome.kind === 'stored') messages.push(outcome.message);
    return outcome;
  });
  return { outcomes, messages };
}

function sequenceOne(req: SendRequest, state: BatchState, lastSeqs: Map<string, number>, newId: () => string, now: Date): SendOutcome {
  const channel = channelKey(req.channel);
  const person = isPersonChannel(req.channel);
  try {
    authorizeSend(req, state.facts.get(channel) ?? NO_FACTS, person ? false : state.members.has(memberKey(req.channel, req.fromUid)));
  } catch (error) {
    if (error instanceof DomainError) return { kind: 'refused', error };
    throw error;
  }
  const head = state.heads.get(channel) ?? { lastSeq: 0, membershipVersion: 0 };
  const messageSeq = (lastSeqs.get(channel) ?? head.lastSeq) + 1;
  lastSeqs.set(channel, messageSeq);
  return {
    kind: 'stored',
    message: {
      messageId: newId(),
      messageSeq,
      channel: req.channel,
      fromUid: req.fromUid,
      clientMsgNo: req.clientMsgNo,
      payload: req.payload,
      sentAt: now,
      membershipVersion: person ? 0 : head.membershipVersion,
    },
  };
}

const pick = (m: SentMessage): SentMessage => ({ messageId: m.messageId, messageSeq: m.messageSeq });
