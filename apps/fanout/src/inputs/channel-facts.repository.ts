import { ChannelEventData } from '@im/contracts';
import { ChannelFacts } from '@im/fanout-domain';
import { ChannelRef } from '@im/shared-domain';
import { EntityManager } from 'typeorm';

export interface ChannelFact {
  type: 'channel.created' | 'channel.updated' | 'channel.deleted';
  data: ChannelEventData;
}

/** What the fanout knows of each channel from im.channels.events.v1. */
export class ChannelFactsRepository {
  async find(em: EntityManager, channel: ChannelRef): Promise<ChannelFacts> {
    const rows: { deleted: boolean; ban: boolean; send_ban: boolean; disband: boolean }[] = await em.query(
      `SELECT deleted, ban, send_ban, disband FROM fanout.channels WHERE channel_type = $1 AND channel_id = $2`,
      [channel.channelType, channel.channelId],
    );
    const row = rows[0];
    return row
      ? { exists: !row.deleted, ban: row.ban, sendBan: row.send_ban, disband: row.disband }
      : { exists: false, ban: false, sendBan: false, disband: false };
  }

  /** Upserts the newest fact per channel; older versions (redelivery, replay) never overwrite newer ones. */
  async apply(em: EntityManager, facts: ChannelFact[]): Promise<void> {
    const newest = new Map<string, ChannelFact>();
    for (const f of facts) {
      const key = `${f.data.channel.channelType}:${f.data.channel.channelId}`;
      const seen = newest.get(key);
      if (!seen || seen.data.version < f.data.version) newest.set(key, f);
    }
    if (newest.size === 0) return;
    const list = [...newest.values()];
    await em.query(
      `INSERT INTO fanout.channels (channel_type, channel_id, deleted, ban, send_ban, disband, version)
       SELECT * FROM unnest($1::int[], $2::text[], $3::boolean[], $4::boolean[], $5::boolean[], $6::boolean[], $7::bigint[])
       ON CONFLICT (channel_type, channel_id) DO UPDATE
         SET deleted = excluded.deleted, ban = excluded.ban, send_ban = excluded.send_ban, disband = excluded.disband, version = excluded.version
       WHERE channels.version < excluded.version`,
      [
        list.map((f) => f.data.channel.channelType),
        list.map((f) => f.data.channel.channelId),
        list.map((f) => f.type === 'channel.deleted'),
        list.map((f) => f.data.attributes.ban),
        list.map((f) => f.data.attributes.sendBan),
        list.map((f) => f.data.attributes.disband),
        list.map((f) => f.data.version),
      ],
    );
  }
}
