import {
  activeMemberDelta,
  applyMembershipEvent,
  channelStateChanges,
  ConversationInputs,
  ChannelSize,
  EMPTY_CHANNEL,
  Membership,
  MembershipEvent,
  NO_MEMBERSHIP,
  resizeChannel,
} from '@im/conversations-domain';
import { StoredMessageData } from '@im/contracts';
import { queryPrepared } from '@im/persistence';
import { ChannelRef, isPersonChannel, personChannelMembers } from '@im/shared-domain';
import { EntityManager } from 'typeorm';

const S = 'conversations';

export interface ConversationRow extends ConversationInputs {
  channel: ChannelRef;
  version: number;
  updatedAtMs: number;
}

export interface StoredMessageRow {
  channelType: number;
  channelId: string;
  seq: number;
  messageId: string;
  fromUid: string;
  clientMsgNo: string;
  payload: string;
  sentAtMs: number;
  membershipVersion: number;
}

/** Whether the uid receives the head's message: the head counts as a change for it only then. */
const HEAD_RECEIVED = 'h.membership_version >= m.join_version AND (m.left_version IS NULL OR h.membership_version < m.left_version)';

/** A channel deleted or created again while the uid is a member: a change of its conversation. */
const CHANNEL_CHANGED = 's.changed_version IS NOT NULL AND m.left_version IS NULL';

/**
 * A conversation's version (ADR 6, ADR 15): the newest of the uid's own row, its cursors, the head
 * if the uid receives the head's message, and the channel's deletion or re-creation while a member.
 */
const CONVERSATION_VERSION = `GREATEST(m.version, COALESCE(c.version, 0), CASE WHEN ${HEAD_RECEIVED} THEN h.version ELSE 0 END,
                  CASE WHEN ${CHANNEL_CHANGED} THEN s.changed_version ELSE 0 END)`;

/**
 * What a members row `m` is joined with to compute its conversation: one primary-key probe each.
 * Written as LATERAL subqueries with LIMIT (each matches at most one row by its key) so the planner
 * cannot turn them into hash joins over whole tables: the rows a page starts from are few, but their
 * estimate is not (EXPLAIN showed a scan of every channel head for a page of 100).
 */
const CONVERSATION_JOINS = `
    LEFT JOIN LATERAL (SELECT * FROM ${S}.cursors x WHERE x.uid = m.uid AND x.channel_type = m.channel_type AND x.channel_id = m.channel_id LIMIT 1) c ON true
    LEFT JOIN LATERAL (SELECT * FROM ${S}.channel_heads x WHERE x.channel_type = m.channel_type AND x.channel_id = m.channel_id LIMIT 1) h ON true
    LEFT JOIN LATERAL (SELECT * FROM ${S}.channel_states x WHERE x.channel_type = m.channel_type AND x.channel_id = m.channel_id LIMIT 1) s ON true`;

/** Each conversation of the member rows `members` with its version, before the (costlier) floors are resolved. */
const versioned = (members: string) => `
  SELECT m.uid, m.channel_type, m.channel_id, m.join_version, m.left_version, m.own_last_sent_seq,
         COALESCE(c.read_seq, 0) AS read_seq, COALESCE(c.delete_floor_seq, 0) AS delete_floor_seq,
         h.last_seq AS head_seq, COALESCE(s.deleted, false) AS channel_deleted,
         ${CONVERSATION_VERSION} AS version,
         GREATEST(m.updated_at_ms, COALESCE(c.updated_at_ms, 0), CASE WHEN ${HEAD_RECEIVED} THEN h.last_sent_at_ms ELSE 0 END) AS updated_at_ms
    FROM ${members} m ${CONVERSATION_JOINS}
   WHERE m.join_version IS NOT NULL`;

/**
 * The member rows of uid $1 that can hold its next conversations in `order`: the first `limit` of the
 * written versions within `bound` (index members_order_idx), and every row whose version is computed
 * at read time (channels past the write-diffusion limit, usually a few large groups; index
 * members_read_diffused_idx). The page is the first `limit` of these by computed version: written
 * versions equal computed ones, so nothing outside can come first.
 */
const candidates = (bound: (column: string) => string, order: 'ASC' | 'DESC', limit = '$3') => `(
    (SELECT * FROM ${S}.members WHERE uid = $1 AND sort_version IS NOT NULL AND ${bound('sort_version')}
      ORDER BY sort_version ${order} LIMIT ${limit})
    UNION ALL
    (SELECT * FROM ${S}.members WHERE uid = $1 AND sort_version IS NULL AND join_version IS NOT NULL))`;

