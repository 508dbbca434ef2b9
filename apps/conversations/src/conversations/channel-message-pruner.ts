import { MESSAGES_KEPT_PER_MEMBERSHIP_VERSION } from '@im/conversations-domain';
import { DataSource, EntityManager } from 'typeorm';

const S = 'conversations';

/**
 * Held by every transaction of a pass, for that transaction only (safe behind a transaction-pooling
 * proxy): a replica that finds it taken ends its pass and leaves the walk to the one holding it.
 */
const PASS_LOCK = `SELECT pg_try_advisory_xact_lock(hashtextextended('${S}.channel_message_pruner', 0)) AS locked`;

/**
 * A slice of channels in key order, and those of them with something new since they were last
 * pruned. Channels no longer than the kept amount have nothing to prune and get no mark. One more
 * row, with `slice_length` set, names where the slice stopped and how long it was.
 */
const MOVED_CHANNELS = `
  WITH slice AS (
    SELECT channel_type, channel_id, last_seq, membership_version FROM ${S}.channel_heads
     WHERE (channel_type, channel_id) > ($1::int, $2::text)
     ORDER BY channel_type, channel_id
     LIMIT $3)
  SELECT s.channel_type, s.channel_id, s.last_seq, s.membership_version,
         p.pruned_seq, p.resume_version, p.resume_seq, NULL::int AS slice_length
    FROM slice s
    LEFT JOIN ${S}.channel_prune_marks p ON p.channel_type = s.channel_type AND p.channel_id = s.channel_id
   WHERE s.last_seq > COALESCE(p.pruned_seq, $4::bigint)
  UNION ALL
  (SELECT channel_type, channel_id, last_seq, membership_version, NULL, NULL, NULL, (SELECT count(*) FROM slice)::int
     FROM slice ORDER BY channel_type DESC, channel_id DESC LIMIT 1)`;

/**
 * Deletes, per channel, the oldest messages that have `$6` newer messages of their own membership
 * version, at most `cap` of them, scanning after the channel's resume position in
 * (membership_version, seq) order: the membership index read forwards, with `lead` looking `$6`
 * rows ahead in the same version. What it deletes is exact whatever it skips: `lead` counts only
 * newer rows, all of which lie after the resume position, and rows are only added, so a row with
 * `$6` newer ones now keeps them. Returns, per channel, how many rows went and the last one.
 */
const PRUNE = `
  WITH doomed AS (
    SELECT c.channel_type, c.channel_id, d.seq
      FROM unnest($1::int[], $2::text[], $3::bigint[], $4::bigint[], $5::int[]) AS c(channel_type, channel_id, from_version, from_seq, cap)
     CROSS JOIN LATERAL (
       SELECT w.membership_version, w.seq FROM (
         SELECT m.membership_version, m.seq,
                lead(m.seq, $6::int) OVER (PARTITION BY m.membership_version ORDER BY m.seq) AS newer
           FROM ${S}.channel_messages m
          WHERE m.channel_type = c.channel_type AND m.channel_id = c.channel_id
            AND (m.membership_version, m.seq) > (c.from_version, c.from_seq)) w
        WHERE w.newer IS NOT NULL
        ORDER BY w.membership_version, w.seq
        LIMIT c.cap) d),
  gone AS (
    DELETE FROM ${S}.channel_messages m USING doomed d
     WHERE m.channel_type = d.channel_type AND m.channel_id = d.channel_id AND m.seq = d.seq
    RETURNING m.channel_type, m.channel_id, m.membership_version, m.seq)
  SELECT channel_type, channel_id, count(*)::int AS pruned, max(ARRAY[membership_version, seq]) AS last FROM gone GROUP BY channel_type, channel_id`;

/** A mark never moves back to an older membership version: the versions below it are done for good. */
const MARK = `
  INSERT INTO ${S}.channel_prune_marks (channel_type, channel_id, pruned_seq, resume_version, resume_seq)
  SELECT * FROM unnest($1::int[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[])
  ON CONFLICT (channel_type, channel_id) DO UPDATE
    SET pruned_seq = GREATEST(channel_prune_marks.pruned_seq, excluded.pruned_seq),
        resume_version = excluded.resume_version, resume_seq = excluded.resume_seq
  WHERE channel_prune_marks.resume_version <= excluded.resume_version`;

