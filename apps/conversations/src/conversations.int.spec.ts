import { status } from '@grpc/grpc-js';
import { dlqTopicOf, TOPICS } from '@im/contracts';
import { eventually, GrpcTestClient, grpcClient, kcatProduce, reasonOf, ServiceProcess, testDb, TopicWatcher, uniqueId } from '@im/testing';
import { ConversationsUnderTest, envelope, personId, Upstream } from './test/upstream-fixtures';

jest.setTimeout(300_000);

interface Conv {
  channel: { channelId: string; channelType: number };
  state: string;
  unread: number;
  lastMsgSeq: number;
  readSeq: number;
  version: number;
  recents: { messageSeq: number; fromUid: string; payload: Buffer; channel: { channelId: string } }[];
}
interface SyncResponse {
  conversations: Conv[];
  version: number;
  hasMore: boolean;
}

describe('conversations service on real Kafka and Postgres (upstream events produced by the test)', () => {
  let system: ConversationsUnderTest;
  let client: GrpcTestClient;
  let upstream: Upstream;
  let db: ConversationsUnderTest['db'];

  beforeAll(async () => {
    system = await ConversationsUnderTest.start();
    ({ client, upstream, db } = system);
  });

  afterAll(() => system?.stop());

  const sync = (uid: string, req: Record<string, unknown> = {}): Promise<SyncResponse> => client.syncConversations({ uid, ...req });
  const find = (res: SyncResponse, channelId: string) => res.conversations.find((c) => c.channel.channelId === channelId);
  const ACTIVE = 'CONVERSATION_STATE_ACTIVE';
  const LEFT = 'CONVERSATION_STATE_LEFT';
  const DELETED = 'CONVERSATION_STATE_DELETED';

  it('lists a group conversation with unread, recents newest last, and moves the read position forward only', async () => {
    const [alice, bob, g] = [uniqueId('alice'), uniqueId('bob'), uniqueId('g')];
    await upstream.send([
      upstream.membership('subscribers.added', g, [alice, bob]),
      upstream.message(g, bob, { text: 'one' }),
      upstream.message(g, bob, { text: 'two' }),
      upstream.message(g, alice, { text: 'three' }),
      upstream.message(g, bob, { text: 'four' }),
    ]);

    const full = await sync(alice, { msgCount: 2 });
    expect(full.conversations).toHaveLength(1);
    const conv = full.conversations[0];
    expect(conv).toMatchObject({ channel: { channelId: g, channelType: 2 }, state: ACTIVE, unread: 1, lastMsgSeq: 4, readSeq: 3 });
    expect(conv.recents.map((m) => [m.messageSeq, m.payload.toString()])).toEqual([
      [3, 'three'],
      [4, 'four'],
    ]);
    expect(full.version).toBeGreaterThanOrEqual(conv.version);
    // bob wrote the latest message: his own messages are never unread.
    expect(find(await sync(bob), g)).toMatchObject({ unread: 0, readSeq: 4 });

    await upstream.send([upstream.message(g, alice, { text: 'five' }), upstream.message(g, alice, { text: 'six' })]);
    expect(find(await sync(bob), g)).toMatchObject({ unread: 2, readSeq: 4, lastMsgSeq: 6 });
    await client.markRead({ uid: bob, channel: { channelId: g, channelType: 2 }, readSeq: 5 });
    expect(find(await sync(bob), g)).toMatchObject({ unread: 1, readSeq: 5 });
    await client.markRead({ uid: bob, channel: { channelId: g, channelType: 2 }, readSeq: 1 }); // backwards: no-op
    expect(find(await sync(bob), g)).toMatchObject({ unread: 1, readSeq: 5 });
    await client.markRead({ uid: bob, channel: { channelId: g, channelType: 2 }, readSeq: 0 }); // 0: everything
    expect(find(await sync(bob), g)).toMatchObject({ unread: 0, readSeq: 6 });
    expect((await sync(bob, { onlyUnread: true })).conversations).toHaveLength(0);
    expect((await sync(alice, { excludeChannelTypes: [2] })).conversations).toHaveLength(0);

    // Incremental from the full sync's version: only the change after it.
    const since = (await sync(bob)).version;
    await upstream.send([upstream.message(g, alice, { text: 'seven' })]);
    const inc = await sync(bob, { sinceVersion: since });
    expect(inc.conversations.map((c) => [c.channel.channelId, c.unread, c.lastMsgSeq])).toEqual([[g, 1, 7]]);
    expect(inc.version).toBe(inc.conversations[0].version);
    expect((await sync(bob, { sinceVersion: inc.version })).conversations).toHaveLength(0);
  });

  it('G1: an unsubscribed channel leaves full sync, is a LEFT tombstone, and a message in flight does not bring it back; re-subscribing does', async () => {
    const [alice, bob, g] = [uniqueId('alice'), uniqueId('bob'), uniqueId('g')];
    await upstream.send([upstream.membership('subscribers.added', g, [alice, bob]), upstream.message(g, bob), upstream.message(g, bob)]);
    const before = await sync(alice);
    expect(find(before, g)).toMatchObject({ state: ACTIVE, unread: 2 });

    const stampedBeforeLeave = upstream.membershipVersion(g);
    await upstream.send([upstream.membership('subscribers.removed', g, [alice])]);
    expect(find(await sync(alice), g)).toBeUndefined();
    const inc = await sync(alice, { sinceVersion: before.version });
    expect(find(inc, g)).toMatchObject({ state: LEFT, lastMsgSeq: 2 });

    // A message the fanout stamped before the leave arrives afterwards; then one sent after it.
    await upstream.send([upstream.message(g, bob, { membershipVersion: stampedBeforeLeave }), upstream.message(g, bob)]);
    expect(find(await sync(alice), g)).toBeUndefined();
    const afterInFlight = await sync(alice, { sinceVersion: before.version });
    expect(find(afterInFlight, g)).toMatchObject({ state: LEFT, lastMsgSeq: 3 });
    expect(find(await sync(bob), g)).toMatchObject({ state: ACTIVE, lastMsgSeq: 4 });

    // Re-subscribed: nothing until a new message arrives, which alone counts as unread.
    await upstream.send([upstream.membership('subscribers.added', g, [alice])]);
    expect(find(await sync(alice), g)).toBeUndefined();
    await upstream.send([upstream.message(g, bob, { text: 'welcome back' })]);
    expect(find(await sync(alice, { msgCount: 5 }), g)).toMatchObject({ state: ACTIVE, unread: 1, lastMsgSeq: 5, recents: [{ messageSeq: 5 }] });
  });

  it("a deleted channel leaves every member's sync at once, as a LEFT tombstone, and comes back if created again", async () => {
    const [alice, bob, carol, g] = [uniqueId('alice'), uniqueId('bob'), uniqueId('carol'), uniqueId('g')];
    await upstream.send([upstream.channel('channel.created', g, 1), upstream.membership('subscribers.added', g, [alice, bob, carol])]);
    await upstream.send([upstream.membership('subscribers.removed', g, [carol]), upstream.message(g, bob), upstream.message(g, alice)]);
    const before = await sync(alice);
    expect(find(before, g)).toMatchObject({ state: ACTIVE });
    const carolBefore = await sync(carol);

    await upstream.send([upstream.channel('channel.deleted', g, 2)]);
    for (const uid of [alice, bob]) expect(find(await sync(uid), g)).toBeUndefined();
    const tombstone = find(await sync(alice, { sinceVersion: before.version }), g);
    expect(tombstone).toMatchObject({ state: LEFT, lastMsgSeq: 2 });
    // Carol had left before: the deletion is no change of hers.
    expect((await sync(carol, { sinceVersion: carolBefore.version })).conversations).toEqual([]);

    // Redelivered, and a message stamped before the deletion arriving late: nothing moves.
    const settled = await sync(alice, { sinceVersion: before.version });
    await upstream.send([upstream.channel('channel.deleted', g, 2), upstream.message(g, bob)]);
    expect(find(await sync(alice), g)).toBeUndefined();
    expect(find(await sync(alice, { sinceVersion: settled.version }), g)).toMatchObject({ state: LEFT, lastMsgSeq: 3 });

    // Created again: the members it kept see it again.
    await upstream.send([upstream.channel('channel.created', g, 3)]);
    expect(find(await sync(alice), g)).toMatchObject({ state: ACTIVE, lastMsgSeq: 3, unread: 1 });
    expect(find(await sync(bob), g)).toMatchObject({ state: ACTIVE, lastMsgSeq: 3 });
  });

  it('G4: a deleted person conversation reappears when the peer writes, counting only new messages; the peer is untouched', async () => {
    const [alice, bob] = [uniqueId('alice'), uniqueId('bob')];
    await upstream.send([upstream.personMessage(bob, alice), upstream.personMessage(bob, alice), upstream.personMessage(alice, bob)]);
    expect(find(await sync(alice), bob)).toMatchObject({ channel: { channelId: bob, channelType: 1 }, state: ACTIVE, unread: 0, lastMsgSeq: 3 });
    const bobBefore = find(await sync(bob), alice);
    expect(bobBefore).toMatchObject({ channel: { channelId: alice, channelType: 1 }, unread: 1, lastMsgSeq: 3 });

    const before = await sync(alice);
    await client.deleteConversation({ uid: alice, channel: { channelId: bob, channelType: 1 } });
    expect(find(await sync(alice), bob)).toBeUndefined();
    expect(find(await sync(alice, { sinceVersion: before.version }), bob)).toMatchObject({ state: DELETED });
    await client.deleteConversation({ uid: alice, channel: { channelId: bob, channelType: 1 } }); // twice: harmless
    expect(find(await sync(bob), alice)).toEqual(bobBefore);

    await upstream.send([upstream.personMessage(bob, alice, { text: 'hello again' })]);
    expect(find(await sync(alice, { msgCount: 10 }), bob)).toMatchObject({
      state: ACTIVE,
      unread: 1,
      lastMsgSeq: 4,
      recents: [{ messageSeq: 4, fromUid: bob, channel: { channelId: bob } }],
    });
    expect(find(await sync(bob), alice)).toMatchObject({ unread: 0, lastMsgSeq: 4 });
    const rows = await db.rows('SELECT delete_floor_seq FROM conversations.cursors WHERE uid = $1', [alice]);
    expect(rows).toEqual([{ delete_floor_seq: '3' }]);
  });

  it('a reset makes the listed uids the only members: the others leave at that version', async () => {
    const [a, b, c, g] = [uniqueId('a'), uniqueId('b'), uniqueId('c'), uniqueId('g')];
    await upstream.send([upstream.membership('subscribers.added', g, [a, b, c]), upstream.message(g, a)]);
    const before = await sync(b);
    await upstream.send([upstream.membership('subscribers.added', g, [a], { reset: true }), upstream.message(g, a)]);
    expect(find(await sync(b), g)).toBeUndefined();
    expect(find(await sync(b, { sinceVersion: before.version }), g)).toMatchObject({ state: LEFT, lastMsgSeq: 1, unread: 1 });
    expect(find(await sync(c), g)).toBeUndefined();
    expect(find(await sync(a), g)).toMatchObject({ state: ACTIVE, lastMsgSeq: 2 });
  });

  it('G5: 50 concurrent first messages to a new group give exactly one row per member', async () => {
    const g = uniqueId('g');
    const members = Array.from({ length: 6 }, (_, i) => uniqueId(`m${i}`));
    const added = upstream.membership('subscribers.added', g, members);
    const messages = Array.from({ length: 50 }, (_, i) => upstream.message(g, members[i % members.length]));
    // Two topics, applied by concurrent partition consumers: the member rows are raced from both sides.
    await Promise.all([upstream.send([added]), upstream.send(messages)]);
    const conv = find(await sync(members[0]), g);
    expect(conv).toMatchObject({ lastMsgSeq: 50, unread: 50 - 49 });
    const rows = await db.rows<{ uid: string; n: string }>(
      'SELECT uid, count(*) AS n FROM conversations.members WHERE channel_type = 2 AND channel_id = $1 GROUP BY uid ORDER BY uid',
      [g],
    );
    expect(rows).toEqual([...members].sort().map((uid) => ({ uid, n: '1' })));
  });

  it('is unchanged when every event is consumed three times', async () => {
    const [a, b, c, g] = [uniqueId('a'), uniqueId('b'), uniqueId('c'), uniqueId('g')];
    const records = [
      upstream.membership('subscribers.added', g, [a, b, c]),
      upstream.message(g, a),
      upstream.message(g, b),
      upstream.membership('subscribers.removed', g, [c]),
      upstream.message(g, a),
      upstream.personMessage(a, b),
      upstream.cmd(a, g), // not ours: skipped, not dead-lettered
      upstream.personMessage(b, a),
    ];
    await upstream.send(records);
    const snapshot = async () => ({
      syncs: await Promise.all([a, b, c].map((uid) => sync(uid, { msgCount: 20 }))),
      rows: await db.rows('SELECT * FROM conversations.members WHERE channel_id IN ($1, $2) ORDER BY uid, channel_id', [g, personId(a, b)]),
      heads: await db.rows('SELECT * FROM conversations.channel_heads WHERE channel_id IN ($1, $2) ORDER BY channel_id', [g, personId(a, b)]),
    });
    const once = await snapshot();
    expect(find(once.syncs[1], g)).toMatchObject({ unread: 1, lastMsgSeq: 3 });
    expect(find(once.syncs[1], a)).toMatchObject({ unread: 0, lastMsgSeq: 2 });
    expect(find(once.syncs[0], b)).toMatchObject({ unread: 1 });
    await upstream.send(records);
    await upstream.send(records);
    expect(await snapshot()).toEqual(once);
  });

  it('G1 under load: unsubscribe then sync, 1,000 times in a tight loop, never lists the channel', async () => {
    const [alice, bob, g] = [uniqueId('alice'), uniqueId('bob'), uniqueId('g')];
    for (let i = 0; i < 1000; i++) {
      await upstream.send([upstream.membership('subscribers.added', g, [alice]), upstream.message(g, bob)]);
      await upstream.send([upstream.membership('subscribers.removed', g, [alice])]);
      const listed = find(await sync(alice), g);
      if (listed) throw new Error(`iteration ${i}: ${g} still listed after the unsubscribe was acknowledged: ${JSON.stringify(listed)}`);
    }
  });

  it('pages 1,000 conversations with equal timestamps, each exactly once, in full and incremental syncs', async () => {
    const [uid, first] = [uniqueId('many'), uniqueId('first')];
    await upstream.send([upstream.personMessage(first, uid)]);
    const start = await sync(uid);
    expect(start.version).toBeGreaterThan(0);
    const peers = Array.from({ length: 1000 }, (_, i) => `${uid}_p${i}`);
    const sentAtMs = Date.now();
    await upstream.send(peers.map((p) => upstream.personMessage(p, uid, { sentAtMs })));

    const fullSeen: string[] = [];
    let page = await sync(uid, { limit: 70 });
    const fullVersion = page.version;
    for (;;) {
      fullSeen.push(...page.conversations.map((c) => c.channel.channelId));
      const versions = page.conversations.map((c) => c.version);
      expect(versions).toEqual([...versions].sort((x, y) => y - x));
      if (!page.hasMore) break;
      page = await sync(uid, { limit: 70, beforeVersion: versions[versions.length - 1] });
      expect(page.version).toBe(fullVersion);
    }
    expect(fullSeen).toHaveLength(1001);
    expect(new Set(fullSeen)).toEqual(new Set([first, ...peers]));

    const incSeen: string[] = [];
    let since = start.version;
    for (;;) {
      const inc = await sync(uid, { sinceVersion: since, limit: 70 });
      incSeen.push(...inc.conversations.map((c) => c.channel.channelId));
      const versions = inc.conversations.map((c) => c.version);
      expect(versions).toEqual([...versions].sort((x, y) => x - y));
      if (versions.length > 0) expect(versions[0]).toBeGreaterThan(since);
      since = inc.version;
      if (!inc.hasMore) break;
    }
    expect(incSeen).toHaveLength(1000);
    expect(new Set(incSeen)).toEqual(new Set(peers));
    expect(since).toBe(fullVersion);
  });

  it('an incremental sync never moves past a change whose transaction began earlier and commits later', async () => {
    const [alice, bob, g, h] = [uniqueId('alice'), uniqueId('bob'), uniqueId('g'), uniqueId('h')];
    const gRef = { channelId: g, channelType: 2 };
    await upstream.send([upstream.membership('subscribers.added', g, [alice, bob]), upstream.membership('subscribers.added', h, [alice, bob])]);
    await upstream.send([upstream.message(g, bob), upstream.message(g, bob)]);
    await client.markRead({ uid: alice, channel: gRef, readSeq: 1 });
    const start = await sync(alice);

    // A MarkRead takes its version, then waits on the cursor row this transaction holds; meanwhile
    // a later transaction (the projection) commits a change of another conversation of the uid.
    const holder = await testDb();
    let markRead: Promise<unknown> | undefined;
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT 1 FROM conversations.cursors WHERE uid = $1 AND channel_id = $2 FOR UPDATE', [alice, g]);
      markRead = client.markRead({ uid: alice, channel: gRef, readSeq: 2 });
      await eventually(async () => {
        const [{ waiting }] = await db.rows<{ waiting: number }>(
          "SELECT count(*)::int AS waiting FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%conversations.cursors%'",
        );
        return waiting === 1;
      }, 'MarkRead waiting on the cursor row');
      await upstream.send([upstream.message(h, bob)]);
      const early = await eventually(async () => {
        const res = await sync(alice, { sinceVersion: start.version });
        expect(find(res, h)).toMatchObject({ lastMsgSeq: 1, unread: 1 });
        return res;
      }, 'the later change answered');
      // Answered, but the cursor stays below the MarkRead still in flight.
      expect(early.version).toBeLessThan(find(early, h)!.version);
      expect(early.hasMore).toBe(false);
      await holder.query('COMMIT');
      await markRead;
      const next = await sync(alice, { sinceVersion: early.version });
      expect(find(next, g)).toMatchObject({ readSeq: 2, unread: 0 });
    } finally {
      await holder.query('ROLLBACK').catch(() => undefined);
      await holder.end();
      await markRead?.catch(() => undefined);
    }
  });

  it('pages a full sync past deleted and left conversations, with filters, each active one exactly once', async () => {
    const uid = uniqueId('mixed');
    const peers = Array.from({ length: 12 }, (_, i) => `${uid}_p${i}`);
    const groups = Array.from({ length: 6 }, (_, i) => `${uid}_g${i}`);
    await upstream.send([
      ...peers.map((p) => upstream.personMessage(p, uid)),
      ...groups.flatMap((g) => [upstream.membership('subscribers.added', g, [uid]), upstream.message(g, uid)]),
    ]);
    for (const p of peers.filter((_, i) => i % 2 === 1)) await client.deleteConversation({ uid, channel: { channelId: p, channelType: 1 } });
    await upstream.send(groups.filter((_, i) => i % 3 === 0).map((g) => upstream.membership('subscribers.removed', g, [uid])));
    await client.markRead({ uid, channel: { channelId: peers[2], channelType: 1 } });

    const pageAll = async (req: Record<string, unknown>) => {
      const seen: string[] = [];
      let page = await sync(uid, { limit: 2, ...req });
      for (;;) {
        seen.push(...page.conversations.map((c) => c.channel.channelId));
        if (!page.hasMore) return seen;
        page = await sync(uid, { limit: 2, ...req, beforeVersion: page.conversations[page.conversations.length - 1].version });
      }
    };
    const activePeers = peers.filter((_, i) => i % 2 === 0);
    const activeGroups = groups.filter((_, i) => i % 3 !== 0);
    const all = await pageAll({});
    expect(all).toHaveLength(activePeers.length + activeGroups.length);
    expect(new Set(all)).toEqual(new Set([...activePeers, ...activeGroups]));
    expect(new Set(await pageAll({ excludeChannelTypes: [2] }))).toEqual(new Set(activePeers));
    expect(new Set(await pageAll({ onlyUnread: true }))).toEqual(new Set(activePeers.filter((p) => p !== peers[2])));
  });

  describe('commands on Kafka (produced by kcat) and bad input', () => {
    let dlq: TopicWatcher;
    beforeAll(async () => {
      dlq = await new TopicWatcher().start([dlqTopicOf(TOPICS.conversationsCommands)]);
    });
    afterAll(async () => {
      await dlq?.stop();
    });

    it('applies conversation.mark_read and conversation.delete from Kafka, and dead-letters the bad ones', async () => {
      const [alice, bob] = [uniqueId('alice'), uniqueId('bob')];
      await upstream.send([upstream.personMessage(bob, alice), upstream.personMessage(bob, alice), upstream.personMessage(bob, alice)]);
      expect(find(await sync(alice), bob)).toMatchObject({ unread: 3 });
      const key = `1:${personId(alice, bob)}`;
      const badKey = `1:${uniqueId('bad')}`;
      // Each bad command is keyed by the channel it names (else it is refused as KEY_MISMATCH first).
      const [noUidKey, badTypeKey] = [`1:${bob}`, `0:${bob}`];
      kcatProduce(TOPICS.conversationsCommands, [
        { key, value: envelope('conversation.mark_read', key, { uid: alice, channel: { channelId: bob, channelType: 1 }, readSeq: 2 }) },
        { key: badKey, value: '{"not": json' },
        { key: noUidKey, value: envelope('conversation.mark_read', noUidKey, { uid: '', channel: { channelId: bob, channelType: 1 } }) },
        { key: badTypeKey, value: envelope('conversation.delete', badTypeKey, { uid: alice, channel: { channelId: bob, channelType: 0 } }) },
      ]);
      await eventually(async () => find(await sync(alice), bob)?.unread === 1, 'mark_read applied');

      const dead = await dlq.waitFor((r) => [badKey, noUidKey, badTypeKey].includes(r.key ?? ''), 'bad commands in the DLQ', 3);
      expect(dead.map((d) => d.headers['x-dlq-error-code']).sort()).toEqual([
        'INVALID_ARGUMENT/EMPTY_ID',
        'INVALID_ARGUMENT/INVALID_CHANNEL_TYPE',
        'MALFORMED_JSON',
      ]);

      kcatProduce(TOPICS.conversationsCommands, [
        { key, value: envelope('conversation.delete', key, { uid: alice, channel: { channelId: bob, channelType: 1 } }) },
      ]);
      await eventually(async () => find(await sync(alice), bob) === undefined, 'delete applied');
      expect(find(await sync(bob), alice)).toMatchObject({ state: ACTIVE, lastMsgSeq: 3 });
    });

    it('dead-letters a malformed upstream event and keeps applying the next ones', async () => {
      const watcher = await new TopicWatcher().start([dlqTopicOf(TOPICS.fanoutEvents)]);
      try {
        const [alice, bob] = [uniqueId('alice'), uniqueId('bob')];
        const key = `1:${personId(alice, bob)}`;
        const good = upstream.personMessage(bob, alice);
        await upstream.send([
          {
            topic: TOPICS.fanoutEvents,
            key,
            value: envelope('message.stored', key, { message: { messageSeq: 0, channel: { channelId: 'x', channelType: 1 } } }),
          },
          good,
        ]);
        expect(find(await sync(alice), bob)).toMatchObject({ state: ACTIVE, unread: 1 });
        const [dead] = await watcher.waitFor((r) => r.key === key, 'malformed event in the DLQ');
        expect(dead.headers).toMatchObject({ 'x-dlq-error-code': 'INVALID_DATA', 'x-dlq-source-topic': TOPICS.fanoutEvents });
      } finally {
        await watcher.stop();
      }
    });

    it.each([
      ['sync: an excluded channel type of 0', () => client.syncConversations({ uid: 'u1', excludeChannelTypes: [0] }), 'INVALID_CHANNEL_TYPE'],
      ['sync: an excluded channel type above 255', () => client.syncConversations({ uid: 'u1', excludeChannelTypes: [256] }), 'INVALID_CHANNEL_TYPE'],
      ['sync: an empty uid', () => client.syncConversations({ uid: '' }), 'EMPTY_ID'],
      ['delete: no channel', () => client.deleteConversation({ uid: 'u1' }), 'MISSING_CHANNEL'],
      ['delete: a malformed peer uid', () => client.deleteConversation({ uid: 'u1', channel: { channelId: 'a b', channelType: 1 } }), 'ID_INVALID_CHARACTERS'],
      ['mark read: channel type 0', () => client.markRead({ uid: 'u1', channel: { channelId: 'g', channelType: 0 }, readSeq: 1 }), 'INVALID_CHANNEL_TYPE'],
      ['mark read: a uid too long', () => client.markRead({ uid: 'u'.repeat(65), channel: { channelId: 'g', channelType: 2 } }), 'ID_TOO_LONG'],
    ])('refuses %s with INVALID_ARGUMENT and stores nothing', async (_label, call, reason) => {
      const before = await db.rows('SELECT count(*) AS n FROM conversations.cursors');
      const error = await call().catch((e) => e);
      expect(reasonOf(error)).toMatchObject({ code: status.INVALID_ARGUMENT, reason });
      expect(await db.rows('SELECT count(*) AS n FROM conversations.cursors')).toEqual(before);
    });
  });

  describe('with two instances sharing the partitions', () => {
    let second: ServiceProcess;
    let secondClient: GrpcTestClient;
    beforeAll(async () => {
      second = await ServiceProcess.start('conversations');
      secondClient = grpcClient('ConversationService', second.grpcAddress);
    });
    afterAll(async () => {
      secondClient?.close();
      await second?.stop();
    });

    it('G1 on any instance: after the unsubscribe is acknowledged, neither instance lists the channel (200 rounds)', async () => {
      const [alice, bob, g] = [uniqueId('alice'), uniqueId('bob'), uniqueId('g')];
      for (let i = 0; i < 200; i++) {
        await upstream.send([upstream.membership('subscribers.added', g, [alice]), upstream.message(g, bob)]);
        const other = i % 2 === 0 ? secondClient : client;
        expect(find(await other.syncConversations({ uid: alice }), g)).toMatchObject({ state: ACTIVE });
        await upstream.send([upstream.membership('subscribers.removed', g, [alice])]);
        const reader = i % 2 === 0 ? client : secondClient;
        const listed = find(await reader.syncConversations({ uid: alice }), g);
        if (listed) throw new Error(`round ${i}: ${g} still listed after the unsubscribe was acknowledged`);
      }
    });
  });
});
