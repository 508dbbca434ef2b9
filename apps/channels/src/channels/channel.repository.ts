import { ChannelAttributes, ChannelState } from '@im/channels-domain';
import { ChannelRef } from '@im/shared-domain';
import { EntityManager } from 'typeorm';

interface ChannelRow {
  channel_type: number;
  channel_id: string;
  status: 'active' | 'deleted';
  attributes: ChannelAttributes;
  version: string;
  created_at: Date;
  updated_at: Date;
}

const toState = (row: ChannelRow | undefined): ChannelState =>
  row
    ? {
        status: row.status,
        channel: { channelId: row.channel_id, channelType: row.channel_type },
        attributes: row.attributes,
        version: Number(row.version),
        createdAt: row.created_at.toISOString(),
        updatedAt: row.updated_at.toISOString(),
      }
    : { status: 'absent' };

/** The channels state table: the aggregate's current state, kept in step with its events. */
export class ChannelRepository {
  /** Loads and row-locks the channel, so concurrent commands on one channel queue up instead of conflicting. */
  async loadForUpdate(em: EntityManager, ref: ChannelRef): Promise<ChannelState> {
    const rows: ChannelRow[] = await em.query('SELECT * FROM channels.channels WHERE channel_type = $1 AND channel_id = $2 FOR UPDATE', [
      ref.channelType,
      ref.channelId,
    ]);
    return toState(rows[0]);
  }

  async find(em: EntityManager, ref: ChannelRef): Promise<ChannelState> {
    const rows: ChannelRow[] = await em.query('SELECT * FROM channels.channels WHERE channel_type = $1 AND channel_id = $2', [ref.channelType, ref.channelId]);
    return toState(rows[0]);
  }

  async save(em: EntityManager, state: ChannelState): Promise<void> {
    if (state.status === 'absent') return;
    await em.query(
      `INSERT INTO channels.channels (channel_type, channel_id, status, attributes, version, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (channel_type, channel_id) DO UPDATE
         SET status = excluded.status, attributes = excluded.attributes, version = excluded.version,
             created_at = CASE WHEN channels.status = 'deleted' AND excluded.status = 'active' THEN excluded.created_at ELSE channels.created_at END,
             updated_at = excluded.updated_at`,
      [state.channel.channelType, state.channel.channelId, state.status, JSON.stringify(state.attributes), state.version, state.createdAt, state.updatedAt],
    );
  }
}
