import { queryPrepared } from '@im/persistence';
import { ChannelRef } from '@im/shared-domain';
import { EntityManager } from 'typeorm';
import { candidates, ConversationRow, num, RawRow, S, StoredMessageRow, toRow, versioned, WITH_FLOORS } from './conversation-sql';
import { ConversationVersions } from './conversation-versions';

export type { ConversationRow, StoredMessageRow } from './conversation-sql';

/** A uid's conversations: its own cursor moves (MarkRead, DeleteConversation) and every read of sync. */
export class ConversationRepository {
  constructor(private readonly versions = new ConversationVersions()) {}

  // ---------------------------------------------------------------- the uid's own cursors

  async moveDeleteFloor(em: EntityManager, uid: string, channel: ChannelRef, floor: number, version: number, nowMs: number): Promise<void> {
    await this.moveCursor(em, 'delete_floor_seq', uid, channel, floor, version, nowMs);
  }

  async moveReadSeq(em: EntityManager, uid: string, channel: ChannelRef, readSeq: number, version: number, nowMs: number): Promise<void> {
    await this.moveCursor(em, 'read_seq', uid, channel, readSeq, version, nowMs);
  }

  /** Moves one of the uid's cursors forward only; a stale or repeated move changes nothing. */
  private async moveCursor(
    em: EntityManager,
    column: 'read_seq' | 'delete_floor_seq',
    uid: string,
    channel: ChannelRef,
    seq: number,
    version: number,
    nowMs: number,
  ): Promise<void> {
    await this.versions.lockChannels(em, [channel]);
    await queryPrepared(
      em,
      `INSERT INTO ${S}.cursors (uid, channel_type, channel_id, ${column}, version, updated_at_ms) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (uid, channel_type, channel_id) DO UPDATE
         SET ${column} = excluded.${column}, version = excluded.version, updated_at_ms = excluded.updated_at_ms
       WHERE cursors.${column} < excluded.${column}`,
      [uid, channel.channelType, channel.channelId, seq, version, nowMs],
    );
    await this.versions.write(em, { channel, uids: [uid] });
  }

  // ---------------------------------------------------------------- reads

  async findOne(em: EntityManager, uid: string, channel: ChannelRef): Promise<ConversationRow | undefined> {
    const rows: RawRow[] = await queryPrepared(
      em,
      `${WITH_FLOORS} FROM (${versioned(`${S}.members`)} AND m.uid = $1 AND m.channel_type = $2 AND m.channel_id = $3) v`,
      [uid, channel.channelType, channel.channelId],
    );
    return rows[0] ? toRow(rows[0]) : undefined;
  }

  /** Conversations changed after `sinceVersion`, oldest change first. */
  async changedSince(em: EntityManager, uid: string, sinceVersion: number, limit: number): Promise<ConversationRow[]> {
    const after = (column: string) => `${column} > $2`;
    const rows: RawRow[] = await queryPrepared(
      em,
      `${WITH_FLOORS} FROM (${versioned(candidates(after, 'ASC'))}) v WHERE ${after('v.version')} ORDER BY v.version ASC LIMIT $3`,
      [uid, sinceVersion, limit],
    );
    return rows.map(toRow);
  }

  /** Conversations whose version is below `beforeVersion` (0: no bound), newest change first. */
  async newestFirst(em: EntityManager, uid: string, beforeVersion: number, limit: number): Promise<ConversationRow[]> {
    const before = (column: string) => `($2::bigint = 0 OR ${column} < $2::bigint)`;
    const rows: RawRow[] = await queryPrepared(
      em,
      `${WITH_FLOORS} FROM (${versioned(candidates(before, 'DESC'))}) v WHERE ${before('v.version')} ORDER BY v.version DESC LIMIT $3`,
      [uid, beforeVersion, limit],
    );
    return rows.map(toRow);
  }

  /**
   * The lowest transaction id that may still commit a conversation version this transaction's
   * snapshot cannot see (ADR 15): the oldest transaction in flight at the snapshot, leaving out those
   * known to belong to other applications (other services sharing the database, tools), which
   * never write versions. One whose owner is unknown (it ended meanwhile, or its session is hidden
   * from this role) counts. Nothing in flight: the snapshot's xmax.
   */
  async oldestWriterInFlight(em: EntityManager): Promise<number> {
    const [row] = await queryPrepared(
      em,
      `SELECT COALESCE((
                SELECT min(x::text::bigint) FROM pg_snapshot_xip(s) x
                 WHERE NOT EXISTS (SELECT 1 FROM pg_stat_activity a
                                    WHERE a.backend_xid::text::bigint = x::text::bigint % 4294967296
                                      AND a.application_name IS DISTINCT FROM current_setting('application_name'))),
              pg_snapshot_xmax(s)::text::bigint)::text AS xid
         FROM pg_current_snapshot() s`,
    );
    return Number(row.xid);
  }

  /** Resolves once the transaction has ended, or at the deadline. */
  async awaitTransaction(em: EntityManager, xid: number, deadline: number): Promise<void> {
    while (Date.now() < deadline) {
      const [row] = await queryPrepared(em, 'SELECT pg_xact_status($1::text::xid8) AS status', [String(xid)]);
      if (row.status !== 'in progress') return;
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  }

  /** The uid's current conversation version: where an incremental sync starts after a full one. */
  async currentVersion(em: EntityManager, uid: string): Promise<number> {
    const [row] = await queryPrepared<{ version: string }>(
      em,
      `SELECT COALESCE(max(v.version), 0) AS version FROM (${versioned(candidates(() => 'true', 'DESC', '1'))}) v`,
      [uid],
    );
    return num(row?.version);
  }

  /** The newest `count` messages of each channel in (from, to], newest last. */
  async recents(em: EntityManager, ranges: { channel: ChannelRef; from: number; to: number }[], count: number): Promise<Map<string, StoredMessageRow[]>> {
    const result = new Map<string, StoredMessageRow[]>();
    if (count === 0 || ranges.length === 0) return result;
    const rows: Record<string, string | number>[] = await queryPrepared(
      em,
      `SELECT x.* FROM unnest($1::int[], $2::text[], $3::bigint[], $4::bigint[]) AS r(channel_type, channel_id, from_seq, to_seq)
       CROSS JOIN LATERAL (
         SELECT * FROM ${S}.channel_messages m
          WHERE m.channel_type = r.channel_type AND m.channel_id = r.channel_id AND m.seq > r.from_seq AND m.seq <= r.to_seq
          ORDER BY m.seq DESC LIMIT $5) x`,
      [ranges.map((r) => r.channel.channelType), ranges.map((r) => r.channel.channelId), ranges.map((r) => r.from), ranges.map((r) => r.to), count],
    );
    for (const r of rows) {
      const key = `${r.channel_type}:${r.channel_id}`;
      const list = result.get(key) ?? [];
      list.push({
        channelType: Number(r.channel_type),
        channelId: String(r.channel_id),
        seq: Number(r.seq),
        messageId: String(r.message_id),
        fromUid: String(r.from_uid),
        clientMsgNo: String(r.client_msg_no),
        payload: String(r.payload),
        sentAtMs: Number(r.sent_at_ms),
        membershipVersion: Number(r.membership_version),
      });
      result.set(key, list);
    }
    for (const list of result.values()) list.sort((a, b) => a.seq - b.seq);
    return result;
  }
}
