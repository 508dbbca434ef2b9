import { createServiceDataSource } from '@im/persistence';
import { eventually, GrpcTestClient, grpcClient, ServiceProcess, testDb, testEnv, testKafka, uniqueId } from '@im/testing';
import { Admin } from 'kafkajs';
import { DataSource } from 'typeorm';
import { CONVERSATIONS_MIGRATIONS } from './migrations';
import { rebuildReadModel } from './rebuild/rebuild-read-model';
import { personId, Upstream } from './test/upstream.test';

jest.setTimeout(300_000);

/**
 * G5's last clause: a replay of every topic from offset 0 into empty projections yields identical
 * projections. Versions are left out of the comparison on purpose: they number changes in the order
 * this instance applied them (which differs between runs), and a rebuild keeps the counter so they
 * only grow.
 */
describe('rebuilding the conversations read model from offset 0', () => {
  let service: ServiceProcess | undefined;
  let upstream: Upstream;
  let db: Awaited<ReturnType<typeof testDb>>;
  let dataSource: DataSource;
  let admin: Admin;

  beforeAll(async () => {
    upstream = await Upstream.connect();
    db = await testDb();
    dataSource = createServiceDataSource({ url: testEnv().databaseUrl, schema: 'conversations', migrations: CONVERSATIONS_MIGRATIONS, poolSize: 2, applicationName: 'rebuild-test' });
    await dataSource.initialize();
    admin = testKafka().admin();
    await admin.connect();
  });

  afterAll(async () => {
    await upstream?.close();
    await db?.end();
    await dataSource?.destroy();
    await admin?.disconnect();
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
        'SELECT channel_type, channel_id, last_seq, last_sent_at_ms, membership_version FROM conversations.channel_heads WHERE channel_id = ANY($1) ORDER BY channel_id',
        [channels],
      ),
      members: await db.rows(
        `SELECT uid, channel_type, channel_id, join_version, left_version, applied_version, own_last_sent_seq, updated_at_ms
           FROM conversations.members WHERE channel_id = ANY($1) ORDER BY uid, channel_id`,
        [channels],
      ),
      cursors: await db.rows('SELECT * FROM conversations.cursors WHERE channel_id = ANY($1) ORDER BY uid, channel_id', [channels]),
      states: await db.rows('SELECT channel_type, channel_id, channel_version, deleted FROM conversations.channel_states WHERE channel_id = ANY($1)', [channels]),
    });
    const lists = async (): Promise<unknown[]> =>
      Promise.all(
        [a, b, c].map(async (uid) => {
          // The first sync after a restart may wait for the whole replay: retry while the barrier says UNAVAILABLE.
          const res = await eventually(() => client.syncConversations({ uid, msgCount: 20 }), `sync of ${uid}`, 120_000, 200);
          // Order follows versions, which number changes in apply order: compare as sets.
          return res.conversations
            .map(({ version: _v, ...rest }: { version: number; channel: { channelId: string } }) => rest)
            .sort((x: { channel: { channelId: string } }, y: { channel: { channelId: string } }) => x.channel.channelId.localeCompare(y.channel.channelId));
        }),
      );

    const listsBefore = await lists();
    const before = await dump();
    expect(before.members.length).toBe(3 + 2 + 2 + 2);
    expect(before.states).toEqual([{ channel_type: 2, channel_id: gone, channel_version: '2', deleted: true }]);
    expect(before.cursors.length).toBe(2);

    await expect(rebuildReadModel(dataSource, admin)).rejects.toThrow(/still running/);

    await service.stop();
    client.close();
    await rebuildReadModel(dataSource, admin);
    const cleared = await dump();
    expect([cleared.messages, cleared.heads, cleared.members, cleared.states]).toEqual([[], [], [], []]);
    expect(cleared.cursors).toEqual(before.cursors);

    service = await ServiceProcess.start('conversations');
    client = grpcClient('ConversationService', service.grpcAddress);
    const listsAfter = await lists();
    expect(await dump()).toEqual(before);
    expect(listsAfter).toEqual(listsBefore);
    client.close();
  });
});
