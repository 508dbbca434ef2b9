import { ChannelEventData } from '@im/contracts';
import { ChannelRef } from '@im/shared-domain';
import { EntityManager } from 'typeorm';

export interface ChannelFact {
  channel: ChannelRef;
  status: 'active' | 'deleted';
  version: number;
  occurredAt: string;
}

export const toChannelFact = (type: string, data: ChannelEventData, occurredAt: string): ChannelFact => ({
  channel: data.channel,
  status: type === 'channel.deleted' ? 'deleted' : 'active',
  version: data.version,
  occurredAt,
});

/** Which channels are live, as seen on im.channels.events.v1. */
export class ChannelDirectoryRepository {
  async isLive(em: EntityManager, ref: ChannelRef): Promise<boolean> {
    const rows = await em.query(`SELECT 1 FROM subscriptions.channels WHERE channel_type = $1 AND channel_id = $2 AND status = 'active'`, [
      ref.channelType,
      ref.channelId,
    ]);
    return rows.length > 0;
  }

  /**
   * Idempotent upsert guarded by the channel version: redelivered or replayed events never move a
   * channel back, and a channel created again after a delete (a higher version) is live again.
   */
  async apply(em: EntityManager, facts: ChannelFact[]): Promise<void> {
    // One row per channel per statement (ON CONFLICT cannot touch a row twice): keep the newest.
    const latest = new Map<string, ChannelFact>();
    for (const f of facts) {
      const key = `${f.channel.channelType}:${f.channel.channelId}`;
      const seen = latest.get(key);
      if (!seen || seen.version < f.version) latest.set(key, f);
    }
    const rows = [...latest.values()];
    if (rows.length === 0) return;
    await em.query(
      `INSERT INTO subscriptions.channels AS c (channel_type, channel_id, status, version, updated_at)
       SELECT * FROM unnest($1::int[], $2::text[], $3::text[], $4::bigint[], $5::timestamptz[])
       ON CONFLICT (channel_type, channel_id) DO UPDATE
         SET status = excluded.status, version = excluded.version, updated_at = excluded.updated_at
         WHERE c.version < excluded.version`,
      [
        rows.map((r) => r.channel.channelType),
        rows.map((r) => r.channel.channelId),
        rows.map((r) => r.status),
        rows.map((r) => r.version),
        rows.map((r) => r.occurredAt),
      ],
    );
  }
}
