import { MembershipSnapshot } from '@im/fanout-domain';
import { ChannelRef, channelKey, MembershipInterval } from '@im/shared-domain';
import { EntityManager } from 'typeorm';

/**
 * The one place that reads and writes channel membership (fanout.memberships and the membership
 * version of fanout.channel_heads). Membership is stored as stretches [join_version, left_version),
 * so "who was a member at version v" has one answer forever. Person channels have no rows: their
 * members are the two people of the canonical id.
 */
export class MembershipRepository {
  /** Current members of a group channel. */
  async currentMembers(em: EntityManager, channel: ChannelRef): Promise<string[]> {
    const rows: { uid: string }[] = await em.query(
      `SELECT uid FROM fanout.memberships WHERE channel_type = $1 AND channel_id = $2 AND left_version IS NULL ORDER BY uid`,
      [channel.channelType, channel.channelId],
    );
    return rows.map((r) => r.uid);
  }

  /**
   * Each channel's membership as one snapshot: every uid's stretches and the membership version
   * they reflect (version 0 and no stretches for a channel not seen yet). One statement for all the
   * channels, so the version and the stretches of each agree (the projection moves both in one
   * transaction). Keyed by `channelKey`.
   */
  async snapshots(em: EntityManager, channels: readonly ChannelRef[]): Promise<Map<string, MembershipSnapshot>> {
    const result = new Map<string, MembershipSnapshot>();
    if (channels.length === 0) return result;
    const rows: { channel_type: number; channel_id: string; version: string; uid: string | null; join_version: string | null; left_version: string | null }[] =
      await em.query(
        `SELECT c.channel_type, c.channel_id, coalesce(h.membership_version, 0) AS version, m.uid, m.join_version, m.left_version
           FROM unnest($1::int[], $2::text[]) AS c(channel_type, channel_id)
           LEFT JOIN fanout.channel_heads h ON h.channel_type = c.channel_type AND h.channel_id = c.channel_id
           LEFT JOIN fanout.memberships m ON m.channel_type = c.channel_type AND m.channel_id = c.channel_id`,
        [channels.map((c) => c.channelType), channels.map((c) => c.channelId)],
      );
    const intervalsOf = new Map<string, Map<string, MembershipInterval[]>>();
    for (const r of rows) {
      const key = channelKey({ channelType: r.channel_type, channelId: r.channel_id });
      let intervals = intervalsOf.get(key);
      if (!intervals) {
        intervalsOf.set(key, (intervals = new Map()));
        result.set(key, { version: Number(r.version), intervals });
      }
      if (r.uid === null) continue;
      const stretch = { joinVersion: Number(r.join_version), leftVersion: r.left_version === null ? null : Number(r.left_version) };
      const stretches = intervals.get(r.uid);
      if (stretches) stretches.push(stretch);
      else intervals.set(r.uid, [stretch]);
    }
    return result;
  }

  /** The version the uid's current membership began at, or null when it is not a member now. */
  async currentJoinVersion(em: EntityManager, channel: ChannelRef, uid: string): Promise<number | null> {
    const rows: { join_version: string }[] = await em.query(
      `SELECT join_version FROM fanout.memberships WHERE channel_type = $1 AND channel_id = $2 AND uid = $3 AND left_version IS NULL`,
      [channel.channelType, channel.channelId, uid],
    );
    return rows.length ? Number(rows[0].join_version) : null;
  }

  /**
   * Applies one membership event if its version is newer than the channel's applied version.
   * Moving the version happens on the channel head row, which a send locks too: a send sees either
   * the membership before the event or after it, never half of it.
   */
  async apply(em: EntityManager, change: { kind: 'added' | 'removed'; channel: ChannelRef; uids: string[]; membershipVersion: number }): Promise<boolean> {
    const { channel, membershipVersion: v } = change;
    const moved: unknown[] = await em.query(
      `INSERT INTO fanout.channel_heads (channel_type, channel_id, membership_version) VALUES ($1, $2, $3)
       ON CONFLICT (channel_type, channel_id) DO UPDATE SET membership_version = excluded.membership_version
        WHERE channel_heads.membership_version < excluded.membership_version
       RETURNING 1`,
      [channel.channelType, channel.channelId, v],
    );
    if (moved.length === 0) return false;
    if (change.kind === 'added') {
      // Already-current members keep their stretch (the partial unique index makes this a no-op).
      await em.query(
        `INSERT INTO fanout.memberships (channel_type, channel_id, uid, join_version)
         SELECT $1, $2, u, $3 FROM unnest($4::text[]) AS u ON CONFLICT DO NOTHING`,
        [channel.channelType, channel.channelId, v, change.uids],
      );
    } else {
      await em.query(
        `UPDATE fanout.memberships SET left_version = $3
          WHERE channel_type = $1 AND channel_id = $2 AND uid = ANY($4::text[]) AND left_version IS NULL`,
        [channel.channelType, channel.channelId, v, change.uids],
      );
    }
    return true;
  }
}
