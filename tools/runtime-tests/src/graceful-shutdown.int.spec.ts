import { TOPICS } from '@im/contracts';
import { eventually, kcatProduce, ServiceProcess, testDb, testKafka, uniqueId } from '@im/testing';
import { randomUUID } from 'node:crypto';
import { Admin } from 'kafkajs';

jest.setTimeout(240_000);

const GROUP = 'channels.commands';
const TOPIC = TOPICS.channelsCommands;
const COMMANDS = 2000;

describe('graceful shutdown of a consuming service (SIGTERM mid-batch)', () => {
  let admin: Admin;
  let db: Awaited<ReturnType<typeof testDb>>;
  let service: ServiceProcess | undefined;

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

  const checkpoints = async () => {
    const rows = await db.rows<{ partition: number; next_offset: string }>(
      `SELECT partition, next_offset FROM channels.consumer_checkpoints WHERE group_id = $1 AND topic = $2`,
      [GROUP, TOPIC],
    );
    return new Map(rows.map((r) => [r.partition, Number(r.next_offset)]));
  };
  const sum = (m: Map<number, number>) => [...m.values()].reduce((a, b) => a + b, 0);
  const appliedOnThisProcess = async (s: ServiceProcess) => {
    const text = await (await fetch(`http://127.0.0.1:${s.httpPort}/metrics`)).text();
    const m = new RegExp(`im_kafka_records_applied_total\\{group="${GROUP}",topic="${TOPIC.replace(/\./g, '\\.')}"\\} (\\d+)`).exec(text);
    return m ? Number(m[1]) : 0;
  };

  it('finishes the batch, commits, leaves the group, exits in time, and a restart resumes where it stopped', async () => {
    service = await ServiceProcess.start('channels', { SHUTDOWN_TIMEOUT_MS: '15000' });
    // Start from a caught-up group, whatever earlier runs left on the topic.
    await eventually(
      async () => {
        const ends = await admin.fetchTopicOffsets(TOPIC);
        const [committed] = await admin.fetchOffsets({ groupId: GROUP, topics: [TOPIC] });
        return ends.every((e) => e.high === '0' || committed.partitions.find((p) => p.partition === e.partition)?.offset === e.high);
      },
      'the command consumer to catch up before the test',
      60_000,
      100,
    );
    const before = sum(await checkpoints());
    const prefix = uniqueId('drain');
    const ids = Array.from({ length: COMMANDS }, (_, i) => `${prefix}_${i}`);
    kcatProduce(
      TOPIC,
      ids.map((id) => {
        const key = `2:${id}`;
        const value = JSON.stringify({
          id: randomUUID(),
          type: 'channel.create',
          version: 1,
          occurred_at: new Date().toISOString(),
          key,
          data: { channel: { channelId: id, channelType: 2 } },
        });
        return { key, value };
      }),
    );
    const target = before + COMMANDS;

    // Some of the work applied, plenty still to do: stop now.
    await eventually(async () => sum(await checkpoints()) > before + 50, 'the service to be working through the commands', 60_000, 10);
    const stopped = service.stop();
    const exitCode = await stopped;
    const atExit = await checkpoints();
    service = undefined;

    // The SHUTDOWN_TIMEOUT_MS guard exits with 1; 0 means the graceful path finished within it.
    expect(exitCode).toBe(0);
    expect(sum(atExit)).toBeLessThan(target);

    // Left the group: no member lingers until its session times out.
    const { groups } = await admin.describeGroups([GROUP]);
    expect(groups[0].members).toEqual([]);

    // The in-flight batch was committed to Kafka as well as to the database: both agree everywhere.
    const [committed] = await admin.fetchOffsets({ groupId: GROUP, topics: [TOPIC] });
    for (const p of committed.partitions) {
      if (atExit.has(p.partition)) expect(Number(p.offset)).toBe(atExit.get(p.partition));
    }

    // A restart resumes at the committed offsets: it is delivered exactly the rest, nothing twice.
    service = await ServiceProcess.start('channels');
    await eventually(async () => sum(await checkpoints()) === target, 'the rest applied after the restart', 120_000, 100);
    // The counter moves just after the checkpoint commits: wait for it to account for the rest, then
    // check that nothing was delivered twice on the way.
    const rest = target - sum(atExit);
    const restarted = service;
    await eventually(async () => (await appliedOnThisProcess(restarted)) >= rest, 'the applied counter to catch up', 30_000, 50);
    expect(await appliedOnThisProcess(service)).toBe(rest);

    const [{ n, max }] = await db.rows<{ n: string; max: string }>(
      `SELECT count(*) AS n, max(version) AS max FROM channels.channels WHERE channel_type = 2 AND channel_id LIKE $1`,
      [`${prefix}_%`],
    );
    expect(Number(n)).toBe(COMMANDS);
    expect(Number(max)).toBe(1);
  });
});
