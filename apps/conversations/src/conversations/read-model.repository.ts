import { activeMemberDelta, applyMembershipEvent, channelStateChanges, Membership, MembershipEvent, NO_MEMBERSHIP } from '@im/conversations-domain';
import { StoredMessageData } from '@im/contracts';
import { queryPrepared } from '@im/persistence';
import { ChannelRef, isPersonChannel, personChannelMembers } from '@im/shared-domain';
import { EntityManager } from 'typeorm';
import { cmp, S } from './conversation-sql';
import { ConversationVersions } from './conversation-versions';

/**
 * The conversations projection's writes, from the upstream topics. Every write is an idempotent,
 * guarded upsert. They run under the locks of their channels, which the projection takes for a
 * whole slice first (ConversationVersions.lockChannels).
 */
export class ReadModelRepository {
  constructor(private readonly versions = new ConversationVersions()) {}

  /**
   * message.stored, a batch at a time (one partition, in seq order per channel), each with the
   * version of its event: one message row and one head move per message, whatever the channel's
   * size, written with set-based statements.
   */
  async applyMessages(em: EntityManager, versioned: { message: StoredMessageData; version: number }[]): Promise<void> {
    if (versioned.length === 0) return;
    const batch = versioned.map((v) => v.message);
    const inserted: { channel_type: number; channel_id: string; seq: string }[] = await queryPrepared(
      em,
      `INSERT INTO ${S}.channel_messages (channel_type, channel_id, seq, message_id, from_uid, client_msg_no, payload, sent_at_ms, membership_version)
       SELECT * FROM unnest($1::int[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bigint[], $9::bigint[])
       ON CONFLICT DO NOTHING RETURNING channel_type, channel_id, seq`,
      [
        batch.map((m) => m.channel.channelType),
        batch.map((m) => m.channel.channelId),
        batch.map((m) => m.messageSeq),
        batch.map((m) => m.messageId),
        batch.map((m) => m.fromUid),
        batch.map((m) => m.clientMsgNo),
        batch.map((m) => m.payload),
        batch.map((m) => m.sentAtMs),
        batch.map((m) => m.membershipVersion),
      ],
    );
    // Only what was new moves heads and cursors: a message seen before (redelivery, replay, or a
    // duplicate within the batch) changes nothing.
    const fresh = new Set(inserted.map((r) => `${r.channel_type}:${r.channel_id}:${r.seq}`));
    const heads = new Map<string, { message: StoredMessageData; version: number }>();
    const cursors = new Map<string, { uid: string; channel: ChannelRef; joinVersion: number | null; ownLastSentSeq: number; version: number }>();
    for (const { message: m, version } of versioned) {
      const id = `${m.channel.channelType}:${m.channel.channelId}`;
      if (!fresh.delete(`${id}:${m.messageSeq}`)) continue;
      if ((heads.get(id)?.message.messageSeq ?? 0) < m.messageSeq) heads.set(id, { message: m, version });
      // Person channels have fixed members: the first message creates both rows. Groups get their
      // rows from subscribers.added; a message only moves the sender's own cursor.
      const person = isPersonChannel(m.channel);
      for (const uid of person ? personChannelMembers(m.channel.channelId) : [m.fromUid]) {
        const key = `${uid}\n${id}`;
        const own = uid === m.fromUid ? m.messageSeq : 0;
        const current = cursors.get(key);
        if (current) current.ownLastSentSeq = Math.max(current.ownLastSentSeq, own);
        else cursors.set(key, { uid, channel: m.channel, joinVersion: person ? 0 : null, ownLastSentSeq: own, version });
      }
    }
    if (heads.size === 0) return;
    const headList = [...heads.values()];
    await queryPrepared(
      em,
      `INSERT INTO ${S}.channel_heads (channel_type, channel_id, last_seq, last_sent_at_ms, membership_version, version)
       SELECT * FROM unnest($1::int[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[])
       ON CONFLICT (channel_type, channel_id) DO UPDATE
         SET last_seq = excluded.last_seq, last_sent_at_ms = excluded.last_sent_at_ms,
             membership_version = excluded.membership_version, version = excluded.version
       WHERE channel_heads.last_seq < excluded.last_seq`,
      [
        headList.map((h) => h.message.channel.channelType),
        headList.map((h) => h.message.channel.channelId),
        headList.map((h) => h.message.messageSeq),
        headList.map((h) => h.message.sentAtMs),
        headList.map((h) => h.message.membershipVersion),
        headList.map((h) => h.version),
      ],
    );
    // Rows in one order (channel, then uid, as applyMembership locks them), so partitions applied
    // concurrently rarely wait on each other in a cycle.
    const rows = [...cursors.values()].sort(
      (x, y) => x.channel.channelType - y.channel.channelType || cmp(x.channel.channelId, y.channel.channelId) || cmp(x.uid, y.uid),
    );
    await queryPrepared(
      em,
      `INSERT INTO ${S}.members (uid, channel_type, channel_id, join_version, own_last_sent_seq, version, updated_at_ms)
       SELECT t.uid, t.channel_type, t.channel_id, t.join_version, t.own_last_sent_seq, t.version, 0
         FROM unnest($1::text[], $2::int[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[])
           AS t(uid, channel_type, channel_id, join_version, own_last_sent_seq, version)
       ON CONFLICT (uid, channel_type, channel_id) DO UPDATE
         SET own_last_sent_seq = excluded.own_last_sent_seq
       WHERE members.own_last_sent_seq < excluded.own_last_sent_seq`,
      [
        rows.map((r) => r.uid),
        rows.map((r) => r.channel.channelType),
        rows.map((r) => r.channel.channelId),
        rows.map((r) => r.joinVersion),
        rows.map((r) => r.ownLastSentSeq),
        rows.map((r) => r.version),
      ],
    );
    await this.versions.write(em, { channels: headList.map((h) => h.message.channel) });
  }

