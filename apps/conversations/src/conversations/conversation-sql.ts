import { ConversationInputs } from '@im/conversations-domain';
import { ChannelRef } from '@im/shared-domain';

/** The conversations read model's SQL, shared by its writes and reads so both compute a version one way. */
export const S = 'conversations';

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
export const CONVERSATION_VERSION = `GREATEST(m.version, COALESCE(c.version, 0), CASE WHEN ${HEAD_RECEIVED} THEN h.version ELSE 0 END,
                  CASE WHEN ${CHANNEL_CHANGED} THEN s.changed_version ELSE 0 END)`;

/**
 * What a members row `m` is joined with to compute its conversation: one primary-key probe each.
 * Written as LATERAL subqueries with LIMIT (each matches at most one row by its key) so the planner
 * cannot turn them into hash joins over whole tables: the rows a page starts from are few, but their
 * estimate is not (EXPLAIN showed a scan of every channel head for a page of 100).
 */
export const CONVERSATION_JOINS = `
    LEFT JOIN LATERAL (SELECT * FROM ${S}.cursors x WHERE x.uid = m.uid AND x.channel_type = m.channel_type AND x.channel_id = m.channel_id LIMIT 1) c ON true
    LEFT JOIN LATERAL (SELECT * FROM ${S}.channel_heads x WHERE x.channel_type = m.channel_type AND x.channel_id = m.channel_id LIMIT 1) h ON true
    LEFT JOIN LATERAL (SELECT * FROM ${S}.channel_states x WHERE x.channel_type = m.channel_type AND x.channel_id = m.channel_id LIMIT 1) s ON true`;

/** Each conversation of the member rows `members` with its version, before the (costlier) floors are resolved. */
export const versioned = (members: string) => `
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
export const candidates = (bound: (column: string) => string, order: 'ASC' | 'DESC', limit = '$3') => `(
    (SELECT * FROM ${S}.members WHERE uid = $1 AND sort_version IS NOT NULL AND ${bound('sort_version')}
      ORDER BY sort_version ${order} LIMIT ${limit})
    UNION ALL
    (SELECT * FROM ${S}.members WHERE uid = $1 AND sort_version IS NULL AND join_version IS NOT NULL))`;

/** The highest seq stamped below a membership version (seqs and versions grow together, so one index probe). */
const seqBelow = (version: string) => `COALESCE((
    SELECT x.seq FROM ${S}.channel_messages x
     WHERE x.channel_type = v.channel_type AND x.channel_id = v.channel_id AND x.membership_version < ${version}
     ORDER BY x.membership_version DESC, x.seq DESC LIMIT 1), 0)`;

export const WITH_FLOORS = `
  SELECT v.*, ${seqBelow('v.join_version')} AS join_floor,
         CASE WHEN v.left_version IS NULL THEN COALESCE(v.head_seq, 0) ELSE ${seqBelow('v.left_version')} END AS ceiling`;

export interface RawRow {
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

export const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

export const num = (v: string | number | null | undefined) => (v === null || v === undefined ? 0 : Number(v));

export const toRow = (r: RawRow): ConversationRow => ({
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
