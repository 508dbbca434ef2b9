import { BatchState, ChannelFacts, memberKey, SendRequest, SentMessage, sendKey } from '@im/fanout-domain';
import { ChannelRef, channelKey, isPersonChannel, lastPerKey } from '@im/shared-domain';
import { EntityManager } from 'typeorm';

/** What a send batch decides on besides its channels' heads (see `sequenceBatch`). */
export type SendInputs = Omit<BatchState, 'heads'>;

type StoredRow = [channelType: number, channelId: string, fromUid: string, clientMsgNo: string, messageId: string, messageSeq: number];
type FactRow = [channelType: number, channelId: string, deleted: boolean, ban: boolean, sendBan: boolean, disband: boolean];
type MemberRow = [channelType: number, channelId: string, uid: string];

/**
 * Reads, in one statement, the messages already stored under the batch's idempotency keys, the
 * facts of its channels and which senders are current members of the group channels they send to.
 * Run after the channels' heads are locked: a concurrent send of the same key has then committed
 * or not started, and membership cannot move until this transaction ends. One round trip instead
 * of three, on the path whose cost is round trips.
 */
export async function readSendInputs(em: EntityManager, requests: readonly SendRequest[], channels: readonly ChannelRef[]): Promise<SendInputs> {
  const keys = lastPerKey(requests, sendKey);
  const senders = lastPerKey(
    requests.filter((r) => !isPersonChannel(r.channel)),
    (r) => memberKey(r.channel, r.fromUid),
  );
  const [row]: { stored: StoredRow[]; facts: FactRow[]; members: MemberRow[] }[] = await em.query(
    `SELECT
       (SELECT coalesce(json_agg(json_build_array(m.channel_type, m.channel_id, m.from_uid, m.client_msg_no, m.message_id, m.message_seq)), '[]')
          FROM fanout.messages m
          JOIN unnest($1::int[], $2::text[], $3::text[], $4::text[]) AS k(channel_type, channel_id, from_uid, client_msg_no)
         USING (channel_type, channel_id, from_uid, client_msg_no)) AS stored,
       (SELECT coalesce(json_agg(json_build_array(f.channel_type, f.channel_id, f.deleted, f.ban, f.send_ban, f.disband)), '[]')
          FROM fanout.channels f
          JOIN unnest($5::int[], $6::text[]) AS c(channel_type, channel_id) USING (channel_type, channel_id)) AS facts,
       (SELECT coalesce(json_agg(json_build_array(ms.channel_type, ms.channel_id, ms.uid)), '[]')
          FROM fanout.memberships ms
          JOIN unnest($7::int[], $8::text[], $9::text[]) AS p(channel_type, channel_id, uid) USING (channel_type, channel_id, uid)
         WHERE ms.left_version IS NULL) AS members`,
    [
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
  );
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
