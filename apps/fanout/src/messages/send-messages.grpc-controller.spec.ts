import { status } from '@grpc/grpc-js';
import { BarrierTimeoutError } from '@im/kafka';
import { DomainError } from '@im/shared-domain';
import { Logger } from '@nestjs/common';
import { EventEmitter } from 'node:events';
import { MessageCommands } from './message-commands';
import { SendMessageInput, toSendRequest } from './message.mapper';
import { SendMessagesGrpcController } from './send-messages.grpc-controller';

/** MessageCommands.send as the real one behaves: validation throws at once, the commit answers later. */
class FakeCommands {
  readonly submitted: string[] = [];
  private readonly outcomes = new Map<string, { resolve: (v: { messageId: string; messageSeq: number }) => void; reject: (e: unknown) => void }>();

  send(input: SendMessageInput) {
    const request = toSendRequest(input);
    this.submitted.push(request.clientMsgNo);
    return new Promise<{ messageId: string; messageSeq: number }>((resolve, reject) => this.outcomes.set(request.clientMsgNo, { resolve, reject }));
  }

  private outcome(clientMsgNo: string) {
    const outcome = this.outcomes.get(clientMsgNo);
    if (!outcome) throw new Error(`${clientMsgNo} was not submitted`);
    return outcome;
  }

  store(clientMsgNo: string, messageSeq: number) {
    this.outcome(clientMsgNo).resolve({ messageId: `id-${clientMsgNo}`, messageSeq });
  }

  fail(clientMsgNo: string, error: unknown) {
    this.outcome(clientMsgNo).reject(error);
  }
}

/** A grpc-js server duplex stream stand-in: requests in by `emit('data')`, answers recorded. */
class FakeCall extends EventEmitter {
  written: unknown[] = [];
  ended = false;
  status?: { code: number; details: string };

  constructor() {
    super();
    // As grpc-js does: an error emitted on the call becomes its status, sent when the call ends.
    this.on('error', (e: { code: number; details: string }) => {
      this.status = e;
      this.end();
    });
  }

  write(answer: unknown, callback: () => void) {
    this.written.push(answer);
    callback();
    return true;
  }

  end() {
    if (this.ended) return;
    this.ended = true;
    this.emit('finish');
  }

  paused = false;

  pause() {
    this.paused = true;
  }

  resume() {
    this.paused = false;
  }
}

const ticks = async () => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};

const message = (clientMsgNo: string, extra: Partial<SendMessageInput> = {}): SendMessageInput => ({
  fromUid: 'alice',
  channel: { channelId: 'team', channelType: 2 },
  payload: Buffer.from('hi'),
  clientMsgNo,
  ...extra,
});

