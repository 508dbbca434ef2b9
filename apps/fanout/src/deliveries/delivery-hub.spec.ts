import { StoredMessageData } from '@im/contracts';
import { DomainError } from '@im/shared-domain';
import { storedToMessageViews } from '../messages/message.mapper';
import { DeliveryHub, DeliverySink, MessageView, REMEMBERED_UID_CHANGES } from './delivery-hub';

/** A stream that records what is written to it. */
const sink = () => {
  const written: Record<string, unknown>[] = [];
  const s: DeliverySink & { written: typeof written } = { written, write: (d) => written.push(d as unknown as Record<string, unknown>), fail: () => undefined };
  return s;
};

const push = (hub: DeliveryHub, views: MessageView[]) => {
  for (const frame of hub.messageFrames(views)) frame.sink.write(frame.delivery);
};

const stored = (channelId: string, channelType: number, seq = 1): StoredMessageData => ({
  messageId: `m-${seq}`,
  messageSeq: seq,
  channel: { channelId, channelType },
  fromUid: 'a',
  clientMsgNo: `c-${seq}`,
  payload: Buffer.from('hello').toString('base64'),
  sentAtMs: 1_767_268_800_000,
  membershipVersion: channelType === 1 ? 0 : 3,
});

describe('delivery hub', () => {
  it('given a per-uid and a batched stream with overlapping uids, writes one frame per recipient on the first and one per message on the second', () => {
    const hub = new DeliveryHub();
    const [perUid, batched] = [sink(), sink()];
    hub.open(perUid);
    hub.open(batched);
    hub.attach(perUid, ['a', 'b', 'x']);
    hub.attach(batched, ['b', 'c', 'y'], { batched: true });
    const message = { messageSeq: 1 };
    push(hub, [{ uids: ['a', 'b', 'c', 'd'], message }]);
    // Per-uid: exactly the frames of clients that predate batching, with no `uids` field at all.
    expect(perUid.written).toStrictEqual([
      { uid: 'a', message },
      { uid: 'b', message },
    ]);
    expect(batched.written).toStrictEqual([{ uid: '', uids: ['b', 'c'], message }]);
    // The Message object is built once and shared by every frame.
    expect(perUid.written[0].message).toBe(message);
    expect(batched.written[0].message).toBe(message);
  });

  it('tells the mode the first attach chose, and gives an audience stream the frames of a batched one (its ids are the encoder’s)', () => {
    const hub = new DeliveryHub();
    const [audiences, batched] = [sink(), sink()];
    hub.open(audiences);
    hub.open(batched);
    expect(hub.attach(audiences, ['b', 'c'], { batched: true, audiences: true })).toBe('audiences');
    expect(hub.attach(audiences, ['d'], { batched: true, audiences: true })).toBe('audiences');
    expect(hub.attach(batched, ['b'], { batched: true })).toBe('batched');
    const message = { messageSeq: 1 };
    push(hub, [{ uids: ['a', 'b', 'c', 'd'], message }]);
    expect(audiences.written).toStrictEqual([{ uid: '', uids: ['b', 'c', 'd'], message }]);
    expect(batched.written).toStrictEqual([{ uid: '', uids: ['b'], message }]);
  });

  it('writes nothing to a stream none of whose uids is a recipient', () => {
    const hub = new DeliveryHub();
    const [perUid, batched] = [sink(), sink()];
    hub.open(perUid);
    hub.open(batched);
    hub.attach(perUid, ['x']);
    hub.attach(batched, ['y'], { batched: true });
    expect(hub.messageFrames([{ uids: ['a', 'b'], message: {} }])).toEqual([]);
  });

  it('gives each viewpoint of a person channel its own frame on a batched stream, and one frame per person on a per-uid stream', () => {
    const hub = new DeliveryHub();
    const [perUid, batched] = [sink(), sink()];
    hub.open(perUid);
    hub.open(batched);
    hub.attach(perUid, ['a', 'b']);
    hub.attach(batched, ['a', 'b'], { batched: true });
    push(hub, storedToMessageViews(stored('a|b', 1), ['a', 'b']));
    const seen = (d: Record<string, unknown>) => (d.message as { channel: unknown }).channel;
    expect(batched.written.map((d) => [d.uid, d.uids, seen(d)])).toEqual([
      ['', ['a'], { channelId: 'b', channelType: 1 }],
      ['', ['b'], { channelId: 'a', channelType: 1 }],
    ]);
    expect(perUid.written.map((d) => [d.uid, d.uids, seen(d)])).toEqual([
      ['a', undefined, { channelId: 'b', channelType: 1 }],
      ['b', undefined, { channelId: 'a', channelType: 1 }],
    ]);
  });

  it('gives a group message one view, seen as the group itself, with the payload decoded once', () => {
    const views = storedToMessageViews(stored('g1', 2), ['a', 'b', 'c']);
    expect(views).toHaveLength(1);
    expect(views[0].uids).toEqual(['a', 'b', 'c']);
    expect(views[0].message).toMatchObject({ channel: { channelId: 'g1', channelType: 2 }, messageSeq: 1, membershipVersion: 3 });
    expect(Buffer.from(views[0].message.payload).toString()).toBe('hello');
    expect(storedToMessageViews(stored('g1', 2), [])).toEqual([]);
  });

  it('writes a command once per stream of its uid, with `uid` set, and `uids` = [uid] on batched streams', () => {
    const hub = new DeliveryHub();
    const [perUid, batched, other] = [sink(), sink(), sink()];
    for (const s of [perUid, batched, other]) hub.open(s);
    hub.attach(perUid, ['a']);
    hub.attach(batched, ['a', 'b'], { batched: true });
    hub.attach(other, ['b'], { batched: false });
    const command = { cmdSeq: 4 };
    for (const frame of hub.commandFrames('a', command)) frame.sink.write(frame.delivery);
    expect(perUid.written).toStrictEqual([{ uid: 'a', command }]);
    expect(batched.written).toStrictEqual([{ uid: 'a', uids: ['a'], command }]);
    expect(other.written).toEqual([]);
  });

  it('refuses an attach whose batched value differs from the first attach of the stream, registering none of its uids', () => {
    const hub = new DeliveryHub();
    const s = sink();
    hub.open(s);
    hub.attach(s, ['a'], { batched: true });
    let error: unknown;
    try {
      hub.attach(s, ['b'], { batched: false });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(DomainError);
    expect(error).toMatchObject({ kind: 'INVALID_ARGUMENT', reason: 'BATCHED_MODE_MISMATCH' });
    expect([...hub.attached.keys()]).toEqual(['a']);
  });

  it('keeps the streams of other uids and streams when one stream detaches or closes', () => {
    const hub = new DeliveryHub();
    const [one, two] = [sink(), sink()];
    hub.open(one);
    hub.open(two);
    hub.attach(one, ['a', 'b'], { batched: true });
    hub.attach(two, ['a'], { batched: true });
    hub.detach(one, ['a']);
    push(hub, [{ uids: ['a', 'b'], message: {} }]);
    expect(one.written.map((d) => d.uids)).toEqual([['b']]);
    expect(two.written.map((d) => d.uids)).toEqual([['a']]);
    hub.close(two);
    expect([...hub.attached.keys()]).toEqual(['b']);
  });

  it('splits the recipients of one message on one batched stream in frames of at most 10000 uids', () => {
    const hub = new DeliveryHub();
    const s = sink();
    hub.open(s);
    const uids = Array.from({ length: 25_000 }, (_, i) => `u${i}`);
    for (let i = 0; i < uids.length; i += 10_000) hub.attach(s, uids.slice(i, i + 10_000), { batched: true });
    const message = {};
    push(hub, [{ uids, message }]);
    expect(s.written.map((d) => (d.uids as string[]).length)).toEqual([10_000, 10_000, 5_000]);
    expect(s.written.flatMap((d) => d.uids as string[])).toEqual(uids);
    expect(s.written.every((d) => d.message === message && d.uid === '')).toBe(true);
  });

  it('finds the streams of a message through its recipients only, however many uids are attached', () => {
    const hub = new DeliveryHub();
    const s = sink();
    hub.open(s);
    hub.attach(
      s,
      Array.from({ length: 10_000 }, (_, i) => `u${i}`),
      { batched: true },
    );
    const attached = hub.attached as Map<string, unknown>;
    // Walking the attached uids would go through these; the frames of a message must not.
    const walk = jest.spyOn(attached, 'keys');
    const entries = jest.spyOn(attached, 'entries');
    const frames = hub.messageFrames([{ uids: ['u7', 'u9999', 'nobody'], message: {} }]);
    expect(frames.map((f) => f.delivery)).toEqual([{ uid: '', uids: ['u7', 'u9999'], message: {} }]);
    expect(walk).not.toHaveBeenCalled();
    expect(entries).not.toHaveBeenCalled();
  });

  it('tells which uids were attached or detached since a point, and when it no longer remembers that far back', () => {
    const hub = new DeliveryHub();
    const s = sink();
    hub.open(s);
    const start = hub.changes;
    hub.attach(s, ['a', 'b'], { batched: true });
    hub.attach(s, ['a'], { batched: true }); // already attached: no change
    hub.detach(s, ['a', 'z']); // z was never attached: no change
    expect(hub.changesSince(start)).toEqual(['a', 'b', 'a']);
    const now = hub.changes;
    expect(hub.changesSince(now)).toEqual([]);
    hub.close(s);
    expect(hub.changesSince(now)).toEqual(['b']);
    hub.open(s);
    hub.attach(
      s,
      Array.from({ length: 2 * REMEMBERED_UID_CHANGES }, (_, i) => `u${i}`),
      { batched: true },
    );
    expect(hub.changesSince(start)).toBeUndefined();
    expect(hub.changesSince(hub.changes - 3)).toEqual(['u8189', 'u8190', 'u8191']);
  });
});
