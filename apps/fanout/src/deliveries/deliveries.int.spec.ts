import { status } from '@grpc/grpc-js';
import { GrpcTestClient, grpcClient, reasonOf, uniqueId } from '@im/testing';
import { Delivery, GatewayStream, Membership, Ref, Services, text } from '../../test/fanout-fixtures';

jest.setTimeout(300_000);

const sorted = (uids: readonly string[]) => [...uids].sort();

/**
 * StreamDeliveries on the real fanout process: batched streams get one frame per message with the
 * recipients attached to them, per-uid streams (clients that never set `batched`) get exactly what
 * they got before, and recipients follow the membership version stamped on each message.
 */
describe('batched and per-uid delivery streams (fanout as a process, real Kafka and Postgres)', () => {
  let services: Services;
  let membership: Membership;
  let commands: GrpcTestClient;
  const streams: GatewayStream[] = [];

  beforeAll(async () => {
    services = await Services.start();
    membership = await Membership.connect();
    commands = grpcClient('CommandService', services.fanoutProcess.grpcAddress);
  });

  afterEach(() => {
    for (const s of streams.splice(0)) s.close();
  });

  afterAll(async () => {
    commands?.close();
    await membership?.disconnect();
    await services?.stop();
  });

  const open = () => {
    const stream = new GatewayStream(services.messages);
    streams.push(stream);
    return stream;
  };
  const send = (fromUid: string, channel: Ref, body: string) =>
    services.messages.sendMessage({ fromUid, channel, payload: text(body), clientMsgNo: uniqueId('c') });
  const isMessage = (messageId: string) => (d: Delivery) => d.item === 'message' && d.message.messageId === messageId;

  it('gives a per-uid stream one frame per recipient as before, and a batched stream one frame per message with its recipients there', async () => {
    const [a, b, c, d, x, y] = ['a', 'b', 'c', 'd', 'x', 'y'].map(uniqueId);
    const channel = await services.group();
    await membership.add(channel, [a, b, c, d]);
    const perUid = open();
    const batched = open();
    await perUid.attach([a, b, x]);
    await batched.attach([b, c, y], { batched: true });

    const sent = [];
    for (let i = 1; i <= 5; i++) sent.push(await send(a, channel, `m${i}`));
    const last = sent[4].messageId;
    // Frames of one stream keep their order: once the last message is there, all earlier ones are.
    await perUid.waitFor(isMessage(last), 'the last message for both uids on the per-uid stream', 2);
    await batched.waitFor(isMessage(last), 'the last message on the batched stream');

    const perUidFrames = perUid.messages(channel.channelId);
    expect(perUidFrames).toHaveLength(10);
    for (const uid of [a, b]) expect(perUid.messages(channel.channelId, uid).map((f) => f.message.messageSeq)).toEqual([1, 2, 3, 4, 5]);
    expect(perUidFrames.map((f) => f.uids)).toEqual(Array(10).fill([]));

    const batchedFrames = batched.messages(channel.channelId);
    expect(batchedFrames.map((f) => [f.message.messageSeq, f.uid, sorted(f.uids)])).toEqual([1, 2, 3, 4, 5].map((seq) => [seq, '', sorted([b, c])]));
    expect(batchedFrames[0].message).toMatchObject({ channel, fromUid: a, membershipVersion: 1, messageId: sent[0].messageId });
    expect(Buffer.from(batchedFrames[2].message.payload).toString()).toBe('m3');
  });

  it('follows membership changes between messages: an added member is in the uids of later messages, a removed one is not', async () => {
    const [m1, m2, m3] = ['m1', 'm2', 'm3'].map(uniqueId);
    const channel = await services.group();
    const batched = open();
    const perUid = open();
    await batched.attach([m1, m2, m3], { batched: true });
    await perUid.attach([m3]);

    await membership.add(channel, [m1, m2]); // version 1
    await send(m1, channel, 'one');
    await send(m1, channel, 'two'); // same version: answered from memory
    await membership.add(channel, [m3]); // version 2: a newer stamp makes the channel load again
    await send(m1, channel, 'three');
    await membership.remove(channel, [m1]); // version 3
    await send(m2, channel, 'four');
    await send(m2, channel, 'five');
    await membership.add(channel, [m1]); // version 4: m1 rejoins
    const last = await send(m2, channel, 'six');
    await batched.waitFor(isMessage(last.messageId), 'the last message on the batched stream');
    await perUid.waitFor(isMessage(last.messageId), 'the last message on the per-uid stream');

    expect(batched.messages(channel.channelId).map((f) => [f.message.messageSeq, f.message.membershipVersion, sorted(f.uids)])).toEqual([
      [1, 1, sorted([m1, m2])],
      [2, 1, sorted([m1, m2])],
      [3, 2, sorted([m1, m2, m3])],
      [4, 3, sorted([m2, m3])],
      [5, 3, sorted([m2, m3])],
      [6, 4, sorted([m1, m2, m3])],
    ]);
    expect(perUid.messages(channel.channelId).map((f) => [f.uid, f.message.messageSeq])).toEqual([
      [m3, 3],
      [m3, 4],
      [m3, 5],
      [m3, 6],
    ]);
  });

  it('on an audience stream, defines a recipient list once and names it by id while the members hold, as a batched stream lists them', async () => {
    const [m1, m2, m3] = ['n1', 'n2', 'n3'].map(uniqueId);
    const channel = await services.group();
    const batched = open();
    const audiences = open();
    await batched.attach([m1, m2, m3], { batched: true });
    await audiences.attach([m1, m2, m3], { batched: true, audiences: true });

    await membership.add(channel, [m1, m2]);
    await send(m1, channel, 'one');
    await send(m1, channel, 'two'); // same members: the id alone
    await membership.add(channel, [m3]);
    await send(m1, channel, 'three');
    await membership.remove(channel, [m1]);
    await send(m2, channel, 'four');
    const last = await send(m2, channel, 'five');
    await audiences.waitFor(isMessage(last.messageId), 'the last message on the audience stream');
    await batched.waitFor(isMessage(last.messageId), 'the last message on the batched stream');

    const frames = audiences.messages(channel.channelId);
    expect(frames.map((f) => [f.message.messageSeq, sorted(f.recipients)])).toEqual(
      batched.messages(channel.channelId).map((f) => [f.message.messageSeq, sorted(f.uids)]),
    );
    expect(frames.map((f) => [f.message.messageSeq, f.uids, f.audience?.uids.length])).toEqual([
      [1, [], 2],
      [2, [], 0],
      [3, [], 3],
      [4, [], 2],
      [5, [], 0],
    ]);
    expect(new Set(frames.map((f) => f.audience?.id)).size).toBe(3);
  });

  it('gives a person channel two frames on a batched stream, each with the uid that sees it that way', async () => {
    const [a, b] = ['pa', 'pb'].map(uniqueId);
    const both = open();
    const onlyA = open();
    const perUid = open();
    await both.attach([a, b], { batched: true });
    await onlyA.attach([a], { batched: true });
    await perUid.attach([a, b]);
    const first = await send(a, { channelId: b, channelType: 1 }, 'hi b');
    const second = await send(b, { channelId: a, channelType: 1 }, 'hi a');
    await both.waitFor(isMessage(second.messageId), 'both viewpoints of the second message', 2);
    await onlyA.waitFor(isMessage(second.messageId), 'the second message for a');
    await perUid.waitFor(isMessage(second.messageId), 'the second message for both on the per-uid stream', 2);

    for (const sent of [first, second]) {
      const frames = both.deliveries.filter(isMessage(sent.messageId));
      expect(frames.map((f) => [f.uid, f.uids, f.message.channel]).sort((p, q) => (p[1] as string[])[0].localeCompare((q[1] as string[])[0]))).toEqual(
        sorted([a, b]).map((uid) => ['', [uid], { channelId: uid === a ? b : a, channelType: 1 }]),
      );
      expect(frames.every((f) => f.message.messageSeq === sent.messageSeq && f.message.membershipVersion === 0)).toBe(true);
      expect(onlyA.deliveries.filter(isMessage(sent.messageId)).map((f) => [f.uids, f.message.channel])).toEqual([[[a], { channelId: b, channelType: 1 }]]);
      expect(
        perUid.deliveries
          .filter(isMessage(sent.messageId))
          .map((f) => [f.uid, f.uids, f.message.channel.channelId])
          .sort(),
      ).toEqual(
        [
          [a, [], b],
          [b, [], a],
        ].sort(),
      );
    }
  });

  it('delivers a command once per stream with uid set, and uids = [uid] on a batched stream', async () => {
    const uid = uniqueId('cmd');
    const channel = await services.group();
    const batched = open();
    const perUid = open();
    await batched.attach([uid], { batched: true });
    await perUid.attach([uid]);
    await commands.sendCommand({ type: 'app.ping', channel, uids: [uid], payload: text('p') });
    const isPing = (d: Delivery) => d.item === 'command' && d.command.type === 'app.ping';
    const [onBatched] = await batched.waitFor(isPing, 'the command on the batched stream');
    const [onPerUid] = await perUid.waitFor(isPing, 'the command on the per-uid stream');
    expect(onBatched).toMatchObject({ uid, uids: [uid], command: { channel, cmdSeq: 1 } });
    expect(onPerUid).toMatchObject({ uid, uids: [], command: { channel, cmdSeq: 1 } });
  });

  it.each([
    ['batched', { batched: true }, { uids: ['later'] }],
    ['per-uid', {}, { uids: ['later'], batched: true }],
  ])('ends a %s stream with INVALID_ARGUMENT / BATCHED_MODE_MISMATCH on an attach with the other mode', async (_label, first, second) => {
    const stream = open();
    await stream.attach([uniqueId('u')], first);
    stream.send({ attach: second });
    expect(reasonOf(await stream.ended)).toMatchObject({ code: status.INVALID_ARGUMENT, reason: 'BATCHED_MODE_MISMATCH' });
  });

  it('gives a 10000-member group one frame per message on a batched stream holding all of them', async () => {
    const members = Array.from({ length: 10_000 }, (_, i) => `big${i}_${uniqueId('u')}`);
    const channel = await services.group();
    for (let i = 0; i < members.length; i += 1000) await membership.add(channel, members.slice(i, i + 1000));
    const batched = open();
    const perUid = open();
    await batched.attach(members, { batched: true });
    await perUid.attach(members.slice(0, 100));
    const sent = [];
    for (let i = 0; i < 3; i++) sent.push(await send(members[0], channel, `big ${i}`));
    await batched.waitFor(isMessage(sent[2].messageId), 'the last message on the batched stream');
    await perUid.waitFor(isMessage(sent[2].messageId), 'the last message on the per-uid stream', 100);
    const frames = batched.messages(channel.channelId);
    expect(frames.map((f) => [f.message.messageSeq, f.uids.length])).toEqual([
      [1, 10_000],
      [2, 10_000],
      [3, 10_000],
    ]);
    expect(sorted(frames[0].uids)).toEqual(sorted(members));
    expect(perUid.messages(channel.channelId)).toHaveLength(300);
  });
});
