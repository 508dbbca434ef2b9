import { MembershipEvent } from '@im/subscriptions-domain';
import { ChannelRef } from '@im/shared-domain';
import { EntityManager } from 'typeorm';

/**
 * The membership tables: per channel its membership version, per (channel, uid) the intervals of
 * versions during which the uid was a member. Every write is set-based (arrays + unnest), so a
 * request of 10,000 uids is a handful of statements.
 */
export class MembershipRepository {
  /** Row-locks the channel's membership (creating it at version 0), so writers on one channel queue up. */
  async lockVersion(em: EntityManager, ref: ChannelRef, now: string): Promise<number> {
    await em.query(
      `INSERT INTO subscriptions.channel_memberships (channel_type, channel_id, version, updated_at) VALUES ($1, $2, 0, $3)
       ON CONFLICT DO NOTHING`,
      [ref.channelType, ref.channelId, now],
    );
    const [row] = await em.query('SELECT version FROM subscriptions.channel_memberships WHERE channel_type = $1 AND channel_id = $2 FOR UPDATE', [
      ref.channelType,
      ref.channelId,
    ]);
    return Number(row.version);
  }

  async readVersion(em: EntityManager, ref: ChannelRef): Promise<number> {
    const rows: { version: string }[] = await em.query('SELECT version FROM subscriptions.channel_memberships WHERE channel_type = $1 AND channel_id = $2', [
      ref.channelType,
      ref.channelId,
    ]);
    return rows.length ? Number(rows[0].version) : 0;
  }

  /** Which of `uids` are members now. */
  async currentAmong(em: EntityManager, ref: ChannelRef, uids: string[]): Promise<string[]> {
    if (uids.length === 0) return [];
    const rows: { uid: string }[] = await em.query(
      `SELECT uid FROM subscriptions.member_intervals
       WHERE channel_type = $1 AND channel_id = $2 AND left_version IS NULL AND uid = ANY($3::text[])`,
      [ref.channelType, ref.channelId, uids],
    );
    return rows.map((r) => r.uid);
  }

  async allCurrent(em: EntityManager, ref: ChannelRef): Promise<string[]> {
    const rows: { uid: string }[] = await em.query(
      'SELECT uid FROM subscriptions.member_intervals WHERE channel_type = $1 AND channel_id = $2 AND left_version IS NULL',
      [ref.channelType, ref.channelId],
    );
    return rows.map((r) => r.uid);
  }

  /** Applies decided events: removals close the open interval, additions open a new one, each at its event's version. */
  async apply(em: EntityManager, ref: ChannelRef, events: MembershipEvent[], now: string): Promise<void> {
    if (events.length === 0) return;
    const flatten = (type: MembershipEvent['type']) => {
      const uids: string[] = [];
      const versions: number[] = [];
      for (const e of events.filter((x) => x.type === type)) {
        for (const uid of e.uids) {
          uids.push(uid);
          versions.push(e.membershipVersion);
        }
      }
      return { uids, versions };
    };
    const removed = flatten('subscribers.removed');
    if (removed.uids.length > 0) {
      await em.query(
        `UPDATE subscriptions.member_intervals m SET left_version = x.version
         FROM unnest($3::text[], $4::bigint[]) AS x(uid, version)
         WHERE m.channel_type = $1 AND m.channel_id = $2 AND m.uid = x.uid AND m.left_version IS NULL`,
        [ref.channelType, ref.channelId, removed.uids, removed.versions],
      );
    }
    const added = flatten('subscribers.added');
    if (added.uids.length > 0) {
      await em.query(
        `INSERT INTO subscriptions.member_intervals (channel_type, channel_id, uid, joined_version)
         SELECT $1, $2, x.uid, x.version FROM unnest($3::text[], $4::bigint[]) AS x(uid, version)`,
        [ref.channelType, ref.channelId, added.uids, added.versions],
      );
    }
    await em.query('UPDATE subscriptions.channel_memberships SET version = $3, updated_at = $4 WHERE channel_type = $1 AND channel_id = $2', [
      ref.channelType,
      ref.channelId,
      events[events.length - 1].membershipVersion,
      now,
    ]);
  }

  /** Current members after `after` (exclusive), in uid order. */
  async listCurrent(em: EntityManager, ref: ChannelRef, after: string | undefined, limit: number): Promise<string[]> {
    const rows: { uid: string }[] = await em.query(
      `SELECT uid FROM subscriptions.member_intervals
       WHERE channel_type = $1 AND channel_id = $2 AND left_version IS NULL AND ($3::text IS NULL OR uid > $3::text)
       ORDER BY uid LIMIT $4`,
      [ref.channelType, ref.channelId, after ?? null, limit],
    );
    return rows.map((r) => r.uid);
  }

  /**
   * The members at a past (or the current) membership version, in uid order, one page at a time:
   * those whose interval contains the version (see isMemberAt in shared-domain).
   */
  async membersAt(em: EntityManager, ref: ChannelRef, version: number, after: string | undefined, limit: number): Promise<string[]> {
    const rows: { uid: string }[] = await em.query(
      `SELECT DISTINCT uid FROM subscriptions.member_intervals
       WHERE channel_type = $1 AND channel_id = $2 AND joined_version <= $3 AND (left_version IS NULL OR left_version > $3)
         AND ($4::text IS NULL OR uid > $4::text)
       ORDER BY uid LIMIT $5`,
      [ref.channelType, ref.channelId, version, after ?? null, limit],
    );
    return rows.map((r) => r.uid);
  }
}
