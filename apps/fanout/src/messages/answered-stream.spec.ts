import { Metadata, status } from '@grpc/grpc-js';
import { grpcError } from '@im/service-kit';
import { AsyncLocalStorage } from 'node:async_hooks';
import { Duplex } from 'node:stream';
import { AnsweredStream } from './answered-stream';

interface Req {
  id: string;
}
interface Res {
  id: string;
  answer: string;
}

/**
 * A grpc-js server duplex stream stand-in built on a real object-mode Duplex, so pause and resume
 * behave as they do on the server: `push` is a request from the client, writes are answers, and
 * their callbacks (the transport taking them) can be held back to play a client that does not read.
 */
class FakeCall extends Duplex {
  readonly written: Res[] = [];
  read$ = 0;
  holdWrites = false;
  private held: (() => void)[] = [];
  status?: { code: number; details: string; metadata?: Metadata };
  endedOk = false;

  constructor() {
    super({ objectMode: true, autoDestroy: false });
    this.on('data', () => this.read$++);
    // As grpc-js does: an error emitted on the call becomes its status, sent when the call ends.
    this.on('error', (e: { code: number; details: string; metadata?: Metadata }) => {
      this.status = e;
      this.end();
    });
    this.on('finish', () => (this.endedOk = this.status === undefined));
  }

  override _read() {
    // Requests are pushed by the test.
  }

  override _write(chunk: Res, _encoding: BufferEncoding, callback: () => void) {
    this.written.push(chunk);
    if (this.holdWrites) this.held.push(callback);
    else callback();
  }

  request(...ids: string[]) {
    for (const id of ids) this.push({ id });
  }

  releaseWrites() {
    this.holdWrites = false;
    for (const cb of this.held.splice(0)) cb();
  }
}

/** Answers that the test settles by hand, in any order. */
class Answers {
  readonly pending = new Map<string, (answer: string) => void>();
  readonly seen: string[] = [];

  readonly fn = (req: Req) =>
    new Promise<Res>((resolve) => {
      this.seen.push(req.id);
      this.pending.set(req.id, (answer) => resolve({ id: req.id, answer }));
    });

  settle(id: string, answer = `ok ${id}`) {
    const resolve = this.pending.get(id);
    if (!resolve) throw new Error(`request ${id} was not read`);
    this.pending.delete(id);
    resolve(answer);
  }
}

const ticks = async (n = 5) => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

const open = (max = 100) => {
  const call = new FakeCall();
  const answers = new Answers();
  const stream = new AnsweredStream<Req, Res>(call, max, answers.fn);
  return { call, answers, stream };
};

describe('AnsweredStream', () => {
  it('answers every request once, as answers are ready, and ends with OK after the client half-closes and the last answer', async () => {
    const { call, answers, stream } = open();
    call.request('a', 'b', 'c');
    await ticks();
    expect(answers.seen).toEqual(['a', 'b', 'c']);
    answers.settle('c');
    answers.settle('a');
    call.push(null);
    await ticks();
    expect(call.written.map((r) => r.id)).toEqual(['c', 'a']);
    expect(call.writableEnded).toBe(false);
    answers.settle('b');
    await stream.done;
    await ticks();
    expect(call.written.map((r) => r.id)).toEqual(['c', 'a', 'b']);
    expect(call.endedOk).toBe(true);
  });

  it('ends with OK at once when the client half-closes with nothing in flight', async () => {
    const { call, stream } = open();
    call.push(null);
    await stream.done;
    expect(call.writableEnded).toBe(true);
    expect(call.status).toBeUndefined();
  });

  it('reads at most maxInFlight unanswered requests, and reads on as answers go out', async () => {
    const { call, answers, stream } = open(3);
    call.request(...Array.from({ length: 10 }, (_, i) => `r${i}`));
    await ticks();
    expect(answers.seen).toEqual(['r0', 'r1', 'r2']);
    expect(stream.inFlight).toBe(3);
    answers.settle('r1');
    await ticks();
    expect(answers.seen).toEqual(['r0', 'r1', 'r2', 'r3']);
    for (const id of ['r0', 'r2', 'r3']) answers.settle(id);
    await ticks();
    expect(answers.seen).toHaveLength(7);
    expect(stream.inFlight).toBe(3);
  });

  it('counts answers the client has not taken: a client that does not read its answers is not read either', async () => {
    const { call, answers, stream } = open(2);
    call.holdWrites = true;
    call.request('a', 'b', 'c', 'd');
    await ticks();
    answers.settle('a');
    answers.settle('b');
    await ticks();
    // Both answers are written; the transport has taken neither.
    expect(call.writableLength).toBe(2);
    expect(answers.seen).toEqual(['a', 'b']);
    expect(stream.inFlight).toBe(2);
    call.releaseWrites();
    await ticks();
    expect(call.written.map((r) => r.id)).toEqual(['a', 'b']);
    expect(answers.seen).toEqual(['a', 'b', 'c', 'd']);
  });

  it('on close, stops reading, answers what it read, then ends with the status', async () => {
    const { call, answers, stream } = open();
    call.request('a', 'b');
    await ticks();
    const closed = stream.close(grpcError(status.UNAVAILABLE, 'SHUTTING_DOWN', 'bye'), 10_000);
    call.request('c');
    await ticks();
    expect(answers.seen).toEqual(['a', 'b']);
    answers.settle('b');
    answers.settle('a');
    await closed;
    expect(call.written.map((r) => r.id)).toEqual(['b', 'a']);
    expect(call.status).toMatchObject({ code: status.UNAVAILABLE, details: 'SHUTTING_DOWN: bye' });
    expect(call.status?.metadata?.get('x-error-reason')).toEqual(['SHUTTING_DOWN']);
  });

  it('on close, ends after the grace period even when answers are missing, and drops them', async () => {
    const { call, answers, stream } = open();
    call.request('a');
    await ticks();
    await stream.close(grpcError(status.UNAVAILABLE, 'SHUTTING_DOWN', 'bye'), 20);
    expect(call.status).toMatchObject({ code: status.UNAVAILABLE });
    answers.settle('a');
    await ticks();
    expect(call.written).toEqual([]);
  });

  it('drops answers that are ready after the client went away', async () => {
    const { call, answers, stream } = open();
    call.request('a');
    await ticks();
    call.emit('cancelled');
    await stream.done;
    answers.settle('a');
    await ticks();
    expect(call.written).toEqual([]);
  });

  it('ends the stream with INTERNAL when an answer rejects, which the answer function must not do', async () => {
    const call = new FakeCall();
    const stream = new AnsweredStream<Req, Res>(call, 10, async () => {
      throw new Error('bug');
    });
    call.request('a');
    await stream.done;
    expect(call.status).toMatchObject({ code: status.INTERNAL, details: 'INTERNAL: internal error' });
  });

  it('runs each answer in the async context the stream was opened in', async () => {
    const als = new AsyncLocalStorage<string>();
    const call = new FakeCall();
    const contexts: (string | undefined)[] = [];
    als.run('the call', () => new AnsweredStream<Req, Res>(call, 10, async (req) => (contexts.push(als.getStore()), { id: req.id, answer: '' })));
    als.run('someone else', () => call.request('a'));
    call.request('b');
    await ticks();
    expect(contexts).toEqual(['the call', 'the call']);
  });
});
