import { adminCli, eventually, GrpcTestClient, grpcClient, ServiceProcess, testDb, uniqueId } from '@im/testing';
import { CONVERSATIONS_PROJECTION_GROUP } from './conversations/conversations.projection';
import { personId, Upstream } from './test/upstream-fixtures';

jest.setTimeout(300_000);

/**
 * G5's last clause: a replay of every topic from offset 0 into empty projections yields identical
 * projections, versions included: the version ledger gives every replayed event the version of its
 * first application (ADR 15), so nobody's conversation list is reordered and incremental cursors
 * held by clients stay valid.
 */
describe('rebuilding the conversations read model from offset 0', () => {
  let service: ServiceProcess | undefined;
  let upstream: Upstream;
  let db: Awaited<ReturnType<typeof testDb>>;
  /** What an operator runs: the admin CLI's rebuild of the read model (the service must be stopped). */
  const rebuild = () => adminCli('rebuild', 'conversations', CONVERSATIONS_PROJECTION_GROUP, '--no-wait');

  beforeAll(async () => {
    upstream = await Upstream.connect();
    db = await testDb();
  });

  afterAll(async () => {
    await upstream?.close();
    await db?.end();
    await service?.stop();
  });

  it('yields identical projections and conversation lists after a replay, keeping deletes and reads', async () => {
    service = await ServiceProcess.start('conversations');
    let client: GrpcTestClient = grpcClient('ConversationService', service.grpcAddress);
    const [a, b, c, g, gone] = [uniqueId('a'), uniqueId('b'), uniqueId('c'), uniqueId('g'), uniqueId('gone')];
    const channels = [g, gone, personId(a, b), personId(a, c)];
    const records = [
      upstream.membership('subscribers.added', g, [a, b, c]),
      upstream.message(g, a),
      upstream.message(g, b),
      upstream.membership('subscribers.removed', g, [c]),
      upstream.message(g, a, { membershipVersion: 1 }), // in flight when c left
      upstream.message(g, b),
      upstream.membership('subscribers.added', g, [c]),
      upstream.message(g, a),
      upstream.personMessage(a, b),
      upstream.personMessage(b, a),
      upstream.personMessage(c, a),
      upstream.membership('subscribers.added', gone, [a, b]),
      upstream.message(gone, b),
      upstream.channel('channel.deleted', gone, 2),
    ];
    await upstream.send(records);
    await upstream.send(records); // redelivered: changes nothing, before or after the rebuild
    await client.markRead({ uid: b, channel: { channelId: g, channelType: 2 }, readSeq: 3 });
    await client.deleteConversation({ uid: a, channel: { channelId: c, channelType: 1 } });

    const dump = async () => ({
      messages: await db.rows('SELECT * FROM conversations.channel_messages WHERE channel_id = ANY($1) ORDER BY channel_id, seq', [channels]),
      heads: await db.rows(
        'SELECT channel_type, channel_id, last_seq, last_sent_at_ms, membership_version, version FROM conversations.channel_heads WHERE channel_id = ANY($1) ORDER BY channel_id',
        [channels],
      ),
      members: await db.rows(
        `SELECT uid, channel_type, channel_id, join_version, left_version, applied_version, own_last_sent_seq, updated_at_ms, version
           FROM conversations.members WHERE channel_id = ANY($1) ORDER BY uid, channel_id`,
        [channels],
      ),
      cursors: await db.rows('SELECT * FROM conversations.cursors WHERE channel_id = ANY($1) ORDER BY uid, channel_id', [channels]),
      states: await db.rows(
        'SELECT channel_type, channel_id, channel_version, deleted, changed_version FROM conversations.channel_states WHERE channel_id = ANY($1)',
        [channels],
      ),
    });
    const lists = async (): Promise<unknown[]> =>
      Promise.all(
        [a, b, c].map(async (uid) => {
          // The first sync after a restart may wait for the whole replay: retry while the barrier says UNAVAILABLE.
          const res = await eventually(() => client.syncConversations({ uid, msgCount: 20 }), `sync of ${uid}`, 120_000, 200);
          return res.conversations;
        }),
      );

    const listsBefore = await lists();
    const before = await dump();
    expect(before.members.length).toBe(3 + 2 + 2 + 2);
    expect(before.states).toEqual([{ channel_type: 2, channel_id: gone, channel_version: '2', deleted: true, changed_version: expect.any(String) }]);
    expect(before.cursors.length).toBe(2);

    const refused = await rebuild();
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/stop every instance of conversations first/);

    await service.stop();
    client.close();
    expect((await rebuild()).code).toBe(0);
    const cleared = await dump();
    expect([cleared.messages, cleared.heads, cleared.members, cleared.states]).toEqual([[], [], [], []]);
    expect(cleared.cursors).toEqual(before.cursors);

    service = await ServiceProcess.start('conversations');
    // The replay from offset 0 goes through everything earlier suites left on the shared topics.
    await service.waitCaughtUp();
    client = grpcClient('ConversationService', service.grpcAddress);
    const listsAfter = await lists();
    expect(await dump()).toEqual(before);
    expect(listsAfter).toEqual(listsBefore);
    client.close();
  });

  it('gives each of 20 users the same list, in the same order, after a rebuild, and keeps their incremental cursors valid', async () => {
    service ??= await ServiceProcess.start('conversations');
    let client: GrpcTestClient = grpcClient('ConversationService', service.grpcAddress);
    const users = Array.from({ length: 20 }, (_, i) => uniqueId(`u${i}`));
    const groups = Array.from({ length: 8 }, (_, i) => uniqueId(`grp${i}`));
    const membersOf = (i: number) => users.filter((_, u) => (u + i) % 3 !== 0);
    await upstream.send(groups.map((g, i) => upstream.membership('subscribers.added', g, membersOf(i))));
    const sync = (uid: string, req: Record<string, unknown> = {}) =>
      eventually(() => client.syncConversations({ uid, msgCount: 2, limit: 100, ...req }), `sync of ${uid}`, 120_000, 200);
    // Rounds apart in time, each touching channels on several partitions of two topics, so the
    // first application and the replay cut them into different slices in different orders.
    let cursors: number[] = [];
    for (let round = 0; round < 6; round++) {
      const records = [
        ...groups.filter((_, i) => (i + round) % 2 === 0).map((g, i) => upstream.message(g, membersOf(i)[round % membersOf(i).length])),
        ...users.slice(round, round + 4).map((u, i) => upstream.personMessage(u, users[(round + i + 7) % users.length])),
      ];
      if (round === 3) records.push(upstream.membership('subscribers.removed', groups[round], [membersOf(round)[0]]));
      await upstream.send(records);
      if (round === 2) cursors = (await Promise.all(users.map((uid) => sync(uid)))).map((r) => r.version);
      await new Promise((resolve) => setTimeout(resolve, 150));
    }
    await client.markRead({ uid: users[1], channel: { channelId: groups[0], channelType: 2 }, readSeq: 1 });
    await client.deleteConversation({ uid: users[2], channel: { channelId: groups[2], channelType: 2 } });

    const everyone = () => Promise.all(users.map(async (uid, i) => ({ full: await sync(uid), incremental: await sync(uid, { sinceVersion: cursors[i] }) })));
    const before = await everyone();
    expect(before.filter((b) => b.full.conversations.length > 3)).toHaveLength(20);

    await service.stop();
    client.close();
    expect((await rebuild()).code).toBe(0);
    service = await ServiceProcess.start('conversations');
    // The replay from offset 0 goes through everything earlier suites left on the shared topics.
    await service.waitCaughtUp();
    client = grpcClient('ConversationService', service.grpcAddress);
    const after = await everyone();
    for (const [i, uid] of users.entries()) {
      const order = (answer: { conversations: { channel: { channelId: string } }[] }) => answer.conversations.map((c) => c.channel.channelId);
      expect({ uid, order: order(after[i].full) }).toEqual({ uid, order: order(before[i].full) });
    }
    expect(after).toEqual(before);
    client.close();
  });
});
