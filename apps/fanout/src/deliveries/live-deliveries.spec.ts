import { StoredMessageData } from '@im/contracts';
import { MembershipSnapshot } from '@im/fanout-domain';
import { ChannelRef, MembershipInterval } from '@im/shared-domain';
import { DeliveryHub, DeliverySink, REMEMBERED_UID_CHANGES } from './delivery-hub';
import { LiveDeliveries, LiveItem } from './live-deliveries';
import { MembershipCache } from './membership-cache';

type Written = { uid: string; uids?: string[]; message?: { messageSeq: number; channel: ChannelRef }; command?: { cmdSeq: number } };

const sink = () => {
  const written: Written[] = [];
  const s: DeliverySink & { written: Written[] } = { written, write: (d) => written.push(d as Written), fail: () => undefined };
  return s;
};

const group = (channelId: string): ChannelRef => ({ channelId, channelType: 2 });

const message = (channel: ChannelRef, seq: number, membershipVersion: number): LiveItem => ({
  kind: 'message',
  message: {
    messageId: `${channel.channelId}-${seq}`,
    messageSeq: seq,
    channel,
    fromUid: 'a',
    clientMsgNo: `c${seq}`,
    payload: Buffer.from(`m${seq}`).toString('base64'),
    sentAtMs: 0,
    membershipVersion,
  } satisfies StoredMessageData,
});

/**
 * The membership store as the projection leaves it: per channel, the stretches and the version.
 * Tests move it forward as the subscriptions events would.
 */
class Store {
  readonly loads: string[][] = [];
  private readonly channels = new Map<string, { version: number; intervals: Map<string, MembershipInterval[]> }>();

  change(channelId: string, kind: 'added' | 'removed', uids: string[]): number {
    const key = `2:${channelId}`;
    const channel = this.channels.get(key) ?? { version: 0, intervals: new Map<string, MembershipInterval[]>() };
    this.channels.set(key, channel);
    const version = ++channel.version;
    for (const uid of uids) {
      const stretches = channel.intervals.get(uid) ?? [];
      const open = stretches.find((s) => s.leftVersion === null);
      if (kind === 'added' && !open) channel.intervals.set(uid, [...stretches, { joinVersion: version, leftVersion: null }]);
      if (kind === 'removed' && open) open.leftVersion = version;
    }
    return version;
  }

  /** One load: a deep copy, as a query result would be. */
  load = async (channels: readonly ChannelRef[]) => {
    this.loads.push(channels.map((c) => c.channelId));
    const result = new Map<string, MembershipSnapshot>();
    for (const c of channels) {
      const key = `${c.channelType}:${c.channelId}`;
      const found = this.channels.get(key);
      const intervals = new Map([...(found?.intervals ?? [])].map(([uid, s]) => [uid, s.map((i) => ({ ...i }))]));
      result.set(key, { version: found?.version ?? 0, intervals });
    }
    return result;
  };
}

