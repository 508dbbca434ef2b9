import { dlqTopicOf, TOPICS } from '@im/contracts';
import {
  ADMIN_CLI,
  adminCli as admin,
  adminCliEnv,
  eventually,
  grpcClient,
  kcatProduce,
  REPO_ROOT,
  ServiceProcess,
  testDb,
  testKafka,
  uniqueId,
} from '@im/testing';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { Admin } from 'kafkajs';

jest.setTimeout(180_000);

const envelope = (type: string, key: string, data: unknown) =>
  JSON.stringify({ id: randomUUID(), type, version: 1, occurred_at: new Date().toISOString(), key, data });

describe('admin CLI: dead letters and lag of the channels service', () => {
  let service: ServiceProcess | undefined;

  afterAll(async () => {
    await service?.stop();
  });

  it('lists a dead-lettered command with its reason, replays it after the cause is fixed, and a dry run produces nothing', async () => {
    service = await ServiceProcess.start('channels');
    const channels = grpcClient('ChannelService', service.grpcAddress);
    const channelId = uniqueId('later');
    const key = `2:${channelId}`;
    // Refused: the channel does not exist yet.
    kcatProduce(TOPICS.channelsCommands, [
      {
        key,
        value: envelope('channel.update', key, { channel: { channelId, channelType: 2 }, attributes: { name: 'replayed' }, updateMask: { paths: ['name'] } }),
      },
    ]);

    const listed = await eventually(async () => {
      const { code, stdout } = await admin('dlq', 'list', TOPICS.channelsCommands, '--key', key, '--json');
      const rows = code === 0 ? JSON.parse(stdout) : [];
      return rows.length === 1 ? rows[0] : undefined;
    }, 'the refused command in `dlq list`');
    expect(listed).toMatchObject({
      key,
      code: 'NOT_FOUND/CHANNEL_NOT_FOUND',
      sourceTopic: TOPICS.channelsCommands,
      dlqTopic: dlqTopicOf(TOPICS.channelsCommands),
    });
    expect(listed.reason).toMatch(/not found|does not exist/i);
    expect(Number(listed.sourceOffset)).toBeGreaterThanOrEqual(0);

    const human = await admin('dlq', 'list', dlqTopicOf(TOPICS.channelsCommands), '--limit', '1000');
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^PARTITION\s+OFFSET\s+TIMESTAMP\s+KEY\s+CODE\s+REASON/);
    expect(human.stdout).toContain(key);

    await channels.createChannel({ channel: { channelId, channelType: 2 } });

    const dry = await admin('dlq', 'replay', TOPICS.channelsCommands, '--key', key, '--code', 'NOT_FOUND/CHANNEL_NOT_FOUND', '--dry-run', '--json');
    expect(dry.code).toBe(0);
    expect(JSON.parse(dry.stdout)).toEqual([expect.objectContaining({ key, wouldReplayTo: TOPICS.channelsCommands })]);
    const afterDry = await channels.getChannel({ channel: { channelId, channelType: 2 } });
    expect(afterDry.version).toBe(1);

    const replay = await admin('dlq', 'replay', TOPICS.channelsCommands, '--key', key, '--json');
    expect(replay.code).toBe(0);
    expect(JSON.parse(replay.stdout)).toEqual({ replayed: 1 });
    const updated = await eventually(async () => {
      const c = await channels.getChannel({ channel: { channelId, channelType: 2 } });
      return c.version === 2 ? c : undefined;
    }, 'the replayed update applied');
    expect(updated.attributes.name).toBe('replayed');
    channels.close();
  });

  it('shows the lag of records produced while the service is stopped, from Kafka offsets and checkpoints', async () => {
    await service!.stop();
    service = undefined;
    const keys = [1, 2, 3].map(() => `2:${uniqueId('lag')}`);
    kcatProduce(
      TOPICS.channelsCommands,
      keys.map((key) => ({ key, value: envelope('channel.create', key, { channel: { channelId: key.slice(2), channelType: 2 } }) })),
    );
    const { code, stdout } = await admin('lag', '--group', 'channels.commands', '--json');
    expect(code).toBe(0);
    const rows: { topic: string; lag: number; end: number; committed?: number; checkpoint?: number }[] = JSON.parse(stdout);
    const commands = rows.filter((r) => r.topic === TOPICS.channelsCommands);
    expect(commands.length).toBeGreaterThan(0);
    expect(commands.reduce((n, r) => n + r.lag, 0)).toBe(3);
    for (const r of commands) expect(r.end - (r.checkpoint ?? 0)).toBe(r.lag);

    const human = await admin('lag', '--group', 'channels.commands');
    expect(human.stdout).toMatch(/^GROUP\s+TOPIC\s+PARTITION\s+END\s+COMMITTED\s+CHECKPOINT\s+LAG/);

    service = await ServiceProcess.start('channels');
    await eventually(async () => {
      const after = JSON.parse((await admin('lag', '--group', 'channels.commands', '--json')).stdout) as { lag: number }[];
      return after.every((r) => r.lag === 0);
    }, 'lag back to 0 once the service runs again');
  });
});

