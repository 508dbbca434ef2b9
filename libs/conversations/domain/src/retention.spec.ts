import { ConversationInputs, conversationView, MSG_COUNT_MAX } from './conversation';
import { isPrunable, keptSeqs, MESSAGES_KEPT_PER_MEMBERSHIP_VERSION, prunableSeqs } from './retention';

type Row = { seq: number; membershipVersion: number };

/** The two reads sync makes of a channel's messages, as the read model's SQL makes them. */
const seqBelow = (rows: Row[], version: number) =>
  rows.filter((r) => r.membershipVersion < version).sort((a, b) => b.membershipVersion - a.membershipVersion || b.seq - a.seq)[0]?.seq ?? 0;
const recents = (rows: Row[], from: number, to: number, count: number) =>
  rows
    .filter((r) => r.seq > from && r.seq <= to)
    .sort((a, b) => b.seq - a.seq)
    .slice(0, count)
    .map((r) => r.seq)
    .reverse();

const pruned = (rows: Row[], keep = MESSAGES_KEPT_PER_MEMBERSHIP_VERSION) => {
  const gone = new Set(prunableSeqs(rows, keep));
  return rows.filter((r) => !gone.has(r.seq));
};

/** A deterministic generator, so a failure names a channel that can be replayed. */
function random(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A channel as fanout stamps it: seqs 1..n, membership versions never decreasing, runs of any
 * length (a membership change between two messages, or many in a row, which skips versions).
 */
function channel(seed: number): Row[] {
  const next = random(seed);
  const n = 1 + Math.floor(next() * 160);
  let version = Math.floor(next() * 3);
  return Array.from({ length: n }, (_, i) => {
    const roll = next();
    if (roll < 0.04) version += 1 + Math.floor(next() * 3);
    else if (roll < 0.1 && next() < 0.5) version += 1;
    return { seq: i + 1, membershipVersion: version };
  });
}

/** What SyncConversations answers for one uid of the channel: the view and its recents. */
function syncAnswer(rows: Row[], c: Omit<ConversationInputs, 'joinFloor' | 'ceiling'>, msgCount: number) {
  const head = rows.length === 0 ? 0 : Math.max(...rows.map((r) => r.seq));
  const joinFloor = c.joinVersion === null ? 0 : seqBelow(rows, c.joinVersion);
  const ceiling = c.leftVersion === null ? head : seqBelow(rows, c.leftVersion);
  const view = conversationView({ ...c, joinFloor, ceiling });
  const shown = view.state !== null && view.state !== 'DELETED';
  return { view, recents: shown ? recents(rows, view.visibleFrom, view.lastMsgSeq, msgCount) : [] };
}

describe('the keep rule of channel_messages', () => {
  it('keeps as many messages per membership version as a sync may ask for', () => {
    expect(MESSAGES_KEPT_PER_MEMBERSHIP_VERSION).toBe(MSG_COUNT_MAX);
    expect(isPrunable(MSG_COUNT_MAX - 1)).toBe(false);
    expect(isPrunable(MSG_COUNT_MAX)).toBe(true);
  });

  it('given 25 messages of one version, then the 5 oldest may go', () => {
    const rows = Array.from({ length: 25 }, (_, i) => ({ seq: i + 1, membershipVersion: 0 }));
    expect(prunableSeqs(rows)).toEqual([1, 2, 3, 4, 5]);
    expect(keptSeqs(rows)).toEqual(Array.from({ length: 20 }, (_, i) => i + 6));
  });

  it('keeps the newest 20 of each run, and every run shorter than that whole', () => {
    const rows = [
      ...Array.from({ length: 30 }, (_, i) => ({ seq: i + 1, membershipVersion: 1 })), // 1..30
      ...Array.from({ length: 3 }, (_, i) => ({ seq: 31 + i, membershipVersion: 2 })), // 31..33
      ...Array.from({ length: 22 }, (_, i) => ({ seq: 34 + i, membershipVersion: 4 })), // 34..55
    ];
    expect(prunableSeqs([...rows].reverse())).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 34, 35]);
    expect(keptSeqs(rows)).toHaveLength(20 + 3 + 20);
  });

  it('given nothing or a short channel, then nothing may go', () => {
    expect(prunableSeqs([])).toEqual([]);
    expect(prunableSeqs(Array.from({ length: 20 }, (_, i) => ({ seq: i + 1, membershipVersion: 7 })))).toEqual([]);
  });

  it('the generated channels have something to prune', () => {
    const channels = Array.from({ length: 50 }, (_, i) => channel(i + 1));
    const rows = channels.reduce((n, c) => n + c.length, 0);
    const gone = channels.reduce((n, c) => n + prunableSeqs(c).length, 0);
    expect(gone).toBeGreaterThan(rows / 10);
  });

  it('leaves every join floor and leave ceiling exact, for any version, even if versions were not monotonic', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const rows = channel(seed);
      // Floors are looked up by version value, not by run: shuffling the stamps changes nothing.
      const shuffled = seed % 2 === 0 ? rows : rows.map((r, i) => ({ ...r, membershipVersion: rows[(i * 7) % rows.length].membershipVersion }));
      const kept = pruned(shuffled);
      const top = Math.max(...shuffled.map((r) => r.membershipVersion)) + 2;
      for (let v = 0; v <= top; v++) {
        if (seqBelow(kept, v) !== seqBelow(shuffled, v)) expect({ seed, v, floor: seqBelow(kept, v) }).toEqual({ seed, v, floor: seqBelow(shuffled, v) });
      }
    }
  });

  it('leaves recents exact for every range sync asks for: up to the head or a ceiling, from anywhere below', () => {
    for (let seed = 1; seed <= 50; seed++) {
      const rows = channel(seed);
      const kept = pruned(rows);
      const top = Math.max(...rows.map((r) => r.membershipVersion)) + 2;
      const ends = new Set([rows.length, ...Array.from({ length: top + 1 }, (_, v) => seqBelow(rows, v))]);
      for (const to of ends) {
        for (let from = 0; from <= to; from++) {
          const count = [1, 7, MSG_COUNT_MAX][from % 3];
          const [got, want] = [recents(kept, from, to, count), recents(rows, from, to, count)];
          if (got.join() !== want.join()) expect({ seed, from, to, count, got }).toEqual({ seed, from, to, count, got: want });
        }
      }
    }
  });

  it('gives every uid the same sync answer before and after pruning: state, unread, read seq, last seq and recents', () => {
    for (let seed = 1; seed <= 60; seed++) {
      const rows = channel(seed);
      const kept = pruned(rows);
      const next = random(seed * 31);
      const top = Math.max(...rows.map((r) => r.membershipVersion)) + 2;
      for (let k = 0; k < 60; k++) {
        const joinVersion = Math.floor(next() * top);
        const left = next() < 0.5;
        const inputs = {
          joinVersion,
          leftVersion: left ? joinVersion + 1 + Math.floor(next() * 4) : null,
          readSeq: next() < 0.5 ? 0 : Math.floor(next() * rows.length),
          deleteFloor: next() < 0.8 ? 0 : Math.floor(next() * rows.length),
          ownLastSentSeq: next() < 0.7 ? 0 : Math.floor(next() * rows.length),
          channelDeleted: next() < 0.05,
        };
        const count = [0, 1, 5, MSG_COUNT_MAX][k % 4];
        const [got, want] = [syncAnswer(kept, inputs, count), syncAnswer(rows, inputs, count)];
        if (JSON.stringify(got) !== JSON.stringify(want)) expect({ seed, inputs, ...got }).toEqual({ seed, inputs, ...want });
      }
    }
  });

  it('is tight: keeping one message fewer per version changes some answer for msg_count 20', () => {
    const rows = Array.from({ length: 40 }, (_, i) => ({ seq: i + 1, membershipVersion: 0 }));
    expect(recents(pruned(rows, MSG_COUNT_MAX - 1), 0, 40, MSG_COUNT_MAX)).not.toEqual(recents(rows, 0, 40, MSG_COUNT_MAX));
    expect(recents(pruned(rows), 0, 40, MSG_COUNT_MAX)).toEqual(recents(rows, 0, 40, MSG_COUNT_MAX));
  });

  it('covers only ranges that end a run: a range ending inside one is not what sync asks for', () => {
    // Sync ends ranges at the head or at a ceiling, and a ceiling is always the last message of its
    // version; this shows the rule leans on that.
    const rows = Array.from({ length: 40 }, (_, i) => ({ seq: i + 1, membershipVersion: 0 }));
    expect(recents(pruned(rows), 0, 15, 5)).not.toEqual(recents(rows, 0, 15, 5));
  });
});
