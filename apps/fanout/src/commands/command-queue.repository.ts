import { TOPICS } from '@im/contracts';
import { CommandToQueue } from '@im/fanout-domain';
import { EventStore } from '@im/persistence';
import { ChannelRef, channelKey } from '@im/shared-domain';
import { EntityManager } from 'typeorm';

export interface QueuedCommand {
  uid: string;
  cmdSeq: number;
  type: string;
  channel: ChannelRef;
  version: number;
  payload: Buffer;
  createdAt: Date;
}

interface QueueRow {
  uid: string;
  cmd_seq: string;
  type: string;
  channel_type: number;
  channel_id: string;
  version: string;
  payload: Buffer;
  created_at: Date;
}

const toQueued = (r: QueueRow): QueuedCommand => ({
  uid: r.uid,
  cmdSeq: Number(r.cmd_seq),
  type: r.type,
  channel: { channelId: r.channel_id, channelType: r.channel_type },
  version: Number(r.version),
  payload: r.payload,
  createdAt: r.created_at,
});

/** Stream id of a uid's command queue in the events table: (stream, version = cmd_seq) is unique, so seqs can never repeat. */
const queueStream = (uid: string) => `cmd:${uid}`;

/**
 * The per-uid command queues. Writing a command is write diffusion: one row and one `cmd.stored`
 * event per recipient, in the caller's transaction, so the outbox publishes them after commit.
 */
export class CommandQueueRepository {
  private readonly store = new EventStore('fanout');

  /**
   * Queues `command` for `uids` once per `sourceId`: a second call with the same source (redelivery,
   * replay, a retried request) queues nothing and returns false.
   */
  async enqueue(em: EntityManager, sourceId: string, command: CommandToQueue, uids: string[], now: Date): Promise<boolean> {
    const claimed = await em.query('INSERT INTO fanout.cmd_sources (source_id, recipients) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING source_id', [
      sourceId,
      uids.length,
    ]);
    if (claimed.length === 0) return false;
    if (uids.length === 0) return true;
    const sorted = [...new Set(uids)].sort();
    await em.query('INSERT INTO fanout.cmd_cursors (uid) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING', [sorted]);
    // Lock cursors in uid order (no deadlock between two fan-outs sharing recipients), then take
    // each uid's next seq. (A SELECT around the UPDATE: TypeORM returns [rows, count] for a bare one.)
    const seqs: { uid: string; cmd_seq: string }[] = await em.query(
      `WITH locked AS (SELECT uid FROM fanout.cmd_cursors WHERE uid = ANY($1::text[]) ORDER BY uid FOR UPDATE),
            bumped AS (UPDATE fanout.cmd_cursors c SET last_seq = c.last_seq + 1, updated_at = now()
                       FROM locked WHERE c.uid = locked.uid
                       RETURNING c.uid, c.last_seq AS cmd_seq)
       SELECT uid, cmd_seq FROM bumped`,
      [sorted],
    );
    const payload = Buffer.from(command.payload);
    await em.query(
      `INSERT INTO fanout.cmd_queue (uid, cmd_seq, type, channel_type, channel_id, version, payload, source_id, created_at)
       SELECT u, s, $3, $4, $5, $6, $7, $8, $9 FROM unnest($1::text[], $2::bigint[]) AS t(u, s)`,
      [
        seqs.map((s) => s.uid),
        seqs.map((s) => s.cmd_seq),
        command.type,
        command.channel.channelType,
        command.channel.channelId,
        command.version,
        payload,
        sourceId,
        now.toISOString(),
      ],
    );
    const key = channelKey(command.channel);
    await this.store.append(
      em,
      seqs.map((s) => ({
        streamId: queueStream(s.uid),
        version: Number(s.cmd_seq),
        type: 'cmd.stored',
        data: {
          uid: s.uid,
          cmdSeq: Number(s.cmd_seq),
          type: command.type,
          channel: command.channel,
          version: command.version,
          payload: payload.toString('base64'),
          createdAtMs: now.getTime(),
        },
        topic: TOPICS.fanoutEvents,
        key,
        occurredAt: now.toISOString(),
      })),
    );
    return true;
  }

  async cursor(em: EntityManager, uid: string, lock = false): Promise<{ lastSeq: number; ackedSeq: number }> {
    const rows = await em.query(`SELECT last_seq, acked_seq FROM fanout.cmd_cursors WHERE uid = $1${lock ? ' FOR UPDATE' : ''}`, [uid]);
    return rows.length ? { lastSeq: Number(rows[0].last_seq), ackedSeq: Number(rows[0].acked_seq) } : { lastSeq: 0, ackedSeq: 0 };
  }

  async setAcked(em: EntityManager, uid: string, ackedSeq: number): Promise<void> {
    await em.query('UPDATE fanout.cmd_cursors SET acked_seq = $2, updated_at = now() WHERE uid = $1 AND acked_seq < $2', [uid, ackedSeq]);
  }

  /** Up to `limit` commands after `afterSeq`, oldest first. */
  async page(em: EntityManager, uid: string, afterSeq: number, limit: number): Promise<QueuedCommand[]> {
    const rows: QueueRow[] = await em.query('SELECT * FROM fanout.cmd_queue WHERE uid = $1 AND cmd_seq > $2 ORDER BY cmd_seq LIMIT $3', [uid, afterSeq, limit]);
    return rows.map(toQueued);
  }
}
