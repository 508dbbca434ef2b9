import { fullSyncCursor, incrementalCursor, settledBelow, sliceVersions, VERSION_ORDINALS, versionBase, worthWaiting } from './versions';

describe('sliceVersions', () => {
  const base = versionBase(900);

  it('numbers a slice applied for the first time by offset from its first event, and records it', () => {
    const { versions, fresh } = sliceVersions([10n, 11n, 13n], [], base);
    expect([...versions.values()]).toEqual([base, base + 1, base + 3]);
    expect(fresh).toEqual({ firstOffset: 10n, lastOffset: 13n, baseVersion: base });
  });

  it('gives a replayed event the version of its first application, whatever the slice boundaries', () => {
    const first = sliceVersions([0n, 1n, 2n, 3n], [], versionBase(5));
    const second = sliceVersions([4n, 5n], [first.fresh!], versionBase(6));
    const ledger = [first.fresh!, second.fresh!];
    // The replay cuts the partition differently, in a later transaction.
    const replayA = sliceVersions([0n, 1n, 2n], ledger, versionBase(70));
    const replayB = sliceVersions([3n, 4n, 5n], ledger, versionBase(71));
    const replayed = new Map([...replayA.versions, ...replayB.versions]);
    expect(replayed).toEqual(new Map([...first.versions, ...second.versions]));
    expect(replayA.fresh).toBeUndefined();
    expect(replayB.fresh).toBeUndefined();
  });

  it('continues past the ledger with fresh versions from the first unrecorded event', () => {
    const ledger = [{ firstOffset: 0n, lastOffset: 4n, baseVersion: versionBase(5) }];
    const { versions, fresh } = sliceVersions([3n, 4n, 5n, 6n], ledger, base);
    expect(versions.get(4n)).toBe(versionBase(5) + 4);
    expect(versions.get(5n)).toBe(base);
    expect(versions.get(6n)).toBe(base + 1);
    expect(fresh).toEqual({ firstOffset: 5n, lastOffset: 6n, baseVersion: base });
  });

  it('never lets a transaction reach the next one’s versions', () => {
    const far = BigInt(VERSION_ORDINALS + 10);
    const { versions, clamped } = sliceVersions([0n, far], [], base);
    expect(versions.get(far)).toBe(base + VERSION_ORDINALS - 1);
    expect(versions.get(far)!).toBeLessThan(versionBase(901));
    expect(clamped).toBe(1);
  });
});

describe('sync cursors', () => {
  it('asks a sync to wait only for writers older than what it saw', () => {
    // Seen up to a change of transaction 104; transaction 102 still runs: worth waiting for.
    expect(worthWaiting(incrementalCursor(5, versionBase(104), settledBelow(102)), 102)).toBe(true);
    // After that wait, only transaction 110 (newer than anything seen first) runs: answer now.
    expect(worthWaiting(incrementalCursor(5, versionBase(111), settledBelow(110)), 110, versionBase(104))).toBe(false);
    expect(worthWaiting(incrementalCursor(5, versionBase(99), settledBelow(102)), 102)).toBe(false);
  });

  const settled = settledBelow(100);

  it('resumes after the last change examined when it is settled', () => {
    expect(incrementalCursor(5, settled - 3, settled)).toEqual({ version: settled - 3, capped: false, reached: settled - 3 });
  });

  it('stays where it was when nothing changed', () => {
    expect(incrementalCursor(42, undefined, settled)).toEqual({ version: 42, capped: false, reached: 42 });
  });

  it('never resumes past a version a transaction still in flight could commit below', () => {
    // A change of transaction 101 is visible, but transaction 100 may still commit a lower version.
    expect(incrementalCursor(5, versionBase(101) + 2, settled)).toEqual({ version: settled - 1, capped: true, reached: versionBase(101) + 2 });
  });

  it('never moves a cursor backwards', () => {
    expect(incrementalCursor(settled + 5, settled + 9, settled)).toEqual({ version: settled + 5, capped: true, reached: settled + 9 });
  });

  it('starts incremental syncs after a full one at the newest settled version', () => {
    expect(fullSyncCursor(settled - 1, settled)).toEqual({ version: settled - 1, capped: false, reached: settled - 1 });
    expect(fullSyncCursor(versionBase(100), settled)).toEqual({ version: settled - 1, capped: true, reached: versionBase(100) });
  });
});
