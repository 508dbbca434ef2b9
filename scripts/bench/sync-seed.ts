import { TOPICS } from '@im/contracts';
import { GrpcTestClient, testDb, uniqueId } from '@im/testing';
import { Producer } from 'kafkajs';
import { randomUUID } from 'node:crypto';
import { fmt, log } from './lib';

/**
 * Seeding for bench:sync. Conversation lists are seeded by producing the upstream events
 * (subscribers.added, message.stored) onto the real topics, exactly as the subscriptions and fanout
 * services publish them, so the conversations projection builds them itself. The history channel
 * is the exception: a million messages through the send path would take too long, so its messages
 * are written into the fanout's tables in SQL (see seedHistory).
 */

export type TopicRecord = { key: string; value: string };

export const envelope = (type: string, key: string, data: unknown): TopicRecord => ({
  key,
  value: JSON.stringify({ id: randomUUID(), type, version: 1, occurred_at: new Date().toISOString(), key, data }),
});

/** Produces in requests of at most ~512 KiB (the broker refuses record batches over 1 MiB). */
export async function produceAll(producer: Producer, topic: string, messages: TopicRecord[]) {
  let batch: TopicRecord[] = [];
  let bytes = 0;
  for (const m of messages) {
    if (batch.length > 0 && bytes + m.value.length > 512 * 1024) {
      await producer.send({ topic, acks: -1, messages: batch });
      batch = [];
      bytes = 0;
    }
    batch.push(m);
    bytes += m.value.length;
  }
  if (batch.length > 0) await producer.send({ topic, acks: -1, messages: batch });
}

/** Upstream events giving `uid` one conversation (one member, one message) in each of `count` new groups. */
export function conversationSeed(uid: string, count: number) {
  const memberships: TopicRecord[] = [];
  const messages: TopicRecord[] = [];
  const prefix = uniqueId('s');
  for (let i = 0; i < count; i++) {
    const channel = { channelId: `${prefix}-${i}`, channelType: 2 };
    const key = `2:${channel.channelId}`;
    memberships.push(envelope('subscribers.added', key, { channel, uids: [uid, 'peer'], membershipVersion: 1 }));
    messages.push(
      envelope('message.stored', key, {
        message: {
          messageId: randomUUID(),
          messageSeq: 1,
          channel,
          fromUid: 'peer',
          clientMsgNo: `c${i}`,
          payload: Buffer.from('hello').toString('base64'),
          sentAtMs: Date.now(),
          membershipVersion: 1,
        },
      }),
    );
  }
  return { memberships, messages };
}

/** Produces a seed; memberships and messages go to their topics at the same time, as upstream would. */
export async function produceSeed(producer: Producer, seed: { memberships: TopicRecord[]; messages: TopicRecord[] }) {
  await Promise.all([produceAll(producer, TOPICS.subscriptionsEvents, seed.memberships), produceAll(producer, TOPICS.fanoutEvents, seed.messages)]);
}

/**
 * Waits until the conversations projection has applied everything produced so far: a sync passes
 * the read barrier only then (until that, it answers UNAVAILABLE after its bounded wait).
 */