describe('admin CLI: rebuild a projection from offset 0', () => {
  const group = uniqueId('rebuild_group');
  const topic = uniqueId('im.admin.test');
  const table = uniqueId('scratch_projection').toLowerCase();
  let kafkaAdmin: Admin;
  let db: Awaited<ReturnType<typeof testDb>>;

  beforeAll(async () => {
    const kafka = testKafka();
    kafkaAdmin = kafka.admin();
    await kafkaAdmin.connect();
    await kafkaAdmin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 2, replicationFactor: 1 }] });
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic, messages: [0, 1, 2, 3, 4, 5].map((i) => ({ key: `k${i}`, value: `v${i}`, partition: i % 2 })) });
    await producer.disconnect();
    // As if a projection had applied everything: offsets committed, checkpoints and rows stored.
    await kafkaAdmin.setOffsets({
      groupId: group,
      topic,
      partitions: [
        { partition: 0, offset: '3' },
        { partition: 1, offset: '3' },
      ],
    });
    db = await testDb();
    await db.query(`CREATE TABLE channels.${table} (id text PRIMARY KEY)`);
    await db.query(`INSERT INTO channels.${table} VALUES ('a'), ('b')`);
    await db.query(`INSERT INTO channels.consumer_checkpoints (group_id, topic, partition, next_offset) VALUES ($1, $2, 0, 3), ($1, $2, 1, 3)`, [group, topic]);
  });

  afterAll(async () => {
    await db?.query(`DROP TABLE IF EXISTS channels.${table}`);
    await db?.query(`DELETE FROM channels.consumer_checkpoints WHERE group_id = $1`, [group]);
    await db?.end();
    await kafkaAdmin?.deleteGroups([group]).catch(() => undefined);
    await kafkaAdmin?.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await kafkaAdmin?.disconnect();
  });

  it('refuses a group that is not registered unless the tables are named', async () => {
    const { code, stderr } = await admin('rebuild', 'channels', group, '--no-wait');
    expect(code).toBe(1);
    expect(stderr).toMatch(/is not a registered projection/);
  });

  it('refuses while an instance of the service is still consuming', async () => {
    const consumer = testKafka().consumer({ groupId: group, sessionTimeout: 6000, heartbeatInterval: 500 });
    const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
    await consumer.connect();
    await consumer.subscribe({ topics: [topic] });
    await consumer.run({ autoCommit: false, eachMessage: async () => undefined });
    await joined;
    try {
      const { code, stderr } = await admin('rebuild', 'channels', group, '--tables', table, '--no-wait');
      expect(code).toBe(1);
      expect(stderr).toMatch(/active member.*stop every instance of channels first/);
      expect((await db.rows(`SELECT id FROM channels.${table}`)).length).toBe(2);
    } finally {
      await consumer.disconnect();
    }
  });

  it('truncates the tables, forgets the checkpoints and rewinds the group to the earliest offsets', async () => {
    const { code, stdout } = await admin('rebuild', 'channels', group, '--tables', table, '--topics', topic, '--no-wait', '--json');
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ topics: [topic], truncated: [table], checkpointsDeleted: 2 });
    expect(await db.rows(`SELECT id FROM channels.${table}`)).toEqual([]);
    expect(await db.rows(`SELECT * FROM channels.consumer_checkpoints WHERE group_id = $1`, [group])).toEqual([]);
    const [offsets] = await kafkaAdmin.fetchOffsets({ groupId: group, topics: [topic] });
    expect(offsets.partitions.map((p) => p.offset).sort()).toEqual(['0', '0']);
  });

  it('shows progress while the restarted projection catches up, and returns once it has', async () => {
    const child = spawn(process.execPath, [ADMIN_CLI, 'rebuild', 'channels', group, '--tables', table, '--topics', topic], {
      env: adminCliEnv(),
      cwd: REPO_ROOT,
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += String(d)));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    await eventually(async () => stderr.includes('watching the rebuild'), 'the CLI to start watching');
    // The restarted service applies the topic: one partition, then the other.
    await db.query(`INSERT INTO channels.consumer_checkpoints (group_id, topic, partition, next_offset) VALUES ($1, $2, 0, 3)`, [group, topic]);
    await eventually(async () => /\b50% 3\/6/.test(stderr), 'progress at half way');
    await db.query(`INSERT INTO channels.consumer_checkpoints (group_id, topic, partition, next_offset) VALUES ($1, $2, 1, 3)`, [group, topic]);
    expect(await exited).toBe(0);
    expect(stderr).toMatch(/100% 6\/6/);
    expect(stderr).toContain('rebuild caught up');
  });
});