describe('SendMessages handling', () => {
  const open = () => {
    const commands = new FakeCommands();
    const controller = new SendMessagesGrpcController(commands as unknown as MessageCommands, { SEND_STREAM_MAX_IN_FLIGHT: 100 });
    const call = new FakeCall();
    const done = controller.sendMessages(call as never);
    return { commands, controller, call, done };
  };

  it('submits requests in the order they are read and answers each with its request id as its send completes', async () => {
    const { commands, call, done } = open();
    for (const n of ['1', '2', '3']) call.emit('data', { requestId: `r${n}`, message: message(`c${n}`) });
    expect(commands.submitted).toEqual(['c1', 'c2', 'c3']);
    commands.store('c2', 8);
    commands.store('c1', 7);
    commands.store('c3', 9);
    call.emit('end');
    await done;
    expect(call.written).toEqual([
      { requestId: 'r2', sent: { messageId: 'id-c2', messageSeq: 8 } },
      { requestId: 'r1', sent: { messageId: 'id-c1', messageSeq: 7 } },
      { requestId: 'r3', sent: { messageId: 'id-c3', messageSeq: 9 } },
    ]);
    expect(call.ended).toBe(true);
    expect(call.status).toBeUndefined();
  });

  it('answers a refused request with the code, reason and text SendMessage would fail with, and goes on', async () => {
    const { commands, call } = open();
    call.emit('data', { requestId: 'empty', message: message('c1', { payload: Buffer.alloc(0) }) });
    call.emit('data', { requestId: 'stranger', message: message('c2', { fromUid: 'stranger' }) });
    call.emit('data', { requestId: 'none', message: null });
    call.emit('data', { requestId: '', message: message('c3', { channel: { channelId: 'team', channelType: 0 } }) });
    call.emit('data', { requestId: 'fine', message: message('c4') });
    commands.fail('c2', new DomainError('PERMISSION_DENIED', 'NOT_SUBSCRIBER', 'stranger is not a subscriber of 2:team'));
    commands.store('c4', 1);
    await ticks();
    expect(commands.submitted).toEqual(['c2', 'c4']);
    const byId = Object.fromEntries(call.written.map((a) => [(a as { requestId: string }).requestId, a]));
    expect(byId['empty']).toEqual({ requestId: 'empty', error: { code: status.INVALID_ARGUMENT, reason: 'EMPTY_PAYLOAD', message: expect.any(String) } });
    expect(byId['stranger']).toEqual({
      requestId: 'stranger',
      error: { code: status.PERMISSION_DENIED, reason: 'NOT_SUBSCRIBER', message: 'stranger is not a subscriber of 2:team' },
    });
    expect(byId['none']).toMatchObject({ error: { code: status.INVALID_ARGUMENT, reason: 'MISSING_MESSAGE' } });
    expect(byId['']).toMatchObject({ error: { code: status.INVALID_ARGUMENT, reason: 'INVALID_CHANNEL_TYPE' } });
    expect(byId['fine']).toEqual({ requestId: 'fine', sent: { messageId: 'id-c4', messageSeq: 1 } });
    expect(call.written).toHaveLength(5);
    expect(call.status).toBeUndefined();
  });

  it('answers infrastructure failures as retryable errors, and unknown ones as INTERNAL without their text (logged)', async () => {
    const logged = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    const { commands, call } = open();
    call.emit('data', { requestId: 'k', message: message('c1') });
    call.emit('data', { requestId: 'b', message: message('c2') });
    call.emit('data', { requestId: 'x', message: message('c3') });
    commands.fail('c1', Object.assign(new Error('broker down'), { name: 'KafkaJSNumberOfRetriesExceeded' }));
    commands.fail('c2', new BarrierTimeoutError(['im.subscriptions.events.v1/0']));
    commands.fail('c3', new Error('password=hunter2'));
    await ticks();
    expect(call.written).toEqual([
      { requestId: 'k', error: { code: status.UNAVAILABLE, reason: 'KAFKA_UNAVAILABLE', message: 'broker down' } },
      { requestId: 'b', error: { code: status.UNAVAILABLE, reason: 'PROJECTION_BEHIND', message: expect.stringContaining('retry') } },
      { requestId: 'x', error: { code: status.INTERNAL, reason: 'INTERNAL', message: 'internal error' } },
    ]);
    expect(logged).toHaveBeenCalledTimes(1);
    logged.mockRestore();
  });

  it('on shutdown, answers the requests it read and ends open streams with UNAVAILABLE / SHUTTING_DOWN', async () => {
    const { commands, controller, call, done } = open();
    call.emit('data', { requestId: 'r1', message: message('c1') });
    const shutdown = controller.beforeApplicationShutdown();
    commands.store('c1', 1);
    await shutdown;
    await done;
    expect(call.written).toEqual([{ requestId: 'r1', sent: { messageId: 'id-c1', messageSeq: 1 } }]);
    expect(call.status).toMatchObject({ code: status.UNAVAILABLE, details: expect.stringMatching(/^SHUTTING_DOWN: /) });

    // A stream opened after the shutdown began ends at once, reading nothing.
    const late = new FakeCall();
    await controller.sendMessages(late as never);
    late.emit('data', { requestId: 'r2', message: message('c2') });
    expect(late.status).toMatchObject({ code: status.UNAVAILABLE, details: expect.stringMatching(/^SHUTTING_DOWN: /) });
    expect(commands.submitted).toEqual(['c1']);
  });
});