export async function awaitProjection(conversations: GrpcTestClient, uid: string, timeoutMs = 600_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await conversations.syncConversations({ uid, sinceVersion: 0, limit: 1 });
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      // Usually the barrier's own bounded wait has just passed; a refused call must not spin.
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

export interface SeededUser {
  uid: string;
  /** From the first record produced until the projection had applied the last. */
  seedSeconds: number;
}

/** A user with `size` conversations, seeded through the topics; resolves once the projection has them all. */
export async function seedUser(conversations: GrpcTestClient, producer: Producer, size: number): Promise<SeededUser> {
  const uid = uniqueId(`u${size}`);
  log(`seeding ${fmt(size)} conversations for one user`);
  const t0 = performance.now();
  await produceSeed(producer, conversationSeed(uid, size));
  await awaitProjection(conversations, uid);
  const seedSeconds = (performance.now() - t0) / 1000;
  const db = await testDb();
  try {
    const [row] = await db.rows<{ n: string }>('SELECT count(*) AS n FROM conversations.members WHERE uid = $1', [uid]);
    if (Number(row.n) !== size) throw new Error(`the projection lists ${row.n} conversations for ${uid}, ${size} were seeded`);
    // Statistics as autovacuum gathers them soon after a bulk of inserts, so plans do not depend on when it last ran.
    const tables = await db.rows<{ name: string }>(
      "SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'conversations' AND c.relkind = 'r'",
    );
    for (const t of tables) await db.query(`ANALYZE conversations."${t.name.replace(/"/g, '""')}"`);
  } finally {
    await db.end();
  }
  log(`  projected in ${fmt(seedSeconds, 1)} s`);
  return { uid, seedSeconds };
}

export interface HistoryChannel {
  channel: { channelId: string; channelType: number };
  reader: string;
  messages: number;
  /** Messages written by this run (0 when an earlier run left the channel complete). */
  seededNow: number;
  seedSeconds: number;
}

const HISTORY_PAYLOAD_BYTES = 200;
const HISTORY_CHUNK = 200_000;

/**
 * A group channel with `count` messages for SyncMessages. The channel and its member are created
 * through the real services (channels, subscriptions → fanout's channels, memberships and head
 * rows); the messages are then written in SQL straight into fanout.messages as the fanout's
 * MessageRepository.insertManyStatement writes them (seqs 1..count, stamped with the head's membership
 * version, 200-byte payloads, unique message ids and client_msg_nos), and the head's last_seq is
 * moved with each chunk, in the same transaction, as a send batch moves it. Not written: the
 * `message.stored` events (fanout.events / outbox) and their Kafka records; SyncMessages reads none
 * of them, and no projection downstream sees these messages. The channel id depends only on
 * `count`, so a later run on the same database reuses the messages (or completes a partial seed).
 */
export async function seedHistory(
  services: { channels: GrpcTestClient; subscriptions: GrpcTestClient; messages: GrpcTestClient },
  count: number,
): Promise<HistoryChannel> {
  const channel = { channelId: `bench-history-${count}`, channelType: 2 };
  const reader = `bench-history-reader`;
  await services.channels.createChannel({ channel }).catch((error: { code?: number }) => {
    if (error.code !== 6 /* ALREADY_EXISTS */) throw error;
  });
  const members = await services.subscriptions.listSubscribers({ channel, pageSize: 10 });
  if (!(members.uids as string[]).includes(reader)) await services.subscriptions.addSubscribers({ channel, uids: [reader] });
  // SyncMessages passes the fanout's read barrier: once it answers, the membership is in fanout's tables.
  await services.messages.syncMessages({ uid: reader, channel, startSeq: 1, limit: 1 });

  const db = await testDb();
  const t0 = performance.now();
  let seededNow = 0;
  try {
    for (;;) {
      await db.query('BEGIN');
      const [head] = await db.rows<{ last_seq: string; membership_version: string }>(
        'SELECT last_seq, membership_version FROM fanout.channel_heads WHERE channel_type = $1 AND channel_id = $2 FOR UPDATE',
        [channel.channelType, channel.channelId],
      );
      const from = Number(head.last_seq) + 1;
      if (from > count) {
        await db.query('COMMIT');
        break;
      }
      const to = Math.min(count, from + HISTORY_CHUNK - 1);
      if (seededNow === 0) log(`seeding ${fmt(count - from + 1)} history messages in SQL`);
      await db.query(
        `INSERT INTO fanout.messages (channel_type, channel_id, message_seq, message_id, from_uid, client_msg_no, payload, sent_at, membership_version)
         SELECT $1::int, $2::text, s, gen_random_uuid(), $3::text, 'h' || s, convert_to(repeat('x', $4::int), 'UTF8'),
                now() - (($6::bigint - s) * interval '10 milliseconds'), $5::bigint
           FROM generate_series($7::bigint, $6::bigint) AS s`,
        [channel.channelType, channel.channelId, reader, HISTORY_PAYLOAD_BYTES, Number(head.membership_version), to, from],
      );
      await db.query('UPDATE fanout.channel_heads SET last_seq = $3 WHERE channel_type = $1 AND channel_id = $2', [channel.channelType, channel.channelId, to]);
      await db.query('COMMIT');
      seededNow += to - from + 1;
      log(`  ${fmt(to)} / ${fmt(count)}`);
    }
    // Fresh statistics, as autovacuum would have gathered them long before a channel grew this big.
    if (seededNow > 0) await db.query('ANALYZE fanout.messages');
  } catch (error) {
    await db.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    await db.end();
  }
  return { channel, reader, messages: count, seededNow, seedSeconds: (performance.now() - t0) / 1000 };
}
