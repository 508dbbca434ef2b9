import { TOPICS } from '@im/contracts';
import { grpcClient, GrpcTestClient, ServiceProcess, testDb, testKafka, uniqueId } from '@im/testing';
import { randomUUID } from 'node:crypto';
import { Producer } from 'kafkajs';
import { fmt, latencySummary, log, machine, runConcurrently, writeReportSection } from './lib';

/**
 * bench:sync — SyncConversations latency for users with 100, 1,000 and 10,000 conversations (full
 * and incremental), send → visible-in-sync latency under load, and the cost per message of a
 * 100,000-member channel against a 2-member one. Usage: npm run bench:sync
 *
 * Conversation lists are seeded by producing the upstream events (subscribers.added,
 * message.stored) onto the real topics, exactly as the subscriptions and fanout services publish
 * them; the send → visible measurement goes through the whole chain of services.
 */

const envelope = (type: string, key: string, data: unknown) => ({
  key,
  value: JSON.stringify({ id: randomUUID(), type, version: 1, occurred_at: new Date().toISOString(), key, data }),
});

/** Produces in requests of at most ~512 KiB (the broker refuses record batches over 1 MiB). */
async function produceAll(producer: Producer, topic: string, messages: { key: string; value: string }[]) {
  let batch: typeof messages = [];
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
function conversationSeed(uid: string, count: number) {
  const memberships: { key: string; value: string }[] = [];
  const messages: { key: string; value: string }[] = [];
  for (let i = 0; i < count; i++) {
    const channel = { channelId: uniqueId(`s${i}`), channelType: 2 };
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

async function fullSyncCount(conversations: GrpcTestClient, uid: string): Promise<number> {
  let n = 0;
  for (let before: number | undefined; ; ) {
    const page = await conversations.syncConversations({ uid, sinceVersion: 0, limit: 500, ...(before ? { beforeVersion: before } : {}) });
    n += page.conversations.length;
    if (!page.hasMore || page.conversations.length === 0) return n;
    before = page.conversations[page.conversations.length - 1].version;
  }
}

async function syncLatencies(conversations: GrpcTestClient, producer: Producer, sizes: number[]) {
  const rows: string[] = [];
  for (const size of sizes) {
    const uid = uniqueId(`u${size}`);
    log(`seeding ${fmt(size)} conversations for one user`);
    const seed = conversationSeed(uid, size);
    await produceAll(producer, TOPICS.subscriptionsEvents, seed.memberships);
    await produceAll(producer, TOPICS.fanoutEvents, seed.messages);
    // While the projection catches up with the seed, syncs answer UNAVAILABLE after their bounded
    // wait (PROJECTION_BEHIND); a client retries, and so does this.
    const deadline = Date.now() + 300_000;
    while (Date.now() < deadline) {
      const listed = await fullSyncCount(conversations, uid).catch(() => 0);
      if (listed >= size) break;
      await new Promise((r) => setTimeout(r, 500));
    }

    const full = await runConcurrently(50, 1, async () => {
      await conversations.syncConversations({ uid, sinceVersion: 0, limit: 100, msgCount: 1 });
    });
    const { version } = await conversations.syncConversations({ uid, sinceVersion: 0, limit: 1 });
    // One more change, then incremental syncs from just before it.
    const extra = conversationSeed(uid, 1);
    await produceAll(producer, TOPICS.subscriptionsEvents, extra.memberships);
    await produceAll(producer, TOPICS.fanoutEvents, extra.messages);
    const incremental = await runConcurrently(50, 1, async () => {
      await conversations.syncConversations({ uid, sinceVersion: version, limit: 100, msgCount: 1 });
    });
    const f = latencySummary(full);
    const inc = latencySummary(incremental);
    rows.push(`| ${fmt(size)} | ${fmt(f.p50, 1)} | ${fmt(f.p99, 1)} | ${fmt(inc.p50, 1)} | ${fmt(inc.p99, 1)} |`);
  }
  return rows;
}

/** Send through the real chain, then one SyncConversations by a recipient: how long until the message is listed. */
async function sendToVisible(services: Record<string, GrpcTestClient>) {
  const groups = Array.from({ length: 20 }, () => ({ channel: { channelId: uniqueId('load'), channelType: 2 }, members: [] as string[] }));
  for (const g of groups) {
    g.members = Array.from({ length: 10 }, (_, i) => `${g.channel.channelId}-m${i}`);
    await services.channels.createChannel({ channel: g.channel });
    await services.subscriptions.addSubscribers({ channel: g.channel, uids: g.members });
  }
  let stop = false;
  let background = 0;
  const load = (async () => {
    await runConcurrently(4, 4, async (w) => {
      for (let i = 0; !stop; i++, background++) {
        const g = groups[(w * 7 + i) % groups.length];
        await services.messages.sendMessage({ fromUid: g.members[0], channel: g.channel, payload: Buffer.from('load'), clientMsgNo: `bg${w}-${i}` });
      }
    });
  })();
  const samples = await runConcurrently(200, 1, async (i) => {
    const g = groups[i % groups.length];
    const reader = g.members[1 + (i % 9)];
    const sent = await services.messages.sendMessage({ fromUid: g.members[0], channel: g.channel, payload: Buffer.from('probe'), clientMsgNo: `probe${i}` });
    for (;;) {
      const page = await services.conversations.syncConversations({ uid: reader, sinceVersion: 0, limit: 100 });
      const conv = page.conversations.find((c: { channel: { channelId: string } }) => c.channel.channelId === g.channel.channelId);
      if (conv && conv.lastMsgSeq >= sent.messageSeq) return;
    }
  });
  stop = true;
  await load;
  return { ...latencySummary(samples), background };
}

/** Rows written in the conversations schema and time until visible, per message, for a big and a small channel. */
async function costPerMessage(conversations: GrpcTestClient, producer: Producer, members: number, messages: number) {
  const db = await testDb();
  try {
    const channel = { channelId: uniqueId(`c${members}`), channelType: 2 };
    const key = `2:${channel.channelId}`;
    const uids = Array.from({ length: members }, (_, i) => `${channel.channelId}-u${i}`);
    const adds = [];
    for (let i = 0; i < uids.length; i += 1000) adds.push(envelope('subscribers.added', key, { channel, uids: uids.slice(i, i + 1000), membershipVersion: adds.length + 1 }));
    await produceAll(producer, TOPICS.subscriptionsEvents, adds);
    await conversations.syncConversations({ uid: uids[0], sinceVersion: 0, limit: 1 }); // barrier: memberships applied

    const writes = async () => {
      await db.query('SELECT pg_stat_clear_snapshot()');
      const [r] = await db.rows<{ n: string }>(
        "SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) AS n FROM pg_stat_user_tables WHERE schemaname = 'conversations'",
      );
      return Number(r.n);
    };
    await new Promise((r) => setTimeout(r, 1500)); // table statistics are published about once a second
    const before = await writes();
    const stored = Array.from({ length: messages }, (_, i) =>
      envelope('message.stored', key, {
        message: {
          messageId: randomUUID(),
          messageSeq: i + 1,
          channel,
          fromUid: uids[0],
          clientMsgNo: `c${i}`,
          payload: Buffer.from('x').toString('base64'),
          sentAtMs: Date.now(),
          membershipVersion: adds.length,
        },
      }),
    );
    const t0 = performance.now();
    await produceAll(producer, TOPICS.fanoutEvents, stored);
    for (;;) {
      const page = await conversations.syncConversations({ uid: uids[uids.length - 1], sinceVersion: 0, limit: 1 });
      if (page.conversations[0]?.lastMsgSeq >= messages) break;
    }
    const elapsedMs = performance.now() - t0;
    await new Promise((r) => setTimeout(r, 1500));
    const after = await writes();
    return { rowsPerMessage: (after - before) / messages, msPerMessage: elapsedMs / messages };
  } finally {
    await db.end();
  }
}

async function main() {
  const names = ['channels', 'subscriptions', 'fanout', 'conversations'];
  const procs = await Promise.all(names.map((n) => ServiceProcess.start(n)));
  const services: Record<string, GrpcTestClient> = {
    channels: grpcClient('ChannelService', procs[0].grpcAddress),
    subscriptions: grpcClient('SubscriptionService', procs[1].grpcAddress),
    messages: grpcClient('MessageService', procs[2].grpcAddress),
    conversations: grpcClient('ConversationService', procs[3].grpcAddress),
  };
  const producer = testKafka().producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  try {
    const syncRows = await syncLatencies(services.conversations, producer, [100, 1_000, 10_000]);
    log('send → visible under load');
    const visible = await sendToVisible(services);
    log('cost per message: 100,000 members against 2');
    const big = await costPerMessage(services.conversations, producer, 100_000, 200);
    const small = await costPerMessage(services.conversations, producer, 2, 200);

    writeReportSection(
      'bench:sync',
      `Reproduce: \`npm run bench:sync\` (starts all four services on the provisioned broker and a \`<db>_bench\`
database). Run on ${new Date().toISOString().slice(0, 10)}, ${machine()}. Conversation lists are seeded
by producing the upstream events onto the real topics; every SyncConversations passes the read
barrier, so each figure includes the wait for the projection to be current.

SyncConversations latency, 50 calls each (full: \`since_version\` 0, first page of 100, newest
first, 1 recent message; incremental: one changed conversation):

| conversations of the user | full p50 (ms) | full p99 (ms) | incremental p50 (ms) | incremental p99 (ms) |
| ---: | ---: | ---: | ---: | ---: |
${syncRows.join('\n')}

Send → visible in the recipient's SyncConversations, through channels, subscriptions, fanout and
conversations, while 4 other senders keep sending (${fmt(visible.background)} background messages):
p50 ${fmt(visible.p50, 1)} ms, p99 ${fmt(visible.p99, 1)} ms over ${visible.n} probes.

Cost per message in the conversations projection (200 messages each; rows = inserts + updates +
deletes in the conversations schema per message, from Postgres table statistics):

| channel | rows written per message | ms per message until visible |
| --- | ---: | ---: |
| 100,000 members | ${fmt(big.rowsPerMessage, 1)} | ${fmt(big.msPerMessage, 2)} |
| 2 members | ${fmt(small.rowsPerMessage, 1)} | ${fmt(small.msPerMessage, 2)} |`,
    );
  } finally {
    await producer.disconnect();
    Object.values(services).forEach((c) => c.close());
    await Promise.all(procs.map((p) => p.stop()));
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
