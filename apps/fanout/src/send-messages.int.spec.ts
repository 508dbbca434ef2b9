import { Metadata, status } from '@grpc/grpc-js';
import { GrpcTestClient, grpcClient, reasonOf, ServiceProcess, uniqueId } from '@im/testing';
import { GatewayStream, IngressStream, Membership, Ref, SendAnswer, Services, text } from '../test/fanout-fixtures';

jest.setTimeout(300_000);

/** A small in-flight bound, so the suite runs the real transport through pause and resume many times. */
const MAX_IN_FLIGHT = 64;

interface Sent {
  messageId: string;
  messageSeq: number;
}
interface HistoryMessage extends Sent {
  clientMsgNo: string;
  fromUid: string;
  payload: Buffer;
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1);
const sentOf = (answer: SendAnswer | undefined): Sent => {
  if (answer?.result !== 'sent' || !answer.sent) throw new Error(`expected a sent answer, got ${JSON.stringify(answer)}`);
  return answer.sent;
};

/**
 * MessageService.SendMessages on the real fanout process (channels as a process too, membership
 * events on Kafka, Postgres): per-request answers with SendMessage's idempotency and errors, one
 * gapless sequence per channel shared with unary sends, and the stream's own ending.
 */
describe('SendMessages: batched ingress for gateways (channels and fanout as processes)', () => {
  let services: Services;
  let membership: Membership;
  const extra: ServiceProcess[] = [];
  const clients: GrpcTestClient[] = [];

  beforeAll(async () => {
    services = await Services.start({ SEND_STREAM_MAX_IN_FLIGHT: String(MAX_IN_FLIGHT) });
    membership = await Membership.connect();
  });

  afterAll(async () => {
    for (const c of clients) c.close();
    await Promise.all(extra.map((p) => p.stop()));
    await membership?.disconnect();
    await services?.stop();
  });

  const unary = (fromUid: string, channel: Ref, body: string, clientMsgNo = uniqueId('c')): Promise<Sent> =>
    services.messages.sendMessage({ fromUid, channel, payload: text(body), clientMsgNo });
  /** The whole history, page by page (a sync returns at most 1000 messages). */
  const history = async (uid: string, channel: Ref): Promise<HistoryMessage[]> => {
    const all: HistoryMessage[] = [];
    for (;;) {
      const page = await services.messages.syncMessages({ uid, channel, startSeq: all.length + 1, limit: 1000 });
      all.push(...page.messages);
      if (!page.hasMore) return all;
    }
  };
  const failure = (p: Promise<unknown>) =>
    p.then(
      () => ({ code: status.OK, reason: '', details: '' }),
      (e) => reasonOf(e),
    );

  it('answers 1000 requests to five channels exactly once each, with the ids and gapless seqs history shows', async () => {
    const senders = [uniqueId('s'), uniqueId('s'), uniqueId('s')];
    const groups = await Promise.all([1, 2, 3, 4].map(() => services.group()));
    for (const g of groups) await membership.add(g, senders);
    const person: Ref = { channelId: uniqueId('peer'), channelType: 1 };
    const channels = [...groups, person];

    const stream = new IngressStream(services.messages);
    const requests = range(1000).map((i) => {
      const channel = channels[i % channels.length];
      const fromUid = channel === person ? senders[0] : senders[i % senders.length];
      return { requestId: `r${i}`, channel, fromUid, clientMsgNo: uniqueId(`c${i}`), body: `message ${i}` };
    });
    for (const r of requests) stream.send(r.requestId, { fromUid: r.fromUid, channel: r.channel, payload: text(r.body), clientMsgNo: r.clientMsgNo });
    stream.end();
    expect(await stream.ended).toBeUndefined();

    expect(stream.answers).toHaveLength(1000);
    expect(new Set(stream.answers.map((a) => a.requestId))).toEqual(new Set(requests.map((r) => r.requestId)));
    for (const channel of channels) {
      const mine = requests.filter((r) => r.channel === channel);
      const answered = mine.map((r) => sentOf(stream.answerTo(r.requestId)));
      // One stream's requests to a channel are sequenced in the order they were written: 1..n, gapless.
      expect(answered.map((s) => s.messageSeq)).toEqual(range(mine.length));
      const seen = await history(mine[0].fromUid, channel);
      expect(seen.map((m) => [m.messageSeq, m.messageId, m.clientMsgNo])).toEqual(
        mine.map((r, i) => [answered[i].messageSeq, answered[i].messageId, r.clientMsgNo]),
      );
      expect(seen.map((m) => Buffer.from(m.payload).toString())).toEqual(mine.map((r) => r.body));
    }
  });

  it('answers a repeated client_msg_no with the original id and seq, on the stream and across SendMessage', async () => {
    const channel = await services.group();
    await membership.add(channel, ['i1']);
    const message = (clientMsgNo: string, body: string) => ({ fromUid: 'i1', channel, payload: text(body), clientMsgNo });
    const first = await unary('i1', channel, 'unary first', 'key-a');

    const stream = new IngressStream(services.messages);
    stream.send('retry-of-unary', message('key-a', 'other body'));
    stream.send('b-1', message('key-b', 'b'));
    stream.send('b-2', message('key-b', 'b again, same request'));
    stream.send('c-1', message('key-c', 'c'));
    await stream.waitForAnswers(4);
    stream.send('b-3', message('key-b', 'b once more, later'));
    stream.end();
    expect(await stream.ended).toBeUndefined();

    expect(sentOf(stream.answerTo('retry-of-unary'))).toEqual(first);
    const b = sentOf(stream.answerTo('b-1'));
    expect(sentOf(stream.answerTo('b-2'))).toEqual(b);
    expect(sentOf(stream.answerTo('b-3'))).toEqual(b);
    const c = sentOf(stream.answerTo('c-1'));
    expect(await unary('i1', channel, 'unary retry of a streamed one', 'key-c')).toEqual(c);
    expect([first.messageSeq, b.messageSeq, c.messageSeq]).toEqual([1, 2, 3]);
    expect((await history('i1', channel)).map((m) => [m.messageSeq, m.clientMsgNo, Buffer.from(m.payload).toString()])).toEqual([
      [1, 'key-a', 'unary first'],
      [2, 'key-b', 'b'],
      [3, 'key-c', 'c'],
    ]);
  });

  it('answers each invalid request with the code, reason and text SendMessage fails with, and goes on with the stream', async () => {
    const channel = await services.group();
    await membership.add(channel, ['v1']);
    const good = (clientMsgNo: string) => ({ fromUid: 'v1', channel, payload: text(clientMsgNo), clientMsgNo });
    const invalid: [string, Record<string, unknown> | null, number, string][] = [
      ['empty payload', { ...good(uniqueId('c')), payload: Buffer.alloc(0) }, status.INVALID_ARGUMENT, 'EMPTY_PAYLOAD'],
      ['payload over 64 KiB', { ...good(uniqueId('c')), payload: Buffer.alloc(64 * 1024 + 1) }, status.INVALID_ARGUMENT, 'PAYLOAD_TOO_LARGE'],
      ['not a subscriber', { ...good(uniqueId('c')), fromUid: 'stranger' }, status.PERMISSION_DENIED, 'NOT_SUBSCRIBER'],
      ['unknown group', { ...good(uniqueId('c')), channel: { channelId: uniqueId('nope'), channelType: 2 } }, status.NOT_FOUND, 'CHANNEL_NOT_FOUND'],
      ['channel_type 0', { ...good(uniqueId('c')), channel: { ...channel, channelType: 0 } }, status.INVALID_ARGUMENT, 'INVALID_CHANNEL_TYPE'],
      ['no client_msg_no', { ...good(''), payload: text('x') }, status.INVALID_ARGUMENT, 'MISSING_CLIENT_MSG_NO'],
      ['a malformed from_uid', { ...good(uniqueId('c')), fromUid: 'not ok' }, status.INVALID_ARGUMENT, 'ID_INVALID_CHARACTERS'],
      ['no message at all', null, status.INVALID_ARGUMENT, 'MISSING_MESSAGE'],
    ];

    const stream = new IngressStream(services.messages);
    stream.send('good-1', good('good-1'));
    for (const [label, message] of invalid) stream.send(label, message);
    stream.send('good-2', good('good-2'));
    stream.end();
    expect(await stream.ended).toBeUndefined();
    expect(stream.answers).toHaveLength(invalid.length + 2);

    for (const [label, message, code, reason] of invalid) {
      const answer = stream.answerTo(label);
      expect({ label, result: answer?.result, code: answer?.error?.code, reason: answer?.error?.reason }).toEqual({ label, result: 'error', code, reason });
      if (message === null) continue;
      // The same request on SendMessage fails the same way: status, reason and text.
      const unaryFailure = await failure(services.messages.sendMessage(message));
      expect(unaryFailure).toMatchObject({ code, reason, details: `${reason}: ${answer?.error?.message}` });
    }
    // Refused requests took no seq: the good ones are 1 and 2.
    expect([sentOf(stream.answerTo('good-1')).messageSeq, sentOf(stream.answerTo('good-2')).messageSeq]).toEqual([1, 2]);
    expect((await history('v1', channel)).map((m) => m.clientMsgNo)).toEqual(['good-1', 'good-2']);

    // Each answer is counted by its status; the stream itself is one call.
    const metrics = await (await fetch(`http://127.0.0.1:${services.fanoutProcess.httpPort}/metrics`)).text();
    for (const code of ['OK', 'INVALID_ARGUMENT', 'PERMISSION_DENIED', 'NOT_FOUND']) {
      expect(metrics).toMatch(new RegExp(`im_grpc_stream_items_total\\{method="im\\.v1\\.MessageService/SendMessages",code="${code}"\\} [1-9]`));
    }
    expect(metrics).toMatch(/im_grpc_requests_total\{method="im\.v1\.MessageService\/SendMessages",code="OK"\} [1-9]/);
  });

  it('interleaves streamed and unary sends to one channel into one gapless sequence, and delivers both alike', async () => {
    const channel = await services.group();
    const [alice, bob] = [uniqueId('al'), uniqueId('bo')];
    await membership.add(channel, [alice, bob]);
    const gateway = new GatewayStream(services.messages);
    await gateway.attach([bob], { batched: true });

    const stream = new IngressStream(services.messages);
    const streamed = range(300).map((i) => `s${i}`);
    const unaryKeys = range(300).map((i) => `u${i}`);
    const writeStream = (async () => {
      for (const key of streamed) {
        stream.send(key, { fromUid: alice, channel, payload: text(key), clientMsgNo: key });
        if (Number(key.slice(1)) % 25 === 0) await new Promise((r) => setImmediate(r));
      }
      stream.end();
    })();
    const unaryResults = new Map<string, Sent>();
    const workers = range(10).map(async (w) => {
      for (let i = w - 1; i < unaryKeys.length; i += 10) unaryResults.set(unaryKeys[i], await unary(bob, channel, unaryKeys[i], unaryKeys[i]));
    });
    await Promise.all([writeStream, ...workers]);
    expect(await stream.ended).toBeUndefined();

    const streamedSeqs = streamed.map((key) => sentOf(stream.answerTo(key)).messageSeq);
    // Within the stream, seqs follow request order even while unary sends interleave.
    expect([...streamedSeqs].sort((a, b) => a - b)).toEqual(streamedSeqs);
    const all = [...streamedSeqs, ...[...unaryResults.values()].map((s) => s.messageSeq)].sort((a, b) => a - b);
    expect(all).toEqual(range(600));

    const seen = await history(alice, channel);
    expect(seen.map((m) => m.messageSeq)).toEqual(range(600));
    const byKey = new Map(seen.map((m) => [m.clientMsgNo, m]));
    for (const key of streamed) expect(byKey.get(key)?.messageId).toBe(sentOf(stream.answerTo(key)).messageId);
    for (const [key, sent] of unaryResults) expect(byKey.get(key)?.messageId).toBe(sent.messageId);

    const delivered = await gateway.waitFor((d) => d.item === 'message' && d.message.channel.channelId === channel.channelId, 'all 600 deliveries', 600);
    expect(delivered.map((d) => d.message.messageSeq)).toEqual(range(600));
    gateway.close();
  });

  it('on shutdown, answers what it read and ends the stream with UNAVAILABLE / SHUTTING_DOWN; resending the rest elsewhere stores each once', async () => {
    const channel = await services.group();
    await membership.add(channel, ['d1']);
    const leaving = await ServiceProcess.start('fanout', { SEND_STREAM_MAX_IN_FLIGHT: String(MAX_IN_FLIGHT) });
    extra.push(leaving);
    const client = grpcClient('MessageService', leaving.grpcAddress);
    clients.push(client);
    const message = (key: string) => ({ fromUid: 'd1', channel, payload: text(key), clientMsgNo: key });
    const keys = range(5000).map((i) => `k${i}`);

    const stream = new IngressStream(client);
    for (const key of keys) stream.send(key, message(key));
    await stream.waitForAnswers(200);
    const exited = leaving.stop();
    const ended = await stream.ended;
    expect(await exited).toBe(0);
    expect(reasonOf(ended)).toMatchObject({ code: status.UNAVAILABLE, reason: 'SHUTTING_DOWN' });
    const answered = new Map(stream.answers.filter((a) => a.result === 'sent').map((a) => [a.requestId, a.sent as Sent]));
    expect(answered.size).toBeGreaterThanOrEqual(200);

    // The gateway resends everything not answered OK, on a stream to another instance, as long as answers say retry.
    let pending = keys.filter((k) => !answered.has(k));
    for (let round = 0; pending.length > 0 && round < 10; round++) {
      const again = new IngressStream(services.messages);
      for (const key of pending) again.send(key, message(key));
      again.end();
      expect(await again.ended).toBeUndefined();
      for (const a of again.answers) if (a.result === 'sent') answered.set(a.requestId, a.sent as Sent);
      const refused = again.answers.filter((a) => a.result === 'error' && a.error?.code !== status.UNAVAILABLE);
      expect(refused).toEqual([]);
      pending = pending.filter((k) => !answered.has(k));
    }
    expect(pending).toEqual([]);

    const seen = await history('d1', channel);
    expect(seen.map((m) => m.messageSeq)).toEqual(range(keys.length));
    for (const m of seen) expect(answered.get(m.clientMsgNo)).toEqual({ messageId: m.messageId, messageSeq: m.messageSeq });
  });
});