/** Where a channel's scan starts when it has never been pruned: before every (membership_version, seq). */
const START: Position = [-1, 0];

type Position = [version: number, seq: number];
const after = (a: Position, b: Position) => a[0] > b[0] || (a[0] === b[0] && a[1] > b[1]);
const latest = (...positions: Position[]) => positions.reduce((a, b) => (after(b, a) ? b : a));

interface MovedChannel {
  channelType: number;
  channelId: string;
  headSeq: number;
  headVersion: number;
  prunedSeq: number | null;
  resume: Position;
  /** Most rows this pass deletes in the channel: one more than it can have, capped by the batch size. */
  cap: number;
}

export interface ChannelMessagePrunerOptions {
  /** Most rows one statement (one transaction) deletes. */
  batchSize: number;
  /** Channel heads read per slice of the walk. */
  sliceSize?: number;
  /** Messages kept per membership version (the domain rule; lower it only in tests of the pruner). */
  keep?: number;
}

export interface PrunePassResult {
  /** done: every channel walked; yielded: another replica's pass held the lock; stopped: asked to stop. */
  outcome: 'done' | 'yielded' | 'stopped';
  /** Channels that had something new since they were last pruned. */
  channels: number;
  /** Rows deleted. */
  pruned: number;
  statements: number;
}

/**
 * Bounds conversations.channel_messages to what sync can still show (ADR 14): per channel, the
 * newest MESSAGES_KEPT_PER_MEMBERSHIP_VERSION messages of each membership version.
 *
 * A pass walks channel_heads in key order, a slice at a time, and prunes only channels whose head
 * moved since they were last pruned (channel_prune_marks), each from where the previous pass
 * stopped in it. Each statement deletes at most `batchSize` rows in its own short transaction and
 * locks only the rows it deletes, which the projection touches again only for a duplicate of an old
 * message (it then stores it again: harmless, the rule still holds). It takes no conversation
 * version and no lock of the projection's: nothing a uid sees changes. An advisory lock taken by
 * each transaction keeps replicas from pruning at the same time; it saves work only: every delete
 * is justified by rows that exist when it runs, whoever runs it.
 */
export class ChannelMessagePruner {
  private readonly sliceSize: number;
  private readonly keep: number;

  constructor(
    private readonly dataSource: DataSource,
    private readonly opts: ChannelMessagePrunerOptions,
  ) {
    this.sliceSize = opts.sliceSize ?? 1000;
    this.keep = opts.keep ?? MESSAGES_KEPT_PER_MEMBERSHIP_VERSION;
  }

  /** One walk over every channel. `shouldStop` is asked, with the progress so far, before each statement and slice. */
  async pass(shouldStop: (progress: Readonly<PrunePassResult>) => boolean = () => false): Promise<PrunePassResult> {
    const result: PrunePassResult = { outcome: 'done', channels: 0, pruned: 0, statements: 0 };
    const end = (outcome: PrunePassResult['outcome']) => ({ ...result, outcome });
    let cursor: [number, string] = [-2147483648, ''];
    for (;;) {
      const slice = await this.exclusively((em) => this.slice(em, cursor));
      if (!slice) return end('yielded');
      result.channels += slice.moved.length;
      // A channel with more to prune than one statement may delete comes back at once, from where it stopped.
      for (let queue = slice.moved; queue.length > 0;) {
        const unfinished: MovedChannel[] = [];
        for (const group of this.groups(queue)) {
          if (shouldStop(result)) return end('stopped');
          const outcome = await this.exclusively((em) => this.prune(em, group));
          if (!outcome) return end('yielded');
          result.pruned += outcome.pruned;
          result.statements++;
          unfinished.push(...outcome.unfinished);
        }
        queue = unfinished;
      }
      if (!slice.end || slice.end.length < this.sliceSize) return end('done');
      if (shouldStop(result)) return end('stopped');
      cursor = slice.end.last;
    }
  }

