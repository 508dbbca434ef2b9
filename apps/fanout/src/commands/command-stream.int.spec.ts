import { status } from '@grpc/grpc-js';
import { dlqTopicOf, TOPICS } from '@im/contracts';
import { eventually, GrpcTestClient, grpcClient, kcatProduce, reasonOf, ServiceProcess, testDb, TopicWatcher, uniqueId } from '@im/testing';
import { randomUUID } from 'node:crypto';

jest.setTimeout(300_000);

interface Cmd {
  cmdSeq: number;
  type: string;
  channel: { channelId: string; channelType: number };
  version: number;
}

const envelope = (type: string, key: string, data: unknown) =>
  JSON.stringify({ id: randomUUID(), type, version: 1, occurred_at: new Date().toISOString(), key, data });

/**
 * G3 on the real chain channels → Kafka → fanout: a channel change reaches every subscriber's own
 * command stream exactly once, whatever happens in between.
 */
describe('command stream (G3): channel changes reach every subscriber, offline or not', () => {
  let channelsService: ServiceProcess;
  let subscriptionsService: ServiceProcess;
  let fanout: ServiceProcess;
  let channels: GrpcTestClient;
  let subscriptions: GrpcTestClient;
  let messages: GrpcTestClient;
  let commands: GrpcTestClient;

  beforeAll(async () => {
    [channelsService, subscriptionsService, fanout] = await ServiceProcess.together([
      ServiceProcess.start('channels'),
      ServiceProcess.start('subscriptions'),
      ServiceProcess.start('fanout'),
    ]);
    channels = grpcClient('ChannelService', channelsService.grpcAddress);
    subscriptions = grpcClient('SubscriptionService', subscriptionsService.grpcAddress);
    messages = grpcClient('MessageService', fanout.grpcAddress);
    commands = grpcClient('CommandService', fanout.grpcAddress);
  });

  afterAll(async () => {
    for (const c of [channels, subscriptions, messages, commands]) c?.close();
    await Promise.all([channelsService?.stop(), subscriptionsService?.stop(), fanout?.stop()]);
  });

  const newGroup = async (members: string[]) => {
    const channel = { channelId: uniqueId('g'), channelType: 2 };
    await channels.createChannel({ channel, attributes: { name: 'team' } });
    if (members.length) await subscriptions.addSubscribers({ channel, uids: members });
    return channel;
  };

  /** Every command of a uid, paging with the server's has_more until the end. */
  const allCommands = async (uid: string, limit = 1000): Promise<Cmd[]> => {
    const result: Cmd[] = [];
    for (let after = 0; ;) {
      const page = await commands.syncCommands({ uid, afterSeq: after, limit });
      result.push(...page.commands);
      if (!page.hasMore) return result;
      after = page.commands[page.commands.length - 1].cmdSeq;
    }
  };

  const channelUpdates = (cmds: Cmd[], channelId: string) => cmds.filter((c) => c.type === 'channel.updated' && c.channel.channelId === channelId);

  it('the reported case: offline through a ban and 500 normal messages, the subscriber still gets exactly one channel.updated', async () => {
    const offline = uniqueId('off');
    const sender = uniqueId('snd');
    const banned = await newGroup([offline, sender]);
    const busy = await newGroup([offline, sender]);

    const updated = await channels.updateChannel({ channel: banned, attributes: { ban: true }, updateMask: { paths: ['ban'] } });
    for (let i = 0; i < 500; i++) {
      await messages.sendMessage({ fromUid: sender, channel: busy, payload: Buffer.from(`m${i}`), clientMsgNo: `c${i}` });
    }

    const cmds = await allCommands(offline);
    expect(channelUpdates(cmds, banned.channelId)).toEqual([expect.objectContaining({ version: updated.version, channel: banned })]);
    const seen = await channels.getChannel({ channel: banned });
    expect(seen.version).toBeGreaterThanOrEqual(updated.version);
    expect(seen.attributes.ban).toBe(true);
  });

  it('members added later get later commands only; removed members get none after their removal', async () => {
    const [stays, leaves, joins] = [uniqueId('stay'), uniqueId('leave'), uniqueId('join')];
    const channel = await newGroup([stays, leaves]);
    const first = await channels.updateChannel({ channel, attributes: { name: 'one' }, updateMask: { paths: ['name'] } });
    await subscriptions.removeSubscribers({ channel, uids: [leaves] });
    await subscriptions.addSubscribers({ channel, uids: [joins] });
    const second = await channels.updateChannel({ channel, attributes: { name: 'two' }, updateMask: { paths: ['name'] } });

    const versions = async (uid: string) => channelUpdates(await allCommands(uid), channel.channelId).map((c) => c.version);
    expect(await versions(stays)).toEqual([first.version, second.version]);
    expect(await versions(leaves)).toEqual([first.version]);
    expect(await versions(joins)).toEqual([second.version]);
  });

  it('20 concurrent attribute updates give every subscriber 20 commands with increasing versions', async () => {
    const members = [uniqueId('a'), uniqueId('b'), uniqueId('c')];
    const channel = await newGroup(members);
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        channels.updateChannel({ channel, attributes: { extra: { [`k${i}`]: 'v' } }, updateMask: { paths: [`extra.k${i}`] } }),
      ),
    );
    for (const uid of members) {
      const versions = channelUpdates(await allCommands(uid), channel.channelId).map((c) => c.version);
      expect(versions).toEqual(Array.from({ length: 20 }, (_, i) => i + 2));
    }
  });

  it('pages 350 pending commands with limit 200: each once, in order, in at most 3 calls', async () => {
    const uid = uniqueId('pager');
    const channel = await newGroup([uid]);
    for (let i = 0; i < 350; i++) await commands.sendCommand({ type: 'app.tick', channel, uids: [uid], payload: Buffer.from(String(i)) });

    const seqs: number[] = [];
    let calls = 0;
    for (let after = 0, more = true; more; calls++) {
      const page = await commands.syncCommands({ uid, afterSeq: after, limit: 200 });
      seqs.push(...page.commands.map((c: Cmd) => c.cmdSeq));
      more = page.hasMore;
      if (page.commands.length) after = page.commands[page.commands.length - 1].cmdSeq;
    }
    expect(calls).toBeLessThanOrEqual(3);
    expect(seqs).toEqual(Array.from({ length: 350 }, (_, i) => i + 1));
  });

  it('acks only move forward: ack 5 then ack 3 keeps the cursor at 5, and a new command is all that follows', async () => {
    const uid = uniqueId('acker');
    const channel = await newGroup([uid]);
    for (let i = 0; i < 5; i++) await commands.sendCommand({ type: 'app.tick', channel, uids: [uid] });
    await commands.ackCommands({ uid, upToSeq: 5 });
    await commands.ackCommands({ uid, upToSeq: 3 });
    expect((await commands.syncCommands({ uid, afterSeq: 0 })).commands).toEqual([]);

    await commands.sendCommand({ type: 'app.after-ack', channel, uids: [uid] });
    const after = await commands.syncCommands({ uid, afterSeq: 0 });
    expect(after.commands.map((c: Cmd) => [c.cmdSeq, c.type])).toEqual([[6, 'app.after-ack']]);
    expect(after.hasMore).toBe(false);
  });

  it('a command sent to a channel without explicit uids goes to its current members', async () => {
    const members = [uniqueId('m1'), uniqueId('m2')];
    const channel = await newGroup(members);
    const { commandId } = await commands.sendCommand({ type: 'app.poll.closed', channel, payload: Buffer.from('{"poll":7}') });
    expect(commandId).toMatch(/^[0-9a-f-]{36}$/);
    for (const uid of members) {
      const [cmd] = (await commands.syncCommands({ uid })).commands;
      expect(cmd).toMatchObject({ type: 'app.poll.closed', channel, cmdSeq: 1 });
      expect(Buffer.from(cmd.payload).toString()).toBe('{"poll":7}');
    }
  });

  it('refuses bad input with a reason and queues nothing', async () => {
    const db = await testDb();
    try {
      const channel = await newGroup([uniqueId('x')]);
      const cases: [() => Promise<unknown>, status, string][] = [
        [() => commands.syncCommands({ uid: 'not a uid' }), status.INVALID_ARGUMENT, 'ID_INVALID_CHARACTERS'],
        [() => commands.ackCommands({ uid: '' }), status.INVALID_ARGUMENT, 'EMPTY_ID'],
        [() => commands.sendCommand({ type: 'channel.updated', channel }), status.INVALID_ARGUMENT, 'RESERVED_COMMAND_TYPE'],
        [() => commands.sendCommand({ type: 'im.fake', channel }), status.INVALID_ARGUMENT, 'RESERVED_COMMAND_TYPE'],
        [() => commands.sendCommand({ type: '', channel }), status.INVALID_ARGUMENT, 'EMPTY_COMMAND_TYPE'],
        [() => commands.sendCommand({ type: 'app.x', channel: { channelId: uniqueId('nope'), channelType: 2 } }), status.NOT_FOUND, 'CHANNEL_NOT_FOUND'],
      ];
      const before = await db.rows<{ n: number }>('SELECT count(*)::int AS n FROM fanout.cmd_queue');
      for (const [call, code, reason] of cases) {
        const error = await call().then(
          () => undefined,
          (e) => e,
        );
        expect(reasonOf(error)).toMatchObject({ code, reason });
      }
      const after = await db.rows<{ n: number }>('SELECT count(*)::int AS n FROM fanout.cmd_queue');
      expect(after[0].n).toBe(before[0].n);
    } finally {
      await db.end();
    }
  });

  it('cmd.send from another service over Kafka: applied once; reserved or unknown types go to the DLQ with the reason', async () => {
    const uid = uniqueId('kafka');
    const channel = await newGroup([uid]);
    const key = `2:${channel.channelId}`;
    const dlq = await new TopicWatcher().start([dlqTopicOf(TOPICS.fanoutCommands)]);
    try {
      const good = envelope('cmd.send', key, { type: 'app.hello', channel, uids: [uid], payload: Buffer.from('hi').toString('base64') });
      kcatProduce(TOPICS.fanoutCommands, [
        { key, value: good },
        { key, value: good }, // redelivered: the same envelope id applies once
        { key, value: envelope('cmd.send', key, { type: 'im.spoof', channel, uids: [uid] }) },
        { key, value: envelope('cmd.explode', key, {}) },
        { key, value: envelope('cmd.send', key, { type: 'app.after', channel, uids: [uid] }) },
      ]);
      const cmds = await eventually(async () => {
        const page = (await commands.syncCommands({ uid })).commands as Cmd[];
        return page.some((c) => c.type === 'app.after') ? page : undefined;
      }, 'the command after the refused ones');
      expect(cmds.map((c) => c.type)).toEqual(['app.hello', 'app.after']);
      const dead = await dlq.waitFor((r) => r.key === key, 'refused commands in the DLQ', 2);
      expect(dead.map((r) => r.headers['x-dlq-error-code']).sort()).toEqual(['INVALID_ARGUMENT/RESERVED_COMMAND_TYPE', 'UNKNOWN_TYPE']);
    } finally {
      await dlq.stop();
    }
  });
});
