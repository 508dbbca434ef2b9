import { status } from '@grpc/grpc-js';
import { GRPC_SERVICES, responseCodec } from '@im/contracts';
import { EncodedResponse } from '@im/service-kit';
import { EventEmitter } from 'node:events';
import { DeliveriesGrpcController } from './deliveries.grpc-controller';
import { DeliveryEncoder } from './delivery-encoder';
import { DeliveryHub } from './delivery-hub';

/** An in-memory stand-in for a grpc-js server duplex stream: records writes and the final status. */
class FakeCall extends EventEmitter {
  written: object[] = [];
  writableLength = 0;
  ended = false;
  status?: { code: number; details: string };

  constructor() {
    super();
    this.on('error', (e: { code: number; details: string }) => (this.status = { code: e.code, details: e.details }));
  }

  write(delivery: object) {
    this.written.push(delivery);
    return true;
  }

  end() {
    this.ended = true;
  }
}

const MAX_QUEUED = 1_000;

/** Leaves deliveries as objects, so the tests read them as written (the wire encoding has its own spec). */
const unencoded = { encode: (delivery: object) => delivery } as unknown as DeliveryEncoder;

/** Pushes one message to whoever among `uids` is attached, as the live push does. */
const deliver = (hub: DeliveryHub, uids: string[], message: object) => {
  for (const frame of hub.messageFrames([{ uids, message }])) frame.sink.write(frame.delivery);
};