  /** `work` in a transaction holding the pass lock; undefined when another replica holds it. */
  private exclusively<T>(work: (em: EntityManager) => Promise<T>): Promise<T | undefined> {
    return this.dataSource.transaction(async (em) => {
      const [{ locked }] = await em.query(PASS_LOCK);
      return locked ? work(em) : undefined;
    });
  }

  private async slice(em: EntityManager, cursor: [number, string]) {
    const rows: {
      channel_type: number;
      channel_id: string;
      last_seq: string;
      membership_version: string;
      pruned_seq: string | null;
      resume_version: string | null;
      resume_seq: string | null;
      slice_length: number | null;
    }[] = await em.query(MOVED_CHANNELS, [cursor[0], cursor[1], this.sliceSize, this.keep]);
    let end: { last: [number, string]; length: number } | undefined;
    const moved: MovedChannel[] = [];
    for (const r of rows) {
      if (r.slice_length !== null) {
        end = { last: [r.channel_type, r.channel_id], length: r.slice_length };
        continue;
      }
      const headSeq = Number(r.last_seq);
      const prunedSeq = r.pruned_seq === null ? null : Number(r.pruned_seq);
      // Rows arrived since the mark bound what can have become prunable; unmarked, the whole channel.
      const fresh = headSeq - (prunedSeq ?? 0);
      moved.push({
        channelType: r.channel_type,
        channelId: r.channel_id,
        headSeq,
        headVersion: Number(r.membership_version),
        prunedSeq,
        resume: r.resume_version === null ? START : [Number(r.resume_version), Number(r.resume_seq)],
        cap: Math.max(1, Math.min(this.opts.batchSize, fresh + 1)),
      });
    }
    return { moved, end };
  }

  /** Channels packed so that each statement deletes at most batchSize rows. */
  private *groups(moved: MovedChannel[]): Generator<MovedChannel[]> {
    let group: MovedChannel[] = [];
    let budget = 0;
    for (const channel of moved) {
      if (group.length > 0 && budget + channel.cap > this.opts.batchSize) {
        yield group;
        group = [];
        budget = 0;
      }
      group.push(channel);
      budget += channel.cap;
    }
    if (group.length > 0) yield group;
  }

  /** One statement and the marks it earns, in one transaction; returns the channels it could not finish. */
  private async prune(em: EntityManager, group: MovedChannel[]): Promise<{ pruned: number; unfinished: MovedChannel[] }> {
    const rows: { channel_type: number; channel_id: string; pruned: number; last: string[] }[] = await em.query(PRUNE, [
      group.map((c) => c.channelType),
      group.map((c) => c.channelId),
      group.map((c) => c.resume[0]),
      group.map((c) => c.resume[1]),
      group.map((c) => c.cap),
      this.keep,
    ]);
    const done = new Map(
      rows.map((r) => [`${r.channel_type}:${r.channel_id}`, { pruned: r.pruned, last: [Number(r.last[0]), Number(r.last[1])] as Position }]),
    );
    const marks = group.map((c) => {
      const gone = done.get(`${c.channelType}:${c.channelId}`);
      const finished = (gone?.pruned ?? 0) < c.cap;
      const reached = gone ? latest(c.resume, gone.last) : c.resume;
      // Finished: every version below the head's is whole and pruned, and versions never decrease
      // along seqs, so none of them gains a row again; the next pass scans the head's version whole
      // (its kept rows and what arrived since, and a duplicate of an old message stored again).
      return finished
        ? { channel: c, finished, prunedSeq: c.headSeq, resume: [Math.max(c.headVersion, reached[0]), 0] as Position }
        : { channel: c, finished, prunedSeq: c.prunedSeq ?? 0, resume: reached };
    });
    await em.query(MARK, [
      marks.map((m) => m.channel.channelType),
      marks.map((m) => m.channel.channelId),
      marks.map((m) => m.prunedSeq),
      marks.map((m) => m.resume[0]),
      marks.map((m) => m.resume[1]),
    ]);
    return {
      pruned: rows.reduce((n, r) => n + r.pruned, 0),
      unfinished: marks.filter((m) => !m.finished).map((m) => ({ ...m.channel, prunedSeq: m.prunedSeq, resume: m.resume, cap: this.opts.batchSize })),
    };
  }
}
