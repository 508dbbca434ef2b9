import { KeptMessageKey, keptSeqs } from '@im/conversations-domain';
import { createServiceDataSource } from '@im/persistence';
import { adminCli, eventually, GrpcTestClient, grpcClient, ServiceProcess, testDb, testEnv, uniqueId } from '@im/testing';
import { DataSource } from 'typeorm';
import { ChannelMessagePruner } from './conversations/channel-message-pruner';
import { CONVERSATIONS_PROJECTION_GROUP } from './conversations/conversations.projection';
import { CONVERSATIONS_MIGRATIONS } from './migrations';
import { personId, Record_, Upstream } from './test/upstream-fixtures';

jest.setTimeout(600_000);

type Answer = { conversations: { channel: { channelId: string }; state: string; version: number; recents: unknown[] }[]; version: number; hasMore: boolean };

/**
 * channel_messages pruned while clients sync: every SyncConversations answer (full and incremental,
 * paged, filtered, members and uids who left or deleted) must be exactly what it was before any
 * pruning, and the table must end at the keep rule's bound. The service's own pruner is off until
 * the last test: the test runs passes itself, in lockstep with syncs or concurrently with them.
 * The tests build on each other and run in order.
 */
describe('pruning channel_messages while syncing (real Kafka and Postgres)', () => {
  let service: ServiceProcess;
  let client: GrpcTestClient;
  let upstream: Upstream;
  let db: Awaited<ReturnType<typeof testDb>>;
  let dataSource: DataSource;
  /** Every message.stored the test produced, by `<type>:<canonical id>`: what the rule is computed from. */
  const sent = new Map<string, (KeptMessageKey & { record: Record_ })[]>();

  beforeAll(async () => {
    service = await ServiceProcess.start('conversations', { MESSAGE_PRUNE_INTERVAL_MS: '0' });
    client = grpcClient('ConversationService', service.grpcAddress);
    upstream = await Upstream.connect();
    db = await testDb();
    dataSource = createServiceDataSource({
      url: testEnv().databaseUrl,
      schema: 'conversations',
      migrations: CONVERSATIONS_MIGRATIONS,
      poolSize: 4,
      applicationName: 'prune-test',
    });
    await dataSource.initialize();
    // A service on a database that is new to this broker first replays what earlier suites produced.
    await eventually(() => client.syncConversations({ uid: uniqueId('warmup') }), 'the projection caught up', 180_000, 500);
    // Earlier suites' channels pruned once, in large statements: the passes below then only meet this suite's.
    const everythingElse = new ChannelMessagePruner(dataSource, { batchSize: 100_000 });
    while ((await everythingElse.pass()).pruned > 0);
  });

  afterAll(async () => {
    client?.close();
    await upstream?.close();
    await db?.end();
    await dataSource?.destroy();
    await service?.stop();
  });

  const sync = (uid: string, req: Record<string, unknown> = {}): Promise<Answer> => client.syncConversations({ uid, ...req });

  async function send(records: Record_[]) {
    for (const r of records) {
      const envelope = JSON.parse(r.value);
      if (envelope.type !== 'message.stored') continue;
      const m = envelope.data.message;
      const key = `${m.channel.channelType}:${m.channel.channelId}`;
      const list = sent.get(key) ?? [];
      if (!list.some((k) => k.seq === m.messageSeq)) list.push({ seq: m.messageSeq, membershipVersion: m.membershipVersion, record: r });
      sent.set(key, list);
    }
    await upstream.send(records);
  }

  const run = (g: string, n: number, from: string[], opts: { membershipVersion?: number } = {}) =>
    Array.from({ length: n }, (_, i) => upstream.message(g, from[i % from.length], { ...opts, text: `${g} #${i} ${'x'.repeat(i % 13)}` }));

  interface Scenario {
    uids: string[];
    /** Keys of the channels in channel_messages. */
    channels: string[];
    /** Each uid's conversation versions taken along the way: where incremental syncs start. */
    versions: Map<string, number[]>;
  }

  /**
   * Two groups with joins and leaves between runs of every length around the kept amount, messages
   * in flight across a leave, two person channels, reads and deletes: every input of a sync answer.
   */
  async function buildScenario(): Promise<Scenario> {
    const [a, b, c, d, e] = ['a', 'b', 'c', 'd', 'e'].map(uniqueId);
    const [g1, g2] = [uniqueId('g1'), uniqueId('g2')];
    const uids = [a, b, c, d, e];
    const versions = new Map<string, number[]>(uids.map((u) => [u, []]));
    const checkpoint = async () => {
      for (const uid of uids) (versions.get(uid) ?? []).push((await sync(uid)).version);
    };
    const ref = (channelId: string, channelType = 2) => ({ channelId, channelType });

    await send([upstream.membership('subscribers.added', g1, [a, b, c]), ...run(g1, 45, [a, b, c])]);
    await send([upstream.membership('subscribers.added', g2, [b, e]), ...run(g2, 3, [b])]);
    await client.markRead({ uid: b, channel: ref(g1), readSeq: 40 });
    await checkpoint();
    // c leaves; one message stamped before the leave arrives after it.
    const beforeLeave = upstream.membershipVersion(g1);
    await send([upstream.membership('subscribers.removed', g1, [c])]);
    await send([...run(g1, 1, [b], { membershipVersion: beforeLeave }), ...run(g1, 30, [a, b])]);
    await send([upstream.membership('subscribers.removed', g2, [e]), ...run(g2, 25, [b])]);
    await send([upstream.membership('subscribers.added', g1, [d]), ...run(g1, 5, [a, d])]);
    await send([upstream.membership('subscribers.added', g2, [e]), ...run(g2, 20, [b, e])]);
    await checkpoint();
    // d deletes g1 now; later messages bring it back with unread counted from the delete.
    await client.deleteConversation({ uid: d, channel: ref(g1) });
    await send([upstream.membership('subscribers.added', g1, [e]), ...run(g1, 27, [b, e])]);
    await send([upstream.membership('subscribers.removed', g2, [e]), ...run(g2, 21, [b])]);
    // a leaves after a run longer than the kept amount: its LEFT view ends there, recents included.
    const beforeSecondLeave = upstream.membershipVersion(g1);
    await send([upstream.membership('subscribers.removed', g1, [a])]);
    await send([...run(g1, 2, [b], { membershipVersion: beforeSecondLeave }), ...run(g1, 3, [b, d])]);
    await checkpoint();
    await send([upstream.membership('subscribers.added', g2, [e]), ...run(g2, 1, [b])]);
    await send([upstream.membership('subscribers.removed', g2, [e]), ...run(g2, 40, [b])]);
    await send([upstream.membership('subscribers.added', g1, [c]), ...run(g1, 50, [b, c, e])]);
    await send([upstream.membership('subscribers.added', g2, [d]), ...run(g2, 7, [b, d])]);
    await client.deleteConversation({ uid: d, channel: ref(g2) }); // nothing after it: stays DELETED
    await checkpoint();
    await send(Array.from({ length: 130 }, (_, i) => upstream.personMessage(i % 3 === 0 ? a : b, i % 3 === 0 ? b : a)));
    await client.markRead({ uid: a, channel: ref(b, 1), readSeq: 60 });
    await client.deleteConversation({ uid: b, channel: ref(a, 1) });
    await send([...Array.from({ length: 30 }, () => upstream.personMessage(a, b)), ...Array.from({ length: 15 }, () => upstream.personMessage(c, a))]);
    await client.markRead({ uid: e, channel: ref(g1) });
    await checkpoint();
    return { uids, channels: [`2:${g1}`, `2:${g2}`, `1:${personId(a, b)}`, `1:${personId(a, c)}`], versions };
  }

  /** Every kind of answer a client can get for the scenario's uids. */
  async function answers(s: Scenario): Promise<Record<string, unknown>> {
    const pages = async (uid: string, req: Record<string, unknown>, full: boolean) => {
      const all: Answer[] = [];
      let page = await sync(uid, req);
      for (all.push(page); page.hasMore; all.push(page)) {
        const last = page.conversations[page.conversations.length - 1];
        page = await sync(uid, full ? { ...req, beforeVersion: last.version } : { ...req, sinceVersion: page.version });
      }
      return all;
    };
    const perUid = await Promise.all(
      s.uids.map(async (uid) => {
        const versions = s.versions.get(uid) ?? [];
        const answer: Record<string, unknown> = {
          full: await sync(uid, { msgCount: 20 }),
          fullPaged: await pages(uid, { msgCount: 20, limit: 1 }, true),
          fullFewRecents: await sync(uid, { msgCount: 3 }),
          onlyUnread: await sync(uid, { msgCount: 7, onlyUnread: true }),
          incrementalPaged: await pages(uid, { sinceVersion: versions[0], msgCount: 20, limit: 1 }, false),
        };
        for (const [i, v] of versions.entries()) answer[`since#${i}`] = await sync(uid, { sinceVersion: v, msgCount: 20 });
        return [uid, answer] as const;
      }),
    );
    return Object.fromEntries(perUid);
  }

  const messagesOf = (key: string) => sent.get(key) ?? [];
  const storedSeqs = async (channels: string[]) => {
    const rows = await db.rows<{ key: string; seqs: string[] }>(
      `SELECT channel_type || ':' || channel_id AS key, array_agg(seq ORDER BY seq) AS seqs FROM conversations.channel_messages
        WHERE channel_type || ':' || channel_id = ANY($1) GROUP BY 1`,
      [channels],
    );
    const stored = Object.fromEntries(rows.map((r) => [r.key, r.seqs.map(Number)]));
    return Object.fromEntries(channels.map((k) => [k, stored[k] ?? []]));
  };
  const everything = (channels: string[]) =>
    Object.fromEntries(
      channels.map((k) => [
        k,
        messagesOf(k)
          .map((m) => m.seq)
          .sort((x, y) => x - y),
      ]),
    );
  const bound = (channels: string[]) => Object.fromEntries(channels.map((k) => [k, keptSeqs(messagesOf(k))]));
  const rowCount = (seqs: Record<string, number[]>) => Object.values(seqs).reduce((n, s) => n + s.length, 0);

  /** The answers say what the scenario meant them to: otherwise "unchanged" would prove little. */
  function expectRichAnswers(baseline: Record<string, unknown>) {
    const convs = Object.values(baseline).flatMap((perUid) =>
      Object.values(perUid as Record<string, Answer | Answer[]>).flatMap((a) => (Array.isArray(a) ? a : [a]).flatMap((x) => x.conversations)),
    ) as unknown as { state: string; unread: number; readSeq: number; recents: unknown[] }[];
    expect(new Set(convs.map((c) => c.state))).toEqual(new Set(['CONVERSATION_STATE_ACTIVE', 'CONVERSATION_STATE_LEFT', 'CONVERSATION_STATE_DELETED']));
    expect(Math.max(...convs.map((c) => c.recents.length))).toBe(20);
    expect(convs.some((c) => c.state === 'CONVERSATION_STATE_LEFT' && c.recents.length === 20)).toBe(true);
    expect(convs.some((c) => c.unread > 20)).toBe(true);
    expect(convs.some((c) => c.readSeq > 0 && c.unread > 0)).toBe(true);
  }

  let first: Scenario;
  let firstBaseline: Record<string, unknown>;

  it('in lockstep: after every prune statement each sync answer is unchanged, until the table holds exactly the rule', async () => {
    first = await buildScenario();
    expect(await storedSeqs(first.channels)).toEqual(everything(first.channels));
    firstBaseline = await answers(first);
    expectRichAnswers(firstBaseline);
    const full = rowCount(everything(first.channels));
    const target = rowCount(bound(first.channels));
    expect(target).toBeLessThan(full - 150);

    // Small statements and slices: many steps, channels finished across passes, and resumed.
    const pruner = new ChannelMessagePruner(dataSource, { batchSize: 16, sliceSize: 3 });
    const counts = [full];
    for (;;) {
      const step = await pruner.pass((progress) => progress.statements >= 1);
      expect(step.outcome).not.toBe('yielded');
      expect(await answers(first)).toEqual(firstBaseline);
      counts.push(rowCount(await storedSeqs(first.channels)));
      if (step.pruned === 0) break;
    }
    expect(counts.length).toBeGreaterThan(8);
    expect(counts).toEqual([...counts].sort((x, y) => y - x));
    expect(await storedSeqs(first.channels)).toEqual(bound(first.channels));
    // Converged: another pass (which also walks other suites' channels) leaves these as they are.
    expect(await pruner.pass()).toMatchObject({ outcome: 'done' });
    expect(await storedSeqs(first.channels)).toEqual(bound(first.channels));
  });

  it('concurrently: two pruners (replicas) and the projection writing, while clients sync; answers unchanged, bound reached', async () => {
    const second = await buildScenario();
    const baseline = await answers(second);
    expectRichAnswers(baseline);
    // Elsewhere, a channel keeps receiving messages while it is pruned.
    const [y, z, busy] = [uniqueId('y'), uniqueId('z'), uniqueId('busy')];
    await send([upstream.membership('subscribers.added', busy, [y, z])]);

    const replicas = [new ChannelMessagePruner(dataSource, { batchSize: 16, sliceSize: 5 }), new ChannelMessagePruner(dataSource, { batchSize: 40 })];
    let writing = true;
    const passes = { done: 0, yielded: 0, stopped: 0, pruned: 0 };
    const pruning = replicas.map(async (pruner) => {
      while (writing) {
        const result = await pruner.pass();
        passes[result.outcome]++;
        passes.pruned += result.pruned;
        await new Promise((r) => setTimeout(r, 5));
      }
    });
    const writer = (async () => {
      for (let i = 0; i < 20; i++) await send(run(busy, 10, [y]));
    })();
    const rounds: Record<string, unknown>[] = [];
    const syncing = (async () => {
      for (let i = 0; i < 3; i++) rounds.push(await answers(second));
    })();
    try {
      await Promise.all([writer, syncing]);
    } finally {
      writing = false;
      await Promise.all(pruning);
    }
    for (const round of rounds) expect(round).toEqual(baseline);
    // Both replicas ran passes while the other held the lock or ran (how many depends on what else the database holds).
    expect(passes.done).toBeGreaterThan(0);
    expect(passes.done + passes.yielded).toBeGreaterThan(1);
    expect(passes.pruned).toBeGreaterThan(0);

    await replicas[0].pass();
    const channels = [...second.channels, `2:${busy}`];
    expect(await storedSeqs(channels)).toEqual(bound(channels));
    expect(await answers(second)).toEqual(baseline);
    expect(await answers(first)).toEqual(firstBaseline);
    const busyView = (await sync(z, { msgCount: 20 })).conversations[0] as unknown as { lastMsgSeq: number; unread: number; recents: { messageSeq: number }[] };
    expect(busyView).toMatchObject({ lastMsgSeq: 200, unread: 200 });
    expect(busyView.recents.map((m) => m.messageSeq)).toEqual(Array.from({ length: 20 }, (_, i) => 181 + i));
  });

  it('after a rebuild, the service prunes the replay again (during and after it) to the same bound, answers unchanged', async () => {
    // A rebuild renumbers versions in the order it applies changes: compare without them, as sets.
    const withoutVersions = (a: Answer) => ({
      ...a,
      version: undefined,
      conversations: a.conversations.map((c) => ({ ...c, version: undefined })).sort((x, y) => x.channel.channelId.localeCompare(y.channel.channelId)),
    });
    const fullSyncs = async (s: Scenario) =>
      Promise.all(s.uids.map(async (uid) => withoutVersions(await eventually(() => sync(uid, { msgCount: 20 }), `sync of ${uid}`, 120_000, 200))));
    const before = await fullSyncs(first);

    await service.stop();
    client.close();
    expect((await adminCli('rebuild', 'conversations', CONVERSATIONS_PROJECTION_GROUP, '--no-wait')).code).toBe(0);
    expect(await db.rows('SELECT * FROM conversations.channel_prune_marks')).toEqual([]);

    service = await ServiceProcess.start('conversations', { MESSAGE_PRUNE_INTERVAL_MS: '100', MESSAGE_PRUNE_BATCH_SIZE: '100' });
    // The replay from offset 0 goes through everything earlier suites left on the shared topics.
    await service.waitCaughtUp();
    client = grpcClient('ConversationService', service.grpcAddress);
    expect(await fullSyncs(first)).toEqual(before);
    const channels = [...sent.keys()];
    await eventually(async () => JSON.stringify(await storedSeqs(channels)) === JSON.stringify(bound(channels)), 'the replay pruned to the bound', 60_000, 200);
    expect(await fullSyncs(first)).toEqual(before);

    const metrics = await (await fetch(`http://127.0.0.1:${service.httpPort}/metrics`)).text();
    const pruned = Number(/^im_conversations_messages_pruned_total (\d+)/m.exec(metrics)?.[1]);
    expect(pruned).toBeGreaterThanOrEqual(rowCount(everything(channels)) - rowCount(bound(channels)));
    expect(metrics).toMatch(/^im_conversations_prune_passes_total\{result="done"\} [1-9]/m);
  });

  it('a duplicate of a pruned message is stored again and changes no answer; one in the head version goes with the next pass', async () => {
    // Produced again as fanout's outbox would after a crash between publishing and recording it:
    // identical records at new offsets, which the projection applies as new.
    // The rebuild renumbered versions: the answers to compare with are those of now.
    const baseline = await answers(first);
    const [g1, , person] = first.channels;
    const seqs = await storedSeqs([g1, person]);
    const prunedOf = (key: string) => messagesOf(key).filter((m) => !seqs[key].includes(m.seq));
    const oldVersion = prunedOf(g1).slice(0, 3);
    const headVersion = prunedOf(person).slice(-3);
    expect([oldVersion.length, headVersion.length]).toEqual([3, 3]);
    await upstream.send([...oldVersion, ...headVersion].map((m) => m.record));
    expect(await answers(first)).toEqual(baseline);
    const withDuplicates = await storedSeqs([g1, person]);
    expect(withDuplicates[g1]).toEqual([...oldVersion.map((m) => m.seq), ...bound([g1])[g1]].sort((x, y) => x - y));
    expect(withDuplicates[person]).toEqual([...headVersion.map((m) => m.seq), ...bound([person])[person]].sort((x, y) => x - y));

    // The next message of the person channel brings it back into a pass, which scans its head
    // version whole: the duplicates there go. Those in an older version of g1 stay (ADR 14).
    const [a, b] = first.uids;
    await send([upstream.personMessage(b, a)]);
    await eventually(
      async () => JSON.stringify((await storedSeqs([person]))[person]) === JSON.stringify(bound([person])[person]),
      'the person channel pruned',
      30_000,
      200,
    );
    expect((await storedSeqs([g1]))[g1]).toEqual(withDuplicates[g1]);
  });
});