/** The highest seq stamped below a membership version (seqs and versions grow together, so one index probe). */
const seqBelow = (version: string) => `COALESCE((
    SELECT x.seq FROM ${S}.channel_messages x
     WHERE x.channel_type = v.channel_type AND x.channel_id = v.channel_id AND x.membership_version < ${version}
     ORDER BY x.membership_version DESC, x.seq DESC LIMIT 1), 0)`;

const WITH_FLOORS = `
  SELECT v.*, ${seqBelow('v.join_version')} AS join_floor,
         CASE WHEN v.left_version IS NULL THEN COALESCE(v.head_seq, 0) ELSE ${seqBelow('v.left_version')} END AS ceiling`;

interface RawRow {
  channel_type: number;
  channel_id: string;
  join_version: string | null;
  left_version: string | null;
  own_last_sent_seq: string;
  read_seq: string;
  delete_floor_seq: string;
  version: string;
  updated_at_ms: string;
  join_floor: string;
  ceiling: string;
  channel_deleted: boolean;
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

const num = (v: string | number | null | undefined) => (v === null || v === undefined ? 0 : Number(v));

const toRow = (r: RawRow): ConversationRow => ({
  channel: { channelType: r.channel_type, channelId: r.channel_id },
  joinVersion: r.join_version === null ? null : Number(r.join_version),
  leftVersion: r.left_version === null ? null : Number(r.left_version),
  joinFloor: num(r.join_floor),
  ceiling: num(r.ceiling),
  readSeq: num(r.read_seq),
  deleteFloor: num(r.delete_floor_seq),
  ownLastSentSeq: num(r.own_last_sent_seq),
  channelDeleted: r.channel_deleted,
  version: num(r.version),
  updatedAtMs: num(r.updated_at_ms),
});

/**
 * SQL of the conversations read model. Every write is an idempotent, guarded upsert. The projection's
 * writes (applyMessages, applyMembership, applyChannelState) run under the locks of their channels,
 * which the projection takes for a whole slice first (lockChannels); a uid's own cursor moves take
 * theirs.
 */
export class ConversationRepository {
  // ---------------------------------------------------------------- projection writes

