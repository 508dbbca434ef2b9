import { status } from '@grpc/grpc-js';
import { TOPICS } from '@im/contracts';
import {
  adminCliWith,
  eventually,
  grpcClient,
  kcatProduce,
  SecondBroker,
  separateTestDatabase,
  ServiceProcess,
  testDb,
  testEnv,
  testKafka,
  uniqueId,
} from '@im/testing';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { Admin } from 'kafkajs';

jest.setTimeout(300_000);

const envelope = (type: string, key: string, data: unknown) =>
  JSON.stringify({ id: randomUUID(), type, version: 1, occurred_at: new Date().toISOString(), key, data });

const readiness = async (s: ServiceProcess) => {
  const res = await fetch(`http://127.0.0.1:${s.httpPort}/health/ready`);
  return { status: res.status, body: (await res.json()) as { checks: Record<string, { up: boolean; error?: string }> } };
};

const metric = async (s: ServiceProcess, name: string, labels: string) => {
  const text = await (await fetch(`http://127.0.0.1:${s.httpPort}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line === undefined ? undefined : Number(line.split(' ').pop());
};

/**
 * A consumer that kafkajs gives up on leaves its group for good. Before, the service kept reporting
 * ready while every later command was ignored; now it is restarted with backoff, readiness and
 * metrics name it while it is down, and it consumes again once the cause is gone.
 */
describe('a consumer that crashes', () => {
  const GROUP = 'subscriptions.commands';
  const TOPIC = TOPICS.subscriptionsCommands;
  let service: ServiceProcess | undefined;
  let admin: Admin;
  let db: Awaited<ReturnType<typeof testDb>>;

  beforeAll(async () => {
    admin = testKafka().admin();
    await admin.connect();
    db = await testDb();
  });

  afterAll(async () => {
    await service?.stop();
    await admin?.disconnect();
    await db?.end();
  });

  it('is restarted with backoff, reported not ready meanwhile, and consumes again once the record it cannot decode is gone', async () => {
    // The services decode snappy; this one is started without it (a test fault), so fetching a
    // snappy batch throws before any handler runs, as a batch kafkajs cannot decode would.
    service = await ServiceProcess.start(
      'subscriptions',
      { CONSUMER_RESTART_MAX_BACKOFF_MS: '2000' },
      { nodeArgs: ['--require', join(__dirname, 'faults', 'kafkajs-without-snappy.cjs')] },
    );
    const key = `2:${uniqueId('snappy')}`;
    const [before] = (await admin.fetchTopicOffsets(TOPIC)).filter((p) => p.partition === 0);
    kcatProduce(TOPIC, [{ key, value: envelope('subscribers.add', key, { channel: { channelId: key.slice(2), channelType: 2 }, uids: ['u1'] }) }], {
      compression: 'snappy',
      partition: 0,
    });

    const down = await eventually(async () => {
      const r = await readiness(service!);
      return r.status === 503 && r.body.checks[`consumer:${GROUP}`]?.up === false ? r : undefined;
    }, 'readiness to report the crashed consumer');
    expect(down.body.checks[`consumer:${GROUP}`].error).toMatch(/crashed/);
    expect(await metric(service, 'im_kafka_consumer_up', `group="${GROUP}"`)).toBe(0);
    // Its lag is read when scraped: the record it cannot apply counts, though it has applied no batch since.
    const lag = () => metric(service!, 'im_kafka_consumer_lag', `group="${GROUP}",topic="${TOPIC}",partition="0"`);
    expect(await lag()).toBeGreaterThanOrEqual(1);
    // Restarted, crashing again on the same batch, again and again: each time with backoff.
    await eventually(
      async () => ((await metric(service!, 'im_kafka_consumer_restarts_total', `group="${GROUP}",status="restarting"`)) ?? 0) >= 2,
      'two restarts',
    );

    // The operator removes the record (here: deletes it from the log); the next restart consumes again.
    await admin.deleteTopicRecords({ topic: TOPIC, partitions: [{ partition: 0, offset: String(BigInt(before.high) + 1n) }] });
    await eventually(async () => (await readiness(service!)).status === 200, 'readiness to recover', 60_000);
    expect(await metric(service, 'im_kafka_consumer_up', `group="${GROUP}"`)).toBe(1);

    // And it applies what comes next: a command for an unknown channel is refused and passed.
    const next = `2:${uniqueId('after')}`;
    kcatProduce(TOPIC, [{ key: next, value: envelope('subscribers.add', next, { channel: { channelId: next.slice(2), channelType: 2 }, uids: ['u1'] }) }], {
      partition: 0,
    });
    const [end] = (await admin.fetchTopicOffsets(TOPIC)).filter((p) => p.partition === 0);
    await eventually(async () => {
      const [row] = await db.rows<{ next_offset: string }>(
        `SELECT next_offset FROM subscriptions.consumer_checkpoints WHERE group_id = $1 AND topic = $2 AND partition = 0`,
        [GROUP, TOPIC],
      );
      return row?.next_offset === end.high;
    }, 'the checkpoint to pass the new command');
    await eventually(async () => (await lag()) === 0, 'the lag to read 0 again');
  });
});

/**
 * Checkpoints record the Kafka cluster they were taken on. A service pointed at another cluster
 * with the same database (a second clone, a migration, a restore) used to skip every new record
 * below its old positions, silently; now the consumer halts, says why and how to fix it, and
 * reads refuse to answer from the halted projection.
 */
describe('checkpoints from another Kafka cluster', () => {
  const DIRECTORY = 'subscriptions.channel-directory';
  let database: string;
  let second: SecondBroker | undefined;
  const services: ServiceProcess[] = [];
  const start = async (name: string, brokers: string, opts: { waitReady?: boolean } = {}) => {
    const s = await ServiceProcess.start(name, { KAFKA_BROKERS: brokers, DATABASE_URL: database, CONSUMER_HALT_RETRY_MS: '2000' }, opts);
    services.push(s);
    return s;
  };

  beforeAll(async () => {
    // A database of its own, so that its checkpoints come from this test only.
    database = await separateTestDatabase('foreign');
  });

  afterAll(async () => {
    await Promise.all(services.map((s) => s.stop()));
    await second?.stop();
  });

  it('halts the consumer with the fix named, refuses reads with PROJECTION_HALTED, and works again after the named rebuild', async () => {
    // History on the first cluster: the directory applies a channel.created there.
    let channelsService = await start('channels', testEnv().kafkaBrokers);
    let subscriptionsService = await start('subscriptions', testEnv().kafkaBrokers);
    const old = { channelId: uniqueId('old'), channelType: 2 };
    let channels = grpcClient('ChannelService', channelsService.grpcAddress);
    let subs = grpcClient('SubscriptionService', subscriptionsService.grpcAddress);
    await channels.createChannel({ channel: old });
    await subs.addSubscribers({ channel: old, uids: ['u1'] });
    channels.close();
    subs.close();
    await Promise.all([channelsService.stop(), subscriptionsService.stop()]);

    // The same database, another cluster.
    second = await SecondBroker.start();
    channelsService = await start('channels', second.brokers);
    subscriptionsService = await start('subscriptions', second.brokers, { waitReady: false });
    channels = grpcClient('ChannelService', channelsService.grpcAddress);
    subs = grpcClient('SubscriptionService', subscriptionsService.grpcAddress);
    try {
      const halted = await eventually(
        async () => {
          const r = await readiness(subscriptionsService).catch(() => undefined);
          return r?.status === 503 && /halted/.test(r.body.checks[`consumer:${DIRECTORY}`]?.error ?? '') ? r : undefined;
        },
        'the directory to halt',
        60_000,
      );
      const problem = halted.body.checks[`consumer:${DIRECTORY}`].error!;
      expect(problem).toMatch(/does not belong to this Kafka cluster/);
      expect(problem).toContain(`npm run admin -- rebuild subscriptions ${DIRECTORY}`);
      expect(await metric(subscriptionsService, 'im_kafka_consumer_up', `group="${DIRECTORY}"`)).toBe(0);

      // The new cluster's channel.created lies below the old positions: never skipped silently.
      const fresh = { channelId: uniqueId('new'), channelType: 2 };
      await channels.createChannel({ channel: fresh });
      const refused = await subs.addSubscribers({ channel: fresh, uids: ['u2'] }).catch((e) => e);
      expect(refused.code).toBe(status.UNAVAILABLE);
      expect(refused.details).toMatch(/^PROJECTION_HALTED: .*does not belong to this Kafka cluster/);

      // The fix it names: stop the service, rebuild the projection from this cluster's topics.
      subs.close();
      await subscriptionsService.stop();
      const rebuilt = await adminCliWith({ KAFKA_BROKERS: second.brokers, DATABASE_URL: database }, 'rebuild', 'subscriptions', DIRECTORY, '--no-wait');
      expect(rebuilt).toMatchObject({ code: 0 });
      subscriptionsService = await start('subscriptions', second.brokers);
      subs = grpcClient('SubscriptionService', subscriptionsService.grpcAddress);
      expect(await subs.addSubscribers({ channel: fresh, uids: ['u2'] })).toMatchObject({ membershipVersion: 1 });
    } finally {
      channels.close();
      subs.close();
    }
  });
});
