import { status } from '@grpc/grpc-js';
import { TOPICS } from '@im/contracts';
import { encodePageToken } from '@im/subscriptions-domain';
import { GrpcTestClient, grpcClient, reasonOf, ServiceProcess, testDb, TopicWatcher, uniqueId } from '@im/testing';
import { EntityManager } from 'typeorm';
import { MembershipRepository } from './subscriptions/membership.repository';

jest.setTimeout(180_000);

type Db = Awaited<ReturnType<typeof testDb>>;

describe('subscriptions service over gRPC, on real Kafka and Postgres', () => {
  let channelsService: ServiceProcess;
  let service: ServiceProcess;
  let channels: GrpcTestClient;
  let subs: GrpcTestClient;
  let watcher: TopicWatcher;
  let db: Db;

  beforeAll(async () => {
    // One after the other: on a fresh broker, two processes creating the same topics at once can trip each other.
    channelsService = await ServiceProcess.start('channels');
    service = await ServiceProcess.start('subscriptions');
    channels = grpcClient('ChannelService', channelsService.grpcAddress);
    subs = grpcClient('SubscriptionService', service.grpcAddress);
    watcher = await new TopicWatcher().start([TOPICS.subscriptionsEvents]);
    db = await testDb();
  });

  afterAll(async () => {
    channels?.close();
    subs?.close();
    await watcher?.stop();
    await db?.end();
    await Promise.all([service?.stop(), channelsService?.stop()]);
  });

  const group = () => ({ channelId: uniqueId('g'), channelType: 2 });
  const created = async () => {
    const channel = group();
    await channels.createChannel({ channel });
    return channel;
  };
  const keyOf = (channel: { channelId: string; channelType: number }) => `${channel.channelType}:${channel.channelId}`;
  const eventsOf = async (channel: { channelId: string; channelType: number }, count: number) =>
    (await watcher.waitFor((r) => r.key === keyOf(channel), `${count} events of ${keyOf(channel)}`, count)).map((r) => ({
      record: r,
      envelope: JSON.parse(r.value ?? 'null'),
    }));
  const listAll = async (channel: { channelId: string; channelType: number }, pageSize = 0) => {
    const uids: string[] = [];
    let pageToken = '';
    let pages = 0;
    do {
      const page = await subs.listSubscribers({ channel, pageSize, pageToken });
      uids.push(...page.uids);
      pageToken = page.nextPageToken;
      pages++;
    } while (pageToken);
    return { uids, pages };
  };
  const errorOf = (p: Promise<unknown>) =>
    p.then(
      () => undefined,
      (e) => reasonOf(e),
    );

  it('adds subscribers to a new channel and lists them in uid order with the membership version', async () => {
    const channel = await created();
    expect(await subs.addSubscribers({ channel, uids: ['carol', 'alice', 'bob', 'alice'] })).toEqual({ membershipVersion: 1 });
    expect(await subs.listSubscribers({ channel })).toEqual({ uids: ['alice', 'bob', 'carol'], nextPageToken: '', membershipVersion: 1 });

    expect(await subs.removeSubscribers({ channel, uids: ['bob'] })).toEqual({ membershipVersion: 2 });
    expect(await subs.listSubscribers({ channel })).toEqual({ uids: ['alice', 'carol'], nextPageToken: '', membershipVersion: 2 });
  });

  it('publishes membership events keyed by channel, in a versioned envelope, in version order', async () => {
    const channel = await created();
    await subs.addSubscribers({ channel, uids: ['b', 'a'] });
    await subs.removeSubscribers({ channel, uids: ['a'] });
    const events = await eventsOf(channel, 2);
    expect(events.map(({ envelope }) => [envelope.type, envelope.data])).toEqual([
      ['subscribers.added', { channel, uids: ['a', 'b'], membershipVersion: 1 }],
      ['subscribers.removed', { channel, uids: ['a'], membershipVersion: 2 }],
    ]);
    for (const { envelope, record } of events) {
      expect(envelope).toMatchObject({ version: 1, key: keyOf(channel) });
      expect(envelope.id).toMatch(/^[0-9a-f-]{36}$/);
      expect(Number.isNaN(Date.parse(envelope.occurred_at))).toBe(false);
      expect(record.headers['x-event-type']).toBe(envelope.type);
    }
    expect(new Set(events.map((e) => e.record.partition)).size).toBe(1);
  });

  it('treats adding a member again and removing a non-member as no-ops: same version, no event', async () => {
    const channel = await created();
    await subs.addSubscribers({ channel, uids: ['a', 'b'] });
    expect(await subs.addSubscribers({ channel, uids: ['b', 'a'] })).toEqual({ membershipVersion: 1 });
    expect(await subs.removeSubscribers({ channel, uids: ['zed'] })).toEqual({ membershipVersion: 1 });
    // A later change proves the no-ops published nothing in between: it is the second event, at version 2.
    expect(await subs.addSubscribers({ channel, uids: ['c'] })).toEqual({ membershipVersion: 2 });
    const events = await eventsOf(channel, 2);
    expect(events.map(({ envelope }) => envelope.data.membershipVersion)).toEqual([1, 2]);
    const rows = await db.rows<{ n: number }>('SELECT count(*)::int AS n FROM subscriptions.events WHERE stream_id = $1', [keyOf(channel)]);
    expect(rows[0].n).toBe(2);
  });

  it('with reset makes the list the whole membership, removals published before additions', async () => {
    const channel = await created();
    await subs.addSubscribers({ channel, uids: ['a', 'b', 'c'] });
    expect(await subs.addSubscribers({ channel, uids: ['c', 'd'], reset: true })).toEqual({ membershipVersion: 3 });
    expect((await subs.listSubscribers({ channel })).uids).toEqual(['c', 'd']);
    const events = await eventsOf(channel, 3);
    expect(events.map(({ envelope }) => [envelope.type, envelope.data.uids, envelope.data.membershipVersion, envelope.data.reset])).toEqual([
      ['subscribers.added', ['a', 'b', 'c'], 1, undefined],
      ['subscribers.removed', ['a', 'b'], 2, true],
      ['subscribers.added', ['d'], 3, true],
    ]);
    expect(await subs.addSubscribers({ channel, uids: [], reset: true })).toEqual({ membershipVersion: 4 });
    expect(await subs.listSubscribers({ channel })).toEqual({ uids: [], nextPageToken: '', membershipVersion: 4 });
  });

  it('answers NOT_FOUND / CHANNEL_NOT_FOUND for a channel never created, and for a deleted one until it is created again', async () => {
    const unknown = group();
    const notFound = { code: status.NOT_FOUND, reason: 'CHANNEL_NOT_FOUND' };
    expect(await errorOf(subs.addSubscribers({ channel: unknown, uids: ['a'] }))).toMatchObject(notFound);
    expect(await errorOf(subs.removeSubscribers({ channel: unknown, uids: ['a'] }))).toMatchObject(notFound);
    expect(await errorOf(subs.listSubscribers({ channel: unknown }))).toMatchObject(notFound);

    const channel = await created();
    await subs.addSubscribers({ channel, uids: ['a'] });
    await channels.deleteChannel({ channel });
    expect(await errorOf(subs.addSubscribers({ channel, uids: ['b'] }))).toMatchObject(notFound);
    expect(await errorOf(subs.listSubscribers({ channel }))).toMatchObject(notFound);

    await channels.createChannel({ channel });
    expect(await subs.addSubscribers({ channel, uids: ['b'] })).toEqual({ membershipVersion: 2 });
    expect((await subs.listSubscribers({ channel })).uids).toEqual(['a', 'b']);
    const stored = await db.rows('SELECT 1 FROM subscriptions.member_intervals WHERE channel_id = $1', [unknown.channelId]);
    expect(stored).toHaveLength(0);
  });

  it('sees a channel created just before, every time (read-your-writes across services, no sleep)', async () => {
    for (let i = 0; i < 50; i++) {
      const channel = group();
      await channels.createChannel({ channel });
      expect(await subs.addSubscribers({ channel, uids: [`u${i}`] })).toEqual({ membershipVersion: 1 });
    }
  });

  it('adds 10,000 uids in one call as exactly 10 events of 1000, version +10, all listed over pages', async () => {
    const channel = await created();
    await subs.addSubscribers({ channel, uids: ['existing'] });
    const uids = Array.from({ length: 10_000 }, (_, i) => `m${String(i).padStart(5, '0')}`);
    expect(await subs.addSubscribers({ channel, uids: [...uids].reverse() })).toEqual({ membershipVersion: 11 });

    const events = await eventsOf(channel, 11);
    const bulk = events.slice(1).map(({ envelope }) => envelope);
    expect(bulk.map((e) => e.data.membershipVersion)).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    expect(bulk.every((e) => e.type === 'subscribers.added' && e.data.uids.length === 1000)).toBe(true);
    expect(bulk.flatMap((e) => e.data.uids)).toEqual(uids);

    const listed = await listAll(channel, 3000);
    expect(listed.pages).toBe(4);
    expect(listed.uids).toEqual(['existing', ...uids]);
    expect((await listAll(channel)).uids).toHaveLength(10_001);
    // One more change is the 12th event: once it is seen, everything before it on the partition was too.
    expect(await subs.removeSubscribers({ channel, uids: ['existing'] })).toEqual({ membershipVersion: 12 });
    await eventsOf(channel, 12);
    expect(watcher.records.filter((r) => r.key === keyOf(channel))).toHaveLength(12);
  });

  it('lists every member present throughout exactly once while others join and leave between pages', async () => {
    const channel = await created();
    const stable = Array.from({ length: 300 }, (_, i) => `s${String(i).padStart(3, '0')}`);
    const churn = Array.from({ length: 300 }, (_, i) => `s${String(i).padStart(3, '0')}x`);
    await subs.addSubscribers({ channel, uids: stable });

    // Each page is read while one churn step (some join, some leave) runs alongside it.
    const churnStep = async (i: number) => {
      const batch = churn.slice((i * 7) % 280, ((i * 7) % 280) + 20);
      await subs.addSubscribers({ channel, uids: batch });
      await subs.removeSubscribers({ channel, uids: batch.slice(0, 10) });
    };
    const seen: string[] = [];
    const versions: number[] = [];
    let pageToken = '';
    for (let i = 0; i === 0 || pageToken; i++) {
      const [page] = await Promise.all([subs.listSubscribers({ channel, pageSize: 17, pageToken }), churnStep(i)]);
      seen.push(...page.uids);
      versions.push(Number(page.membershipVersion));
      pageToken = page.nextPageToken;
    }
    expect(seen.filter((u) => !u.endsWith('x'))).toEqual(stable);
    expect(new Set(seen).size).toBe(seen.length);
    expect([...seen].sort()).toEqual(seen);
    expect(new Set(versions).size).toBeGreaterThan(1); // the membership really changed while listing
  });

  it('pages with opaque tokens bound to the channel and refuses foreign or garbage tokens', async () => {
    const channel = await created();
    await subs.addSubscribers({ channel, uids: ['a', 'b', 'c'] });
    const first = await subs.listSubscribers({ channel, pageSize: 2 });
    expect(first).toMatchObject({ uids: ['a', 'b'], membershipVersion: 1 });
    expect(await subs.listSubscribers({ channel, pageSize: 2, pageToken: first.nextPageToken })).toEqual({
      uids: ['c'],
      nextPageToken: '',
      membershipVersion: 1,
    });

    const other = await created();
    const invalid = { code: status.INVALID_ARGUMENT, reason: 'INVALID_PAGE_TOKEN' };
    expect(await errorOf(subs.listSubscribers({ channel: other, pageToken: first.nextPageToken }))).toMatchObject(invalid);
    expect(await errorOf(subs.listSubscribers({ channel, pageToken: 'garbage!' }))).toMatchObject(invalid);
    expect(await errorOf(subs.listSubscribers({ channel, pageToken: encodePageToken(other, 'a') }))).toMatchObject(invalid);
  });

  describe('bad input', () => {
    const cases: [string, (channelId: string) => Record<string, unknown>, string][] = [
      ['an empty uid', (id) => ({ channel: { channelId: id, channelType: 2 }, uids: ['ok', ''] }), 'EMPTY_ID'],
      ['a uid of 65 characters', (id) => ({ channel: { channelId: id, channelType: 2 }, uids: ['u'.repeat(65)] }), 'ID_TOO_LONG'],
      ['a uid with bad characters', (id) => ({ channel: { channelId: id, channelType: 2 }, uids: ['ok', 'no spaces'] }), 'ID_INVALID_CHARACTERS'],
      ['channel_type 0', (id) => ({ channel: { channelId: id, channelType: 0 }, uids: ['a'] }), 'INVALID_CHANNEL_TYPE'],
      ['channel_type 256', (id) => ({ channel: { channelId: id, channelType: 256 }, uids: ['a'] }), 'INVALID_CHANNEL_TYPE'],
      ['10,001 uids', (id) => ({ channel: { channelId: id, channelType: 2 }, uids: Array.from({ length: 10_001 }, (_, i) => `u${i}`) }), 'TOO_MANY_UIDS'],
      ['no uids', (id) => ({ channel: { channelId: id, channelType: 2 }, uids: [] }), 'EMPTY_UIDS'],
      ['no channel', () => ({ uids: ['a'] }), 'MISSING_CHANNEL'],
      ['a person channel', () => ({ channel: { channelId: 'alice|bob', channelType: 1 }, uids: ['carol'] }), 'PERSON_CHANNEL_MEMBERSHIP'],
    ];

    it.each(cases)('refuses %s with INVALID_ARGUMENT and its reason, storing and publishing nothing', async (_label, make, reason) => {
      const channel = await created();
      const request = make(channel.channelId);
      const before = await db.rows<{ n: number }>('SELECT count(*)::int AS n FROM subscriptions.events');

      const add = await errorOf(subs.addSubscribers(request));
      expect(add).toMatchObject({ code: status.INVALID_ARGUMENT, reason });
      expect(add?.details).toContain(reason);
      if (reason !== 'EMPTY_UIDS') expect(await errorOf(subs.removeSubscribers(request))).toMatchObject({ code: status.INVALID_ARGUMENT, reason });

      const after = await db.rows<{ n: number }>('SELECT count(*)::int AS n FROM subscriptions.events');
      expect(after[0].n).toBe(before[0].n);
      const stored = await db.rows('SELECT 1 FROM subscriptions.member_intervals WHERE channel_id = $1', [channel.channelId]);
      expect(stored).toHaveLength(0);
      const versions = await db.rows('SELECT 1 FROM subscriptions.channel_memberships WHERE channel_id = $1', [channel.channelId]);
      expect(versions).toHaveLength(0);
      // A good request afterwards is the channel's first event, at version 1: nothing went out before it.
      expect(await subs.addSubscribers({ channel, uids: ['good'] })).toEqual({ membershipVersion: 1 });
      expect((await eventsOf(channel, 1))[0].envelope.data).toEqual({ channel, uids: ['good'], membershipVersion: 1 });
    });

    it('refuses ListSubscribers for a person channel', async () => {
      expect(await errorOf(subs.listSubscribers({ channel: { channelId: 'alice|bob', channelType: 1 } }))).toMatchObject({
        code: status.INVALID_ARGUMENT,
        reason: 'PERSON_CHANNEL_MEMBERSHIP',
      });
    });
  });

  it('keeps membership intervals, so the members at any past version are answerable', async () => {
    const channel = await created();
    await subs.addSubscribers({ channel, uids: ['a', 'b'] }); // v1
    await subs.removeSubscribers({ channel, uids: ['a'] }); // v2
    await subs.addSubscribers({ channel, uids: ['c'] }); // v3
    await subs.addSubscribers({ channel, uids: ['a'] }); // v4: a re-joins
    await subs.addSubscribers({ channel, uids: ['c'], reset: true }); // v5: a and b leave
    // The repository's query, run against the real tables through a minimal EntityManager.
    const em = { query: (sql: string, params: unknown[]) => db.rows(sql, params) } as unknown as EntityManager;
    const repository = new MembershipRepository();
    const at = (v: number) => repository.membersAt(em, channel, v, undefined, 100);
    const members: string[][] = [];
    for (const v of [0, 1, 2, 3, 4, 5]) members.push(await at(v));
    expect(members).toEqual([[], ['a', 'b'], ['b'], ['b', 'c'], ['a', 'b', 'c'], ['c']]);
    expect(await repository.membersAt(em, channel, 4, 'a', 1)).toEqual(['b']);
    const intervals = await db.rows(
      'SELECT joined_version::int AS j, left_version::int AS l FROM subscriptions.member_intervals WHERE channel_id = $1 AND uid = $2 ORDER BY 1',
      [channel.channelId, 'a'],
    );
    expect(intervals).toEqual([
      { j: 1, l: 2 },
      { j: 4, l: 5 },
    ]);
  });

  it('keeps membership versions gapless under concurrent requests on one channel', async () => {
    const channel = await created();
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => subs.addSubscribers({ channel, uids: [`c${i}`] })));
    expect(results.map((r) => Number(r.membershipVersion)).sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    const events = await eventsOf(channel, 20);
    expect(events.map(({ envelope }) => envelope.data.membershipVersion)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
  });
});