  /**
   * subscribers.added / subscribers.removed: moves each uid's interval, once per membership version.
   * Every uid it changes takes the event's version.
   */
  async applyMembership(
    em: EntityManager,
    version: number,
    channel: ChannelRef,
    uids: string[],
    event: MembershipEvent,
    occurredAtMs: number,
    reset = false,
  ): Promise<void> {
    const unique = [...new Set(uids)].sort();
    // A reset makes `uids` the only members: everyone else still in leaves at this version (a
    // no-op when the subscriptions service already published their removal separately).
    const everyMember = reset && event.type === 'subscribers.added';
    // One key probe per uid (a plan of `uid = ANY($3)` may scan the channel: 100,000 rows in a large group).
    const rows: { uid: string; join_version: string | null; left_version: string | null; applied_version: string }[] = await queryPrepared(
      em,
      everyMember
        ? `SELECT uid, join_version, left_version, applied_version FROM ${S}.members
            WHERE channel_type = $1 AND channel_id = $2 AND (uid = ANY($3::text[]) OR (join_version IS NOT NULL AND left_version IS NULL))
            ORDER BY uid FOR UPDATE`
        : `SELECT m.uid, m.join_version, m.left_version, m.applied_version FROM unnest($3::text[]) AS u(uid)
             CROSS JOIN LATERAL (SELECT * FROM ${S}.members y WHERE y.uid = u.uid AND y.channel_type = $1 AND y.channel_id = $2 FOR UPDATE) m`,
      [channel.channelType, channel.channelId, unique],
    );
    const current = new Map<string, Membership>(
      rows.map((r) => [
        r.uid,
        {
          joinVersion: r.join_version === null ? null : Number(r.join_version),
          leftVersion: r.left_version === null ? null : Number(r.left_version),
          appliedVersion: Number(r.applied_version),
        },
      ]),
    );
    const changed: { uid: string; before: Membership; next: Membership }[] = [];
    for (const uid of unique) {
      const before = current.get(uid) ?? NO_MEMBERSHIP;
      const next = applyMembershipEvent(before, event);
      if (next) changed.push({ uid, before, next });
    }
    const listed = new Set(unique);
    for (const [uid, membership] of current) {
      if (listed.has(uid)) continue;
      const next = applyMembershipEvent(membership, { type: 'subscribers.removed', membershipVersion: event.membershipVersion });
      if (next) changed.push({ uid, before: membership, next });
    }
    if (changed.length === 0) return;
    await queryPrepared(
      em,
      `INSERT INTO ${S}.members (uid, channel_type, channel_id, join_version, left_version, applied_version, version, updated_at_ms)
       SELECT t.uid, $1, $2, t.join_version, t.left_version, t.applied_version, $8::bigint, $3
         FROM unnest($4::text[], $5::bigint[], $6::bigint[], $7::bigint[]) AS t(uid, join_version, left_version, applied_version)
       ON CONFLICT (uid, channel_type, channel_id) DO UPDATE
         SET join_version = excluded.join_version, left_version = excluded.left_version, applied_version = excluded.applied_version,
             version = excluded.version, updated_at_ms = excluded.updated_at_ms
       WHERE members.applied_version < excluded.applied_version`,
      [
        channel.channelType,
        channel.channelId,
        occurredAtMs,
        changed.map((c) => c.uid),
        changed.map((c) => c.next.joinVersion),
        changed.map((c) => c.next.leftVersion),
        changed.map((c) => c.next.appliedVersion),
        version,
      ],
    );
    const size = await this.versions.resize(em, channel, activeMemberDelta(changed.map((c) => ({ before: c.before, after: c.next }))));
    if (size.turnedReadDiffused) await this.versions.readDiffuse(em, channel);
    else if (!size.readDiffused) await this.versions.write(em, { channel, uids: changed.map((c) => c.uid) });
  }

  /**
   * channel.deleted, or channel.created after a deletion: one row for the channel, a change of
   * every member's conversation at once (see channelStateChanges).
   */
  async applyChannelState(em: EntityManager, version: number, channel: ChannelRef, channelVersion: number, deleted: boolean): Promise<void> {
    const [row]: { deleted: boolean; channel_version: string }[] = await queryPrepared(
      em,
      `SELECT deleted, channel_version FROM ${S}.channel_states WHERE channel_type = $1 AND channel_id = $2 FOR UPDATE`,
      [channel.channelType, channel.channelId],
    );
    const current = row && { deleted: row.deleted, channelVersion: Number(row.channel_version) };
    if (!channelStateChanges(current, { deleted, channelVersion })) return;
    await queryPrepared(
      em,
      `INSERT INTO ${S}.channel_states (channel_type, channel_id, channel_version, deleted, changed_version) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (channel_type, channel_id) DO UPDATE
         SET channel_version = excluded.channel_version, deleted = excluded.deleted, changed_version = excluded.changed_version
       WHERE channel_states.channel_version < excluded.channel_version`,
      [channel.channelType, channel.channelId, channelVersion, deleted, version],
    );
    await this.versions.write(em, { channels: [channel] });
  }
}
