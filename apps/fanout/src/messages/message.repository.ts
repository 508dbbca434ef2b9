import { SequencedMessage } from '@im/fanout-domain';
import { Statement } from '@im/persistence';
import { ChannelRef, channelKey, lastPerKey } from '@im/shared-domain';
import type { QueryResult } from 'pg';
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

export interface ChannelHead {
  lastSeq: number;
  membershipVersion: number;
}

interface HeadRow {
  channel_type: number;
  channel_id: string;
  last_seq: string;
  membership_version: string;
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
   * Locks the heads of the given channels, in one fixed order so that concurrent batches never
   * deadlock on each other: sends and membership changes of a channel queue here. Heads exist for
   * every channel that ever had a member or a message; `missingHeads` tells which must be created
   * first (`createHeadsStatement`), for a channel's first send.
   */
  lockHeadsStatement(channels: readonly ChannelRef[]): Statement {
    return {
      name: 'fanout.lock-heads',
      // Head by head in the fixed order (a LATERAL lookup cannot become a hash of every head, see
      // sendInputsStatement), each locked as it is found: the nested loop keeps the sorted order.
      text: `SELECT c.channel_type, c.channel_id, h.last_seq, h.membership_version
               FROM (SELECT * FROM unnest($1::int[], $2::text[]) AS u(channel_type, channel_id) ORDER BY 1, 2) AS c
              CROSS JOIN LATERAL (SELECT h.last_seq, h.membership_version FROM fanout.channel_heads h
                                   WHERE h.channel_type = c.channel_type AND h.channel_id = c.channel_id
                                   FOR UPDATE) h`,
      values: [channels.map((c) => c.channelType), channels.map((c) => c.channelId)],
    };
  }

  /** Each locked head by channelKey, from the result of `lockHeadsStatement`. */
  lockedHeads(result: QueryResult): Map<string, ChannelHead> {
    return new Map(
      (result.rows as HeadRow[]).map((r) => [
        channelKey({ channelType: r.channel_type, channelId: r.channel_id }),
        { lastSeq: Number(r.last_seq), membershipVersion: Number(r.membership_version) },
      ]),
    );
  }

  /** Creates the heads of channels that have none yet, in the fixed order. */
  createHeadsStatement(channels: readonly ChannelRef[]): Statement {
    return {
      text: `INSERT INTO fanout.channel_heads (channel_type, channel_id)
             SELECT * FROM unnest($1::int[], $2::text[]) ORDER BY 1, 2 ON CONFLICT DO NOTHING`,
      values: [channels.map((c) => c.channelType), channels.map((c) => c.channelId)],
    };
  }

  /** Stores sequenced messages and moves their channels' heads, set-based, in one statement. */
  insertManyStatement(messages: readonly SequencedMessage[]): Statement {
    // Messages come per channel in seq order: the last one of each channel is its new head.
    const heads = lastPerKey(messages, (m) => channelKey(m.channel)).map((m) => ({ ...m.channel, seq: m.messageSeq }));
    return {
      name: 'fanout.insert-messages',
      text: `WITH stored AS (
               INSERT INTO fanout.messages (channel_type, channel_id, message_seq, message_id, from_uid, client_msg_no, payload, sent_at, membership_version)
               SELECT * FROM unnest($1::int[], $2::text[], $3::bigint[], $4::uuid[], $5::text[], $6::text[], $7::bytea[], $8::timestamptz[], $9::bigint[])
             )
             UPDATE fanout.channel_heads h SET last_seq = u.seq
               FROM unnest($10::int[], $11::text[], $12::bigint[]) AS u(channel_type, channel_id, seq)
              WHERE h.channel_type = u.channel_type AND h.channel_id = u.channel_id`,
      values: [
        messages.map((m) => m.channel.channelType),
        messages.map((m) => m.channel.channelId),
        messages.map((m) => m.messageSeq),
        messages.map((m) => m.messageId),
        messages.map((m) => m.fromUid),
        messages.map((m) => m.clientMsgNo),
        messages.map((m) => Buffer.from(m.payload)),
        messages.map((m) => m.sentAt),
        messages.map((m) => m.membershipVersion),
        heads.map((h) => h.channelType),
        heads.map((h) => h.channelId),
        heads.map((h) => h.seq),
      ],
    };
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