  /**
   * message.stored, a batch at a time (one partition, in seq order per channel), each with the
   * version of its event: one message row and one head move per message, whatever the channel's
   * size, written with set-based statements.
   */
  async applyMessages(em: EntityManager, versioned: { message: StoredMessageData; version: number }[]): Promise<void> {
    if (versioned.length === 0) return;
    const batch = versioned.map((v) => v.message);
    const inserted: { channel_type: number; channel_id: string; seq: string }[] = await queryPrepared(em,
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
    await queryPrepared(em,
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
    await queryPrepared(em,
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
    await this.writeVersions(em, { channels: headList.map((h) => h.message.channel) });
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
    const others = reset && event.type === 'subscribers.added' ? 'OR (join_version IS NOT NULL AND left_version IS NULL)' : '';
    // Planned per call (em.query): a generic plan of `uid = ANY($3)` scans the whole channel, 100,000 rows in a large group.
    const rows: { uid: string; join_version: string | null; left_version: string | null; applied_version: string }[] = await em.query(
      `SELECT uid, join_version, left_version, applied_version FROM ${S}.members
        WHERE channel_type = $1 AND channel_id = $2 AND (uid = ANY($3::text[]) ${others}) ORDER BY uid FOR UPDATE`,
      [channel.channelType, channel.channelId, unique],
    );
    const current = new Map<string, Membership>(
      rows.map((r) => [
        r.uid,
        { joinVersion: r.join_version === null ? null : Number(r.join_version), leftVersion: r.left_version === null ? null : Number(r.left_version), appliedVersion: Number(r.applied_version) },
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
    await queryPrepared(em,
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
    const size = await this.resize(em, channel, activeMemberDelta(changed.map((c) => ({ before: c.before, after: c.next }))));
    if (size.turnedReadDiffused) await this.readDiffuse(em, channel);
    else if (!size.readDiffused) await this.writeVersions(em, { channel, uids: changed.map((c) => c.uid) });
  }

  /**
   * channel.deleted, or channel.created after a deletion: one row for the channel, a change of
   * every member's conversation at once (see channelStateChanges).
   */
  async applyChannelState(em: EntityManager, version: number, channel: ChannelRef, channelVersion: number, deleted: boolean): Promise<void> {
    const [row]: { deleted: boolean; channel_version: string }[] = await queryPrepared(em,
      `SELECT deleted, channel_version FROM ${S}.channel_states WHERE channel_type = $1 AND channel_id = $2 FOR UPDATE`,
      [channel.channelType, channel.channelId],
    );
    const current = row && { deleted: row.deleted, channelVersion: Number(row.channel_version) };
    if (!channelStateChanges(current, { deleted, channelVersion })) return;
    await queryPrepared(em,
      `INSERT INTO ${S}.channel_states (channel_type, channel_id, channel_version, deleted, changed_version) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (channel_type, channel_id) DO UPDATE
         SET channel_version = excluded.channel_version, deleted = excluded.deleted, changed_version = excluded.changed_version
       WHERE channel_states.channel_version < excluded.channel_version`,
      [channel.channelType, channel.channelId, channelVersion, deleted, version],
    );
    await this.writeVersions(em, { channels: [channel] });
  }

  // ---------------------------------------------------------------- write diffusion (ADR 18)

  /**
   * Takes the channels' transaction locks, in one order (so two writers never wait on each other in
   * a cycle). Every input of a member row's version (its row, its cursors, the channel's head, state
   * and size) is written under its channel's lock, so the version written with a change is computed
   * from everything committed before it: concurrent partitions and commands cannot leave it stale.
   */
  async lockChannels(em: EntityManager, channels: ChannelRef[]): Promise<void> {
    if (channels.length === 0) return;
    await queryPrepared(em,
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
  private async writeVersions(em: EntityManager, scope: { channels: ChannelRef[] } | { channel: ChannelRef; uids: string[] }): Promise<void> {
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
  private async resize(em: EntityManager, channel: ChannelRef, delta: number): Promise<ChannelSize & { turnedReadDiffused: boolean }> {
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
  private async readDiffuse(em: EntityManager, channel: ChannelRef): Promise<void> {
    await queryPrepared(em, `UPDATE ${S}.members SET sort_version = NULL WHERE channel_type = $1 AND channel_id = $2 AND sort_version IS NOT NULL`, [
      channel.channelType,
      channel.channelId,
    ]);
  }

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
    await this.lockChannels(em, [channel]);
    await queryPrepared(em,
      `INSERT INTO ${S}.cursors (uid, channel_type, channel_id, ${column}, version, updated_at_ms) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (uid, channel_type, channel_id) DO UPDATE
         SET ${column} = excluded.${column}, version = excluded.version, updated_at_ms = excluded.updated_at_ms
       WHERE cursors.${column} < excluded.${column}`,
      [uid, channel.channelType, channel.channelId, seq, version, nowMs],
    );
    await this.writeVersions(em, { channel, uids: [uid] });
  }

  // ---------------------------------------------------------------- reads

  async findOne(em: EntityManager, uid: string, channel: ChannelRef): Promise<ConversationRow | undefined> {
    const rows: RawRow[] = await queryPrepared(em,
      `${WITH_FLOORS} FROM (${versioned(`${S}.members`)} AND m.uid = $1 AND m.channel_type = $2 AND m.channel_id = $3) v`,
      [uid, channel.channelType, channel.channelId],
    );
    return rows[0] ? toRow(rows[0]) : undefined;
  }

  /** Conversations changed after `sinceVersion`, oldest change first. */
  async changedSince(em: EntityManager, uid: string, sinceVersion: number, limit: number): Promise<ConversationRow[]> {
    const after = (column: string) => `${column} > $2`;
    const rows: RawRow[] = await queryPrepared(em,
      `${WITH_FLOORS} FROM (${versioned(candidates(after, 'ASC'))}) v WHERE ${after('v.version')} ORDER BY v.version ASC LIMIT $3`,
      [uid, sinceVersion, limit],
    );
    return rows.map(toRow);
  }

  /** Conversations whose version is below `beforeVersion` (0: no bound), newest change first. */
  async newestFirst(em: EntityManager, uid: string, beforeVersion: number, limit: number): Promise<ConversationRow[]> {
    const before = (column: string) => `($2::bigint = 0 OR ${column} < $2::bigint)`;
    const rows: RawRow[] = await queryPrepared(em,
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
    const [row] = await queryPrepared(em,
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
    const [row] = await queryPrepared<{ version: string }>(em,
      `SELECT COALESCE(max(v.version), 0) AS version FROM (${versioned(candidates(() => 'true', 'DESC', '1'))}) v`,
      [uid],
    );
    return num(row?.version);
  }

  /** The newest `count` messages of each channel in (from, to], newest last. */
  async recents(
    em: EntityManager,
    ranges: { channel: ChannelRef; from: number; to: number }[],
    count: number,
  ): Promise<Map<string, StoredMessageRow[]>> {
    const result = new Map<string, StoredMessageRow[]>();
    if (count === 0 || ranges.length === 0) return result;
    const rows: Record<string, string | number>[] = await queryPrepared(em,
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