describe('SendMessages with authentication on (fanout as a process)', () => {
  const TOKEN = 'ingress-gateway-token-0123456789';
  let fanout: ServiceProcess;
  let client: GrpcTestClient;

  beforeAll(async () => {
    fanout = await ServiceProcess.start('fanout', { GRPC_AUTH_TOKENS: TOKEN });
    client = grpcClient('MessageService', fanout.grpcAddress);
  });

  afterAll(async () => {
    client?.close();
    await fanout?.stop();
  });

  const bearer = (token: string) => {
    const metadata = new Metadata();
    metadata.set('authorization', `Bearer ${token}`);
    return metadata;
  };

  it('ends a stream without a valid token with UNAUTHENTICATED, and stays up', async () => {
    for (const metadata of [new Metadata(), bearer('not-the-token-at-all-0000')]) {
      const stream = new IngressStream(client, metadata);
      stream.send('r1', { fromUid: 'a1', channel: { channelId: 'b1', channelType: 1 }, payload: text('x'), clientMsgNo: uniqueId('c') });
      expect(reasonOf(await stream.ended)).toMatchObject({ code: status.UNAUTHENTICATED, reason: 'UNAUTHENTICATED' });
      expect(stream.answers).toEqual([]);
    }
    // StreamDeliveries is refused the same way, and the process is still serving.
    const deliveries = client.raw.streamDeliveries(new Metadata());
    const refused = await new Promise((resolve) => deliveries.on('error', resolve));
    expect(reasonOf(refused)).toMatchObject({ code: status.UNAUTHENTICATED, reason: 'UNAUTHENTICATED' });
    expect((await fetch(`http://127.0.0.1:${fanout.httpPort}/health/ready`)).status).toBe(200);
  });

  it('serves a stream that presents a configured token, as it serves unary calls', async () => {
    const [a, b] = [uniqueId('a'), uniqueId('b')];
    const stream = new IngressStream(client, bearer(TOKEN));
    stream.send('r1', { fromUid: a, channel: { channelId: b, channelType: 1 }, payload: text('hi'), clientMsgNo: 'first' });
    stream.send('r2', { fromUid: b, channel: { channelId: a, channelType: 1 }, payload: text('hi back'), clientMsgNo: 'first' });
    stream.end();
    expect(await stream.ended).toBeUndefined();
    expect([sentOf(stream.answerTo('r1')).messageSeq, sentOf(stream.answerTo('r2')).messageSeq]).toEqual([1, 2]);
    const history = await client.syncMessages({ uid: a, channel: { channelId: b, channelType: 1 } }, bearer(TOKEN));
    expect(history.messages.map((m: HistoryMessage) => m.fromUid)).toEqual([a, b]);
  });
});
