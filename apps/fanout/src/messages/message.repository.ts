import { ChannelRef } from '@im/shared-domain';
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

/** The message log (fanout.messages) and the channel head that sequences it. */
export class MessageRepository {
  async findByClientMsgNo(em: EntityManager, channel: ChannelRef, fromUid: string, clientMsgNo: string): Promise<MessageRow | undefined> {
    const rows: Row[] = await em.query(
      `SELECT * FROM fanout.messages WHERE channel_type = $1 AND channel_id = $2 AND from_uid = $3 AND client_msg_no = $4`,
      [channel.channelType, channel.channelId, fromUid, clientMsgNo],
    );
    return rows[0] && toMessage(rows[0]);
  }

  /** Locks the channel head (creating it on first use): sends and membership changes of a channel queue here. */
  async lockHead(em: EntityManager, channel: ChannelRef): Promise<{ lastSeq: number; membershipVersion: number }> {
    await em.query(`INSERT INTO fanout.channel_heads (channel_type, channel_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, [
      channel.channelType,
      channel.channelId,
    ]);
    const [row] = await em.query(
      `SELECT last_seq, membership_version FROM fanout.channel_heads WHERE channel_type = $1 AND channel_id = $2 FOR UPDATE`,
      [channel.channelType, channel.channelId],
    );
    return { lastSeq: Number(row.last_seq), membershipVersion: Number(row.membership_version) };
  }

  async insert(em: EntityManager, m: MessageRow): Promise<void> {
    await em.query(
      `INSERT INTO fanout.messages (channel_type, channel_id, message_seq, message_id, from_uid, client_msg_no, payload, sent_at, membership_version)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
      [m.channel.channelType, m.channel.channelId, m.messageSeq, m.messageId, m.fromUid, m.clientMsgNo, m.payload, m.sentAt, m.membershipVersion],
    );
    await em.query(`UPDATE fanout.channel_heads SET last_seq = $3 WHERE channel_type = $1 AND channel_id = $2`, [
      m.channel.channelType,
      m.channel.channelId,
      m.messageSeq,
    ]);
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
