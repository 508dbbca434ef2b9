import { Admin } from 'kafkajs';

export interface TopicSpec {
  topic: string;
  numPartitions: number;
  replicationFactor: number;
  /** Topic-level configs, e.g. retention.ms. */
  config?: Record<string, string>;
}

/** Event topics keep their whole history: projections are rebuilt by replaying them from offset 0. */
export const KEEP_FOREVER = { 'retention.ms': '-1', 'retention.bytes': '-1' };
export const KEEP_WEEK = { 'retention.ms': String(7 * 24 * 3600 * 1000) };

/**
 * Creates missing topics and waits until every partition has a leader; existing topics are left as
 * they are. Safe for several services or replicas starting at once: while another process's topic
 * is still being created the broker answers with retriable errors (UNKNOWN_TOPIC_OR_PARTITION,
 * LEADER_NOT_AVAILABLE), so the whole step is retried with backoff instead of failing the start.
 */
export async function ensureTopics(admin: Admin, specs: TopicSpec[], opts: { attempts?: number; backoffMs?: number } = {}): Promise<void> {
  const attempts = opts.attempts ?? 10;
  for (let attempt = 1; ; attempt++) {
    try {
      await createMissing(admin, specs);
      await waitForLeaders(
        admin,
        specs.map((s) => s.topic),
      );
      return;
    } catch (error) {
      if (attempt >= attempts) throw error;
      await new Promise((r) => setTimeout(r, (opts.backoffMs ?? 200) * attempt));
    }
  }
}

/**
 * A topic's partition offsets, retried while the broker is still settling partition leaders (a topic
 * another process created a moment ago answers NOT_LEADER_FOR_PARTITION for a short while).
 */
export async function fetchTopicOffsetsSettled(admin: Admin, topic: string, attempts = 10): ReturnType<Admin['fetchTopicOffsets']> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await admin.fetchTopicOffsets(topic);
    } catch (error) {
      if (attempt >= attempts) throw error;
      await new Promise((r) => setTimeout(r, 200 * attempt));
    }
  }
}

async function createMissing(admin: Admin, specs: TopicSpec[]): Promise<void> {
  const existing = new Set(await admin.listTopics());
  const missing = specs.filter((s) => !existing.has(s.topic));
  if (missing.length === 0) return;
  try {
    await admin.createTopics({
      waitForLeaders: true,
      topics: missing.map((s) => ({
        topic: s.topic,
        numPartitions: s.numPartitions,
        replicationFactor: s.replicationFactor,
        configEntries: Object.entries(s.config ?? {}).map(([name, value]) => ({ name, value })),
      })),
    });
  } catch (error) {
    // Another process created them between our list and create: that is the state we wanted.
    if ((error as { type?: string }).type !== 'TOPIC_ALREADY_EXISTS') throw error;
  }
}

async function waitForLeaders(admin: Admin, topics: string[]): Promise<void> {
  const { topics: metadata } = await admin.fetchTopicMetadata({ topics });
  const leaderless = metadata.flatMap((t) => t.partitions.filter((p) => p.leader < 0).map((p) => `${t.name}:${p.partitionId}`));
  if (leaderless.length > 0) throw new Error(`no leader yet for ${leaderless.join(', ')}`);
}

const THIRTY_DAYS = { 'retention.ms': String(30 * 24 * 3600 * 1000) };

/**
 * The one rule for how a topic is configured, derived from its name, so whichever service creates
 * a topic first creates it the same way: event topics keep everything (replayable history),
 * command topics a week, dead-letter topics a month.
 */
export function topicSpec(topic: string, numPartitions: number, replicationFactor: number): TopicSpec {
  const config = topic.endsWith('.dlq') ? THIRTY_DAYS : topic.includes('.events.') ? KEEP_FOREVER : KEEP_WEEK;
  const minIsr = String(Math.min(2, replicationFactor));
  return { topic, numPartitions, replicationFactor, config: { ...config, 'min.insync.replicas': minIsr } };
}

/**
 * Records each partition of `topics` holds that a consumer group has not applied yet: the partition's
 * end minus the group's next offset (its log start when the group has applied nothing, or less than
 * what retention has kept), keyed `topic:partition`. Read from the broker and the group's stored
 * positions at the moment of the call, so a consumer that has stopped applying shows its lag growing.
 */
export async function consumerLag(admin: Admin, topics: readonly string[], positions: () => Promise<Map<string, bigint>>): Promise<Map<string, number>> {
  const [ends, applied] = await Promise.all([
    Promise.all(topics.map(async (topic) => ({ topic, offsets: await admin.fetchTopicOffsets(topic) }))),
    positions(),
  ]);
  const lag = new Map<string, number>();
  for (const { topic, offsets } of ends) {
    for (const { partition, high, low } of offsets) {
      const key = `${topic}:${partition}`;
      const next = applied.get(key) ?? 0n;
      const from = next > BigInt(low) ? next : BigInt(low);
      lag.set(key, Math.max(0, Number(BigInt(high) - from)));
    }
  }
  return lag;
}
