import { MembershipSnapshot, snapshotAnswers } from '@im/fanout-domain';

interface Entry {
  snapshot: MembershipSnapshot;
  /** Intervals held (at least 1, so empty channels count too). */
  weight: number;
}

/**
 * Channel memberships held in memory for live delivery, keyed by channel, bounded by the number of
 * intervals held: least recently used channels go first. An entry is never updated in place; it is
 * replaced by a newer snapshot when a message stamped with a newer version needs one. Nothing here
 * depends on which partitions this instance's projection consumes, so several instances are fine.
 */
export class MembershipCache {
  private readonly entries = new Map<string, Entry>();
  private held = 0;

  constructor(readonly maxIntervals: number) {}

  /** The snapshot of a channel if it answers for messages stamped with `version`; marks it recently used. */
  answering(key: string, version: number): MembershipSnapshot | undefined {
    const entry = this.entries.get(key);
    if (!entry || !snapshotAnswers(entry.snapshot, version)) return undefined;
    this.entries.delete(key);
    this.entries.set(key, entry);
    return entry.snapshot;
  }

  /**
   * Keeps a freshly loaded snapshot (unless a newer one is held), then drops the least recently
   * used channels beyond the bound. A channel larger than the whole bound is not kept: it is loaded
   * again for each batch that needs it.
   */
  keep(key: string, snapshot: MembershipSnapshot): void {
    const current = this.entries.get(key);
    if (current) {
      if (current.snapshot.version > snapshot.version) return;
      this.entries.delete(key);
      this.held -= current.weight;
    }
    let weight = 0;
    for (const stretches of snapshot.intervals.values()) weight += stretches.length;
    weight = Math.max(1, weight);
    if (weight > this.maxIntervals) return;
    this.entries.set(key, { snapshot, weight });
    this.held += weight;
    for (const [oldest, entry] of this.entries) {
      if (this.held <= this.maxIntervals) break;
      this.entries.delete(oldest);
      this.held -= entry.weight;
    }
  }

  /** Intervals held now (for tests and metrics). */
  get intervalsHeld(): number {
    return this.held;
  }

  /** Channels held now, least recently used first. */
  channels(): string[] {
    return [...this.entries.keys()];
  }
}
