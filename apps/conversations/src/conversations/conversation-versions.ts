import { ChannelSize, EMPTY_CHANNEL, resizeChannel } from '@im/conversations-domain';
import { queryPrepared } from '@im/persistence';
import { ChannelRef, isPersonChannel } from '@im/shared-domain';
import { EntityManager } from 'typeorm';
import { CONVERSATION_JOINS, CONVERSATION_VERSION, S } from './conversation-sql';

/**
 * Write diffusion (ADR 18): the conversation version kept on the member rows of person channels and
 * small groups, rewritten by every writer of one of its inputs under the channel's lock.
 */
export class ConversationVersions {
  /**
   * Takes the channels' transaction locks, in one order (so two writers never wait on each other in
   * a cycle). Every input of a member row's version (its row, its cursors, the channel's head, state
   * and size) is written under its channel's lock, so the version written with a change is computed
   * from everything committed before it: concurrent partitions and commands cannot leave it stale.
   */
  async lockChannels(em: EntityManager, channels: ChannelRef[]): Promise<void> {
    if (channels.length === 0) return;
    await queryPrepared(
      em,
      `SELECT pg_advisory_xact_lock(k) FROM (
         SELECT DISTINCT hashtextextended('${S}.channel:' || t || ':' || i, 0) AS k FROM unnest($1::int[], $2::text[]) AS x(t, i) ORDER BY 1) AS locks`,
      [channels.map((c) => c.channelType), channels.map((c) => c.channelId)],
    );
  }

  /**
   * Writes the conversation version of member rows of write-diffused channels: every row of
   * `channels`, or the `uids` of `channel`. The expression is the sync query's own, so written and
   * computed versions are equal. Rows of read-diffused groups are left out (theirs stay NULL).
   */
  async write(em: EntityManager, scope: { channels: ChannelRef[] } | { channel: ChannelRef; uids: string[] }): Promise<void> {
    if (('channels' in scope ? scope.channels : scope.uids).length === 0) return;
    // The member rows, from an index probe per channel or per uid (OFFSET 0 keeps the planner from joining whole tables).
    const [rows, params] =
      'channels' in scope
        ? [
            `unnest($1::int[], $2::text[]) AS k(t, i)
             CROSS JOIN LATERAL (SELECT * FROM ${S}.members y WHERE y.channel_type = k.t AND y.channel_id = k.i OFFSET 0) m`,
            [scope.channels.map((c) => c.channelType), scope.channels.map((c) => c.channelId)],
          ]
        : [
            `(SELECT $1::int AS t, $2::text AS i) k CROSS JOIN unnest($3::text[]) AS u(uid)
             CROSS JOIN LATERAL (SELECT * FROM ${S}.members y WHERE y.uid = u.uid AND y.channel_type = k.t AND y.channel_id = k.i OFFSET 0) m`,
            [scope.channel.channelType, scope.channel.channelId, scope.uids],
          ];
    await queryPrepared(
      em,
      `UPDATE ${S}.members t SET sort_version = v.version
         FROM (SELECT m.uid, m.channel_type, m.channel_id, CASE WHEN m.join_version IS NULL THEN NULL ELSE ${CONVERSATION_VERSION} END AS version
                 FROM ${rows} ${CONVERSATION_JOINS}
                WHERE NOT EXISTS (SELECT 1 FROM ${S}.channel_sizes z WHERE z.channel_type = k.t AND z.channel_id = k.i AND z.read_diffused)) v
        WHERE t.uid = v.uid AND t.channel_type = v.channel_type AND t.channel_id = v.channel_id AND t.sort_version IS DISTINCT FROM v.version`,
      params,
    );
  }

  /** Counts a group's active members: its size after the change, and whether the change made it read-diffused. Person channels are never counted. */
  async resize(em: EntityManager, channel: ChannelRef, delta: number): Promise<ChannelSize & { turnedReadDiffused: boolean }> {
    if (isPersonChannel(channel)) return { ...EMPTY_CHANNEL, turnedReadDiffused: false };
    const [row]: { active_members: number; read_diffused: boolean }[] = await queryPrepared(
      em,
      `SELECT active_members, read_diffused FROM ${S}.channel_sizes WHERE channel_type = $1 AND channel_id = $2`,
      [channel.channelType, channel.channelId],
    );
    const current = row ? { activeMembers: row.active_members, readDiffused: row.read_diffused } : EMPTY_CHANNEL;
    const next = resizeChannel(current, delta);
    const turnedReadDiffused = next.readDiffused && !current.readDiffused;
    if (next.activeMembers !== current.activeMembers || turnedReadDiffused) {
      await queryPrepared(
        em,
        `INSERT INTO ${S}.channel_sizes (channel_type, channel_id, active_members, read_diffused) VALUES ($1, $2, $3, $4)
         ON CONFLICT (channel_type, channel_id) DO UPDATE SET active_members = excluded.active_members, read_diffused = excluded.read_diffused`,
        [channel.channelType, channel.channelId, next.activeMembers, next.readDiffused],
      );
    }
    return { ...next, turnedReadDiffused };
  }

  /** A group past the limit: its member rows' versions are computed at read time from now on. */
  async readDiffuse(em: EntityManager, channel: ChannelRef): Promise<void> {
    await queryPrepared(em, `UPDATE ${S}.members SET sort_version = NULL WHERE channel_type = $1 AND channel_id = $2 AND sort_version IS NOT NULL`, [
      channel.channelType,
      channel.channelId,
    ]);
  }
}
