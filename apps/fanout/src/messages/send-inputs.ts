import { BatchState, ChannelFacts, memberKey, SendRequest, SentMessage, sendKey } from '@im/fanout-domain';
import { Statement } from '@im/persistence';
import { ChannelRef, channelKey, isPersonChannel, lastPerKey } from '@im/shared-domain';
import type { QueryResult } from 'pg';

/** What a send batch decides on besides its channels' heads (see `sequenceBatch`). */
export type SendInputs = Omit<BatchState, 'heads'>;

type StoredRow = [channelType: number, channelId: string, fromUid: string, clientMsgNo: string, messageId: string, messageSeq: number];
type FactRow = [channelType: number, channelId: string, deleted: boolean, ban: boolean, sendBan: boolean, disband: boolean];
type MemberRow = [channelType: number, channelId: string, uid: string];

/**
 * Reads, in one statement, the messages already stored under the batch's idempotency keys, the
 * facts of its channels and which senders are current members of the group channels they send to.
 * Sent right behind the statement that locks the channels' heads, in the same round trip (see
 * runPipelined): Postgres runs it once the locks are held, with a snapshot of its own, so a
 * concurrent send of the same key has committed or not started, and membership cannot move until
 * this transaction ends.
 *
 * Each key is looked up on its own (LATERAL … LIMIT 1, which the planner cannot turn into a join):
 * without fresh statistics (a new or fast-growing channel, autovacuum off) a join was planned as a
 * hash of every message and membership of the channel, so a send cost more the larger the channel.
 * Every key is unique, so LIMIT 1 drops nothing.
 */
export function sendInputsStatement(requests: readonly SendRequest[], channels: readonly ChannelRef[]): Statement {
  const keys = lastPerKey(requests, sendKey);
  const senders = lastPerKey(
    requests.filter((r) => !isPersonChannel(r.channel)),
    (r) => memberKey(r.channel, r.fromUid),
  );
  return {
    name: 'fanout.send-inputs',
    text: `SELECT
       (SELECT coalesce(json_agg(json_build_array(k.channel_type, k.channel_id, k.from_uid, k.client_msg_no, m.message_id, m.message_seq)), '[]')
          FROM unnest($1::int[], $2::text[], $3::text[], $4::text[]) AS k(channel_type, channel_id, from_uid, client_msg_no)
          CROSS JOIN LATERAL (SELECT m.message_id, m.message_seq FROM fanout.messages m
                               WHERE m.client_msg_no = k.client_msg_no AND m.from_uid = k.from_uid
                                 AND m.channel_id = k.channel_id AND m.channel_type = k.channel_type
                               LIMIT 1) m) AS stored,
       (SELECT coalesce(json_agg(json_build_array(c.channel_type, c.channel_id, f.deleted, f.ban, f.send_ban, f.disband)), '[]')
          FROM unnest($5::int[], $6::text[]) AS c(channel_type, channel_id)
          CROSS JOIN LATERAL (SELECT f.deleted, f.ban, f.send_ban, f.disband FROM fanout.channels f
                               WHERE f.channel_type = c.channel_type AND f.channel_id = c.channel_id
                               LIMIT 1) f) AS facts,
       (SELECT coalesce(json_agg(json_build_array(p.channel_type, p.channel_id, p.uid)), '[]')
          FROM unnest($7::int[], $8::text[], $9::text[]) AS p(channel_type, channel_id, uid)
          CROSS JOIN LATERAL (SELECT FROM fanout.memberships ms
                               WHERE ms.channel_type = p.channel_type AND ms.channel_id = p.channel_id AND ms.uid = p.uid
                                 AND ms.left_version IS NULL
                               LIMIT 1) ms) AS members`,
    values: [
      keys.map((k) => k.channel.channelType),
      keys.map((k) => k.channel.channelId),
      keys.map((k) => k.fromUid),
      keys.map((k) => k.clientMsgNo),
      channels.map((c) => c.channelType),
      channels.map((c) => c.channelId),
      senders.map((s) => s.channel.channelType),
      senders.map((s) => s.channel.channelId),
      senders.map((s) => s.fromUid),
    ],
  };
}

/** The inputs, from the result of `sendInputsStatement`. */
export function sendInputsOf(result: QueryResult): SendInputs {
  const [row] = result.rows as { stored: StoredRow[]; facts: FactRow[]; members: MemberRow[] }[];
  return {
    stored: new Map(
      row.stored.map(([channelType, channelId, fromUid, clientMsgNo, messageId, messageSeq]): [string, SentMessage] => [
        sendKey({ channel: { channelType, channelId }, fromUid, clientMsgNo }),
        { messageId, messageSeq: Number(messageSeq) },
      ]),
    ),
    facts: new Map(
      row.facts.map(([channelType, channelId, deleted, ban, sendBan, disband]): [string, ChannelFacts] => [
        channelKey({ channelType, channelId }),
        { exists: !deleted, ban, sendBan, disband },
      ]),
    ),
    members: new Set(row.members.map(([channelType, channelId, uid]) => memberKey({ channelType, channelId }, uid))),
  };
}