describe('StreamDeliveries handling', () => {
  const open = () => {
    const hub = new DeliveryHub();
    const controller = new DeliveriesGrpcController(hub, unencoded, { DELIVERY_STREAM_MAX_QUEUED: MAX_QUEUED });
    const call = new FakeCall();
    const done = controller.streamDeliveries(call as never);
    return { hub, controller, call, done };
  };

  it('given an attach, acknowledges it after registering the uids, then delivers to them', () => {
    const { hub, call } = open();
    call.emit('data', { action: 'attach', attach: { uids: ['a', 'b', 'a'] } });
    expect(call.written).toEqual([{ uid: '', attached: { uids: ['a', 'b'] } }]);
    expect([...hub.attached.keys()].sort()).toEqual(['a', 'b']);
    deliver(hub, ['a'], { messageSeq: 1 });
    expect(call.written[1]).toStrictEqual({ uid: 'a', message: { messageSeq: 1 } });
  });

  it('given a detach, stops delivering to that uid only', () => {
    const { hub, call } = open();
    call.emit('data', { action: 'attach', attach: { uids: ['a', 'b'] } });
    call.emit('data', { action: 'detach', detach: { uids: ['b'] } });
    deliver(hub, ['b'], {});
    deliver(hub, ['a'], {});
    expect(call.written.map((d) => (d as { uid: string }).uid)).toEqual(['', 'a']);
  });

  it('given a uid on two streams, delivers to both; the end of one stream leaves the other attached', async () => {
    const hub = new DeliveryHub();
    const controller = new DeliveriesGrpcController(hub, unencoded, { DELIVERY_STREAM_MAX_QUEUED: MAX_QUEUED });
    const [one, two] = [new FakeCall(), new FakeCall()];
    const doneOne = controller.streamDeliveries(one as never);
    void controller.streamDeliveries(two as never);
    one.emit('data', { action: 'attach', attach: { uids: ['a'] } });
    two.emit('data', { action: 'attach', attach: { uids: ['a'] } });
    deliver(hub, ['a'], {});
    expect([one.written.length, two.written.length]).toEqual([2, 2]);
    one.emit('end');
    await doneOne;
    expect(one.ended).toBe(true);
    deliver(hub, ['a'], {});
    expect([one.written.length, two.written.length]).toEqual([2, 3]);
  });

  it('when a request is invalid, ends the stream with INVALID_ARGUMENT and detaches everything', async () => {
    const { hub, call, done } = open();
    call.emit('data', { action: 'attach', attach: { uids: ['a'] } });
    call.emit('data', { action: 'attach', attach: { uids: ['bad uid'] } });
    await done;
    expect(call.status).toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringContaining('ID_INVALID_CHARACTERS') });
    expect(hub.attached.size).toBe(0);
  });

  it('given a first attach with batched set, delivers one frame per message with the recipients attached to the stream', () => {
    const { hub, call } = open();
    call.emit('data', { action: 'attach', attach: { uids: ['a', 'b'], batched: true } });
    call.emit('data', { action: 'attach', attach: { uids: ['c'], batched: true } });
    deliver(hub, ['a', 'c', 'z'], { messageSeq: 1 });
    expect(call.written).toStrictEqual([
      { uid: '', attached: { uids: ['a', 'b'] } },
      { uid: '', attached: { uids: ['c'] } },
      { uid: '', uids: ['a', 'c'], message: { messageSeq: 1 } },
    ]);
  });

  it.each([
    ['a batched stream', true, false],
    ['a batched stream', true, undefined],
    ['a per-uid stream', false, true],
    ['a stream whose first attach left batched unset', undefined, true],
  ])('on %s, refuses an attach with another batched value (BATCHED_MODE_MISMATCH) and ends the stream', async (_label, first, second) => {
    const { hub, call, done } = open();
    call.emit('data', { action: 'attach', attach: { uids: ['a'], batched: first } });
    call.emit('data', { action: 'attach', attach: { uids: ['b'], batched: second } });
    await done;
    expect(call.status).toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringContaining('BATCHED_MODE_MISMATCH') });
    expect(call.written).toEqual([{ uid: '', attached: { uids: ['a'] } }]);
    expect(hub.attached.size).toBe(0);
  });

  it('given a first attach asking for audiences, names a recipient list by id after the frame that defined it', () => {
    const hub = new DeliveryHub();
    const controller = new DeliveriesGrpcController(hub, DeliveryEncoder.forContract(), { DELIVERY_STREAM_MAX_QUEUED: MAX_QUEUED });
    const call = new FakeCall();
    void controller.streamDeliveries(call as never);
    const codec = responseCodec(GRPC_SERVICES.MessageService, 'StreamDeliveries');
    call.emit('data', { action: 'attach', attach: { uids: ['a', 'b', 'c'], batched: true, audiences: true } });
    // Twice the same audience, as the live push gives it while the channel's members hold.
    const [frame] = hub.messageFrames([{ uids: ['a', 'b'], message: { messageSeq: 1 } }]);
    for (const messageSeq of [1, 2]) frame.sink.write({ ...frame.delivery, message: { messageSeq } });
    const decoded = call.written.map((w) => codec.decode((w as EncodedResponse).bytes));
    expect(decoded.slice(1)).toMatchObject([
      { uids: [], audience: { id: 1, uids: ['a', 'b'] }, message: { messageSeq: 1 } },
      { uids: [], audience: { id: 1, uids: [] }, message: { messageSeq: 2 } },
    ]);
  });

  it.each([
    ['audiences without batched', { audiences: true }, undefined, 'AUDIENCES_NEED_BATCHED'],
    ['audiences on a batched stream', { batched: true }, { batched: true, audiences: true }, 'AUDIENCES_MODE_MISMATCH'],
    ['no audiences on an audience stream', { batched: true, audiences: true }, { batched: true }, 'AUDIENCES_MODE_MISMATCH'],
  ])('refuses %s with INVALID_ARGUMENT and ends the stream', async (_label, first, second, reason) => {
    const { hub, call, done } = open();
    call.emit('data', { action: 'attach', attach: { uids: ['a'], ...first } });
    if (second) call.emit('data', { action: 'attach', attach: { uids: ['b'], ...second } });
    await done;
    expect(call.status).toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringContaining(reason) });
    expect(hub.attached.size).toBe(0);
  });

  it('lets a detach come before the first attach, which then still decides the mode', () => {
    const { hub, call } = open();
    call.emit('data', { action: 'detach', detach: { uids: ['a'] } });
    call.emit('data', { action: 'attach', attach: { uids: ['a'], batched: true } });
    deliver(hub, ['a'], {});
    expect(call.written[1]).toStrictEqual({ uid: '', uids: ['a'], message: {} });
  });

  it('when a stream falls too far behind, ends it with UNAVAILABLE so the gateway reconnects and catches up', async () => {
    const { hub, call, done } = open();
    call.emit('data', { action: 'attach', attach: { uids: ['a'] } });
    call.writableLength = MAX_QUEUED + 1;
    deliver(hub, ['a'], {});
    await done;
    expect(call.status).toMatchObject({ code: status.UNAVAILABLE, details: expect.stringContaining('STREAM_BEHIND') });
    expect(hub.attached.size).toBe(0);
  });

  it('on shutdown, ends every stream with UNAVAILABLE', async () => {
    const { controller, call, done } = open();
    call.emit('data', { action: 'attach', attach: { uids: ['a'] } });
    controller.beforeApplicationShutdown();
    await done;
    expect(call.status).toMatchObject({ code: status.UNAVAILABLE });
  });
});
