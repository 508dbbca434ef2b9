import { SentMessage, SequencedMessage, sendKey } from '@im/fanout-domain';
import { ChannelRef, channelKey } from '@im/shared-domain';
import { EntityManager } from 'typeorm';

export interface MessageRow {
  channel: ChannelRef;
  messageId: string;
  messageSeq: number;
  fromUid: string;
  clientMsgNo: string;
  payload: Buffer;
  sentAt: Date;
  membershipVersion: number;
}

interface Row {
  channel_type: number;
  channel_id: string;
  message_id: string;
  message_seq: string;
  from_uid: string;
  client_msg_no: string;
  payload: Buffer;
  sent_at: Date;
  membership_version: string;
}

const toMessage = (r: Row): MessageRow => ({
  channel: { channelType: r.channel_type, channelId: r.channel_id },
  messageId: r.message_id,
  messageSeq: Number(r.message_seq),
  fromUid: r.from_uid,
  clientMsgNo: r.client_msg_no,
  payload: r.payload,
  sentAt: r.sent_at,
  membershipVersion: Number(r.membership_version),
});

/** The message log (fanout.messages) and the channel heads that sequence it. */
export class MessageRepository {
  /**
   * Locks the heads of the given channels (creating missing ones), in one fixed order so that
   * concurrent batches never deadlock on each other: sends and membership changes of a channel
   * queue here. Returns each head by channelKey.
   */
  async lockHeads(em: EntityManager, channels: readonly ChannelRef[]): Promise<Map<string, { lastSeq: number; membershipVersion: number }>> {
    const types = channels.map((c) => c.channelType);
    const ids = channels.map((c) => c.channelId);
    await em.query(
      `INSERT INTO fanout.channel_heads (channel_type, channel_id)
       SELECT * FROM unnest($1::int[], $2::text[]) ORDER BY 1, 2 ON CONFLICT DO NOTHING`,
      [types, ids],
    );
    const rows: { channel_type: number; channel_id: string; last_seq: string; membership_version: string }[] = await em.query(
      `SELECT h.channel_type, h.channel_id, h.last_seq, h.membership_version
         FROM fanout.channel_heads h
         JOIN unnest($1::int[], $2::text[]) AS c(channel_type, channel_id) USING (channel_type, channel_id)
        ORDER BY h.channel_type, h.channel_id
          FOR UPDATE OF h`,
      [types, ids],
    );
    return new Map(rows.map((r) => [`${r.channel_type}:${r.channel_id}`, { lastSeq: Number(r.last_seq), membershipVersion: Number(r.membership_version) }]));
  }

  /** Messages already stored under any of these idempotency keys, by sendKey. */
  async findSent(em: EntityManager, keys: readonly { channel: ChannelRef; fromUid: string; clientMsgNo: string }[]): Promise<Map<string, SentMessage>> {
    const rows: { channel_type: number; channel_id: string; from_uid: string; client_msg_no: string; message_id: string; message_seq: string }[] = await em.query(
      `SELECT m.channel_type, m.channel_id, m.from_uid, m.client_msg_no, m.message_id, m.message_seq
         FROM fanout.messages m
         JOIN unnest($1::int[], $2::text[], $3::text[], $4::text[]) AS k(channel_type, channel_id, from_uid, client_msg_no)
        USING (channel_type, channel_id, from_uid, client_msg_no)`,
      [keys.map((k) => k.channel.channelType), keys.map((k) => k.channel.channelId), keys.map((k) => k.fromUid), keys.map((k) => k.clientMsgNo)],
    );
    return new Map(
      rows.map((r) => [
        sendKey({ channel: { channelType: r.channel_type, channelId: r.channel_id }, fromUid: r.from_uid, clientMsgNo: r.client_msg_no }),
        { messageId: r.message_id, messageSeq: Number(r.message_seq) },
      ]),
    );
  }

  /** Stores sequenced messages and moves their channels' heads, set-based. */
  async insertMany(em: EntityManager, messages: readonly SequencedMessage[]): Promise<void> {
    if (messages.length === 0) return;
    await em.query(
      `INSERT INTO fanout.messages (channel_type, channel_id, message_seq, message_id, from_uid, client_msg_no, payload, sent_at, membership_version)
       SELECT * FROM unnest($1::int[], $2::text[], $3::bigint[], $4::uuid[], $5::text[], $6::text[], $7::bytea[], $8::timestamptz[], $9::bigint[])`,
      [
        messages.map((m) => m.channel.channelType),
        messages.map((m) => m.channel.channelId),
        messages.map((m) => m.messageSeq),
        messages.map((m) => m.messageId),
        messages.map((m) => m.fromUid),
        messages.map((m) => m.clientMsgNo),
        messages.map((m) => Buffer.from(m.payload)),
        messages.map((m) => m.sentAt),
        messages.map((m) => m.membershipVersion),
      ],
    );
    // Messages come per channel in seq order: the last one of each channel is its new head.
    const heads = [...new Map(messages.map((m) => [channelKey(m.channel), m])).values()].map((m) => ({ ...m.channel, seq: m.messageSeq }));
    await em.query(
      `UPDATE fanout.channel_heads h SET last_seq = u.seq
         FROM unnest($1::int[], $2::text[], $3::bigint[]) AS u(channel_type, channel_id, seq)
        WHERE h.channel_type = u.channel_type AND h.channel_id = u.channel_id`,
      [heads.map((h) => h.channelType), heads.map((h) => h.channelId), heads.map((h) => h.seq)],
    );
  }

  /** Messages in [startSeq, endSeq] (endSeq 0: open) stamped at `fromVersion` or later, ascending; one extra row tells has_more. */
  async range(
    em: EntityManager,
    channel: ChannelRef,
    q: { startSeq: number; endSeq: number; limit: number; fromVersion: number },
  ): Promise<{ messages: MessageRow[]; hasMore: boolean }> {
    const rows: Row[] = await em.query(
      `SELECT * FROM fanout.messages
        WHERE channel_type = $1 AND channel_id = $2 AND message_seq >= $3 AND ($4::bigint = 0 OR message_seq <= $4)
          AND membership_version >= $5
        ORDER BY message_seq LIMIT $6`,
      [channel.channelType, channel.channelId, q.startSeq, q.endSeq, q.fromVersion, q.limit + 1],
    );
    return { messages: rows.slice(0, q.limit).map(toMessage), hasMore: rows.length > q.limit };
  }
}