describe('live deliveries of a consumed batch', () => {
  const setUp = (options: { sliceMs?: number; maxIntervals?: number } = {}) => {
    const hub = new DeliveryHub();
    const store = new Store();
    const unanswered: number[] = [];
    const live = new LiveDeliveries(hub, new MembershipCache(options.maxIntervals ?? 1000), store.load, {
      sliceMs: options.sliceMs,
      onUnanswered: (m) => unanswered.push(m.messageSeq),
    });
    const stream = (uids: string[], batched?: boolean) => {
      const s = sink();
      hub.open(s);
      hub.attach(s, uids, { batched });
      return s;
    };
    return { hub, store, live, stream, unanswered };
  };

  it('gives the recipients at each message stamp, loading a channel again only for a newer stamp', async () => {
    const { store, live, stream } = setUp();
    const batched = stream(['a', 'b', 'c'], true);
    const perUid = stream(['b', 'c']);
    const v1 = store.change('g', 'added', ['a', 'b']);
    await live.push([message(group('g'), 1, v1), message(group('g'), 2, v1)]);
    await live.push([message(group('g'), 3, v1)]);
    expect(store.loads).toEqual([['g']]); // the second batch is answered from memory

    const v2 = store.change('g', 'added', ['c']);
    await live.push([message(group('g'), 4, v2)]);
    const v3 = store.change('g', 'removed', ['a']);
    await live.push([message(group('g'), 5, v3)]);
    expect(store.loads).toEqual([['g'], ['g'], ['g']]);

    // `uids` in any order: each recipient once.
    expect(batched.written.map((d) => [d.message?.messageSeq, d.uid, [...(d.uids ?? [])].sort()])).toEqual([
      [1, '', ['a', 'b']],
      [2, '', ['a', 'b']],
      [3, '', ['a', 'b']],
      [4, '', ['a', 'b', 'c']],
      [5, '', ['b', 'c']],
    ]);
    const perMessage = (d: Written) => [d.message?.messageSeq, d.uid, d.uids];
    expect(perUid.written.map(perMessage).sort((x, y) => Number(x[0]) - Number(y[0]) || String(x[1]).localeCompare(String(y[1])))).toEqual([
      [1, 'b', undefined],
      [2, 'b', undefined],
      [3, 'b', undefined],
      [4, 'b', undefined],
      [4, 'c', undefined],
      [5, 'b', undefined],
      [5, 'c', undefined],
    ]);
  });

  it('answers an older stamp from a newer snapshot exactly (stretches are facts)', async () => {
    const { store, live, stream } = setUp();
    const batched = stream(['a', 'b', 'c'], true);
    const v1 = store.change('g', 'added', ['a', 'b']);
    const v2 = store.change('g', 'removed', ['a']);
    const v3 = store.change('g', 'added', ['a', 'c']);
    await live.push([message(group('g'), 1, v1), message(group('g'), 2, v2), message(group('g'), 3, v3)]);
    expect(store.loads).toEqual([['g']]);
    expect(batched.written.map((d) => [...(d.uids ?? [])].sort())).toEqual([['a', 'b'], ['b'], ['a', 'b', 'c']]);
  });

  it('loads every channel missing from memory with one load per batch', async () => {
    const { store, live, stream } = setUp();
    const batched = stream(['a'], true);
    const [v, w] = [store.change('g', 'added', ['a']), store.change('h', 'added', ['a'])];
    await live.push([message(group('g'), 1, v), message(group('h'), 1, w), message(group('g'), 2, v), message({ channelId: 'a|z', channelType: 1 }, 1, 0)]);
    expect(store.loads).toEqual([['g', 'h']]);
    expect(batched.written.map((d) => [d.message?.channel.channelId, d.message?.messageSeq])).toEqual([
      ['g', 1],
      ['h', 1],
      ['g', 2],
      ['z', 1],
    ]);
  });

  it('gives a person channel one frame per viewpoint on a batched stream, without loading anything', async () => {
    const { store, live, stream } = setUp();
    const batched = stream(['a', 'b'], true);
    const perUid = stream(['b']);
    await live.push([message({ channelId: 'a|b', channelType: 1 }, 1, 0)]);
    expect(store.loads).toEqual([]);
    expect(batched.written.map((d) => [d.uid, d.uids, d.message?.channel])).toEqual([
      ['', ['a'], { channelId: 'b', channelType: 1 }],
      ['', ['b'], { channelId: 'a', channelType: 1 }],
    ]);
    expect(perUid.written.map((d) => [d.uid, d.message?.channel])).toEqual([['b', { channelId: 'a', channelType: 1 }]]);
  });

  it('pushes commands in batch order with the messages, `uids` = [uid] on batched streams', async () => {
    const { store, live, stream } = setUp();
    const batched = stream(['a'], true);
    const v = store.change('g', 'added', ['a']);
    const command: LiveItem = {
      kind: 'command',
      command: { uid: 'a', cmdSeq: 9, type: 'app.ping', channel: group('g'), version: 1, payload: '', createdAtMs: 5 } as never,
    };
    await live.push([message(group('g'), 1, v), command, message(group('g'), 2, v)]);
    expect(batched.written.map((d) => [d.uid, d.uids, d.message?.messageSeq ?? d.command?.cmdSeq])).toEqual([
      ['', ['a'], 1],
      ['a', ['a'], 9],
      ['', ['a'], 2],
    ]);
  });

  it('pushes nothing live for a message stamped after what the store knows (projection behind), and reports it', async () => {
    const { store, live, stream, unanswered } = setUp();
    const batched = stream(['a'], true);
    const v = store.change('g', 'added', ['a']);
    await live.push([message(group('g'), 1, v), message(group('g'), 2, v + 1)]);
    expect(batched.written.map((d) => d.message?.messageSeq)).toEqual([1]);
    expect(unanswered).toEqual([2]);
  });

  it('neither loads nor writes while no uid is attached', async () => {
    const { store, live } = setUp();
    await live.push([message(group('g'), 1, store.change('g', 'added', ['a']))]);
    expect(store.loads).toEqual([]);
  });

  it('reloads a channel evicted from a cache too small to hold it with the others', async () => {
    const { store, live, stream } = setUp({ maxIntervals: 2 });
    const batched = stream(['a', 'b'], true);
    const [v, w] = [store.change('g', 'added', ['a', 'b']), store.change('h', 'added', ['a'])];
    await live.push([message(group('g'), 1, v)]);
    await live.push([message(group('h'), 1, w)]);
    await live.push([message(group('g'), 2, v)]);
    expect(store.loads).toEqual([['g'], ['h'], ['g']]);
    expect(batched.written.map((d) => [...(d.uids ?? [])].sort())).toEqual([['a', 'b'], ['a'], ['a', 'b']]);
  });

  it('yields to the event loop between slices, keeping the order of frames on each stream', async () => {
    const { store, live, stream } = setUp({ sliceMs: 0 });
    const members = Array.from({ length: 1000 }, (_, i) => `u${i}`);
    const perUid = stream(members);
    const batched = stream(members, true);
    const v = store.change('g', 'added', members);
    const observed: number[] = [];
    const probe = () =>
      setImmediate(() => {
        observed.push(perUid.written.length);
        if (perUid.written.length < 3000) probe();
      });
    probe();
    await live.push([message(group('g'), 1, v), message(group('g'), 2, v), message(group('g'), 3, v)]);
    expect(perUid.written.map((d) => d.message?.messageSeq)).toEqual([...Array(1000).fill(1), ...Array(1000).fill(2), ...Array(1000).fill(3)]);
    expect(batched.written.map((d) => [d.message?.messageSeq, d.uids?.length])).toEqual([
      [1, 1000],
      [2, 1000],
      [3, 1000],
    ]);
    // Other work ran while the 3000 frames were being written, not only before or after.
    expect(observed.filter((n) => n > 0 && n < 3000).length).toBeGreaterThan(10);
  });

  describe('audiences kept between batches', () => {
    it('reuses the uid lists of a channel while no member is attached or detached, so their encoding is shared', async () => {
      const { store, live, stream } = setUp();
      const batched = stream(['a', 'b'], true);
      const v = store.change('g', 'added', ['a', 'b', 'c']);
      await live.push([message(group('g'), 1, v)]);
      stream(['x', 'y']); // not members: the audience of g still holds
      await live.push([message(group('g'), 2, v)]);
      const [first, second] = batched.written;
      expect(second.uids).toBe(first.uids);
    });

    it('reaches a member attached after the audience was built, on a stream that was not in it', async () => {
      const { hub, store, live, stream } = setUp();
      const batched = stream(['a'], true);
      const v = store.change('g', 'added', ['a', 'b']);
      await live.push([message(group('g'), 1, v)]);
      const later = stream(['b'], true);
      await live.push([message(group('g'), 2, v)]);
      expect(later.written.map((d) => [d.message?.messageSeq, d.uids])).toEqual([[2, ['b']]]);
      hub.detach(batched, ['a']);
      await live.push([message(group('g'), 3, v)]);
      expect(batched.written.map((d) => [d.message?.messageSeq, d.uids])).toEqual([
        [1, ['a']],
        [2, ['a']],
      ]);
    });

    it('rebuilds an audience older than the changes the hub remembers', async () => {
      const { hub, store, live, stream } = setUp();
      const batched = stream(['a'], true);
      const v = store.change('g', 'added', ['a', 'b']);
      await live.push([message(group('g'), 1, v)]);
      // Many changes of non-members, then one of a member: only a rebuild can see the last one.
      const noise = Array.from({ length: 2 * REMEMBERED_UID_CHANGES }, (_, i) => `n${i}`);
      const other = stream(noise, true);
      hub.attach(batched, ['b'], { batched: true });
      hub.detach(other, noise);
      await live.push([message(group('g'), 2, v)]);
      expect(batched.written.map((d) => [d.message?.messageSeq, [...(d.uids ?? [])].sort()])).toEqual([
        [1, ['a']],
        [2, ['a', 'b']],
      ]);
    });
  });
});
