import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Write diffusion for small channels (ADR 18): each member row of a person channel or of a group
 * with at most 32 active members carries its conversation version (`sort_version`), indexed per uid,
 * so a sync reads a page from the index instead of computing every conversation's version.
 * `channel_sizes` counts each group's active members and marks those past the limit, whose member
 * rows keep `sort_version` NULL (computed at read time, as before). Existing rows are filled here
 * with the version the sync query computed for them, so nothing a client holds changes.
 */
export class ConversationsWriteDiffusedOrder1767225600253 implements MigrationInterface {
  name = 'ConversationsWriteDiffusedOrder1767225600253';

  async up(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE conversations.members ADD COLUMN sort_version bigint');
    await q.query(`CREATE TABLE conversations.channel_sizes (
      channel_type   int     NOT NULL,
      channel_id     text    NOT NULL,
      active_members int     NOT NULL,
      read_diffused  boolean NOT NULL,
      PRIMARY KEY (channel_type, channel_id)
    )`);
    await q.query(`INSERT INTO conversations.channel_sizes (channel_type, channel_id, active_members, read_diffused)
      SELECT channel_type, channel_id, n, n > 32
        FROM (SELECT channel_type, channel_id, count(*) FILTER (WHERE join_version IS NOT NULL AND left_version IS NULL)::int AS n
                FROM conversations.members WHERE channel_type <> 1 GROUP BY channel_type, channel_id) counted`);
    await q.query(`UPDATE conversations.members t SET sort_version = v.version
      FROM (SELECT m.uid, m.channel_type, m.channel_id,
                   GREATEST(m.version, COALESCE(c.version, 0),
                            CASE WHEN h.membership_version >= m.join_version AND (m.left_version IS NULL OR h.membership_version < m.left_version) THEN h.version ELSE 0 END,
                            CASE WHEN s.changed_version IS NOT NULL AND m.left_version IS NULL THEN s.changed_version ELSE 0 END) AS version
              FROM conversations.members m
              LEFT JOIN conversations.cursors c ON c.uid = m.uid AND c.channel_type = m.channel_type AND c.channel_id = m.channel_id
              LEFT JOIN conversations.channel_heads h ON h.channel_type = m.channel_type AND h.channel_id = m.channel_id
              LEFT JOIN conversations.channel_states s ON s.channel_type = m.channel_type AND s.channel_id = m.channel_id
              LEFT JOIN conversations.channel_sizes z ON z.channel_type = m.channel_type AND z.channel_id = m.channel_id
             WHERE m.join_version IS NOT NULL AND NOT COALESCE(z.read_diffused, false)) v
     WHERE t.uid = v.uid AND t.channel_type = v.channel_type AND t.channel_id = v.channel_id`);
    await q.query('CREATE INDEX members_order_idx ON conversations.members (uid, sort_version) WHERE sort_version IS NOT NULL');
    await q.query('CREATE INDEX members_read_diffused_idx ON conversations.members (uid) WHERE sort_version IS NULL AND join_version IS NOT NULL');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP INDEX conversations.members_read_diffused_idx');
    await q.query('DROP INDEX conversations.members_order_idx');
    await q.query('DROP TABLE conversations.channel_sizes');
    await q.query('ALTER TABLE conversations.members DROP COLUMN sort_version');
  }
}
