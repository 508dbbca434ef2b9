import { EndOffsets } from './end-offsets';
import { BarrierTimeoutError, ReadBarrier } from './read-barrier';

/** Unit test of the coalescing logic; the real-broker behaviour is covered by the services' tests. */
describe('ReadBarrier', () => {
  const broker = (high: () => string) => {
    const calls = { n: 0 };
    const fake: EndOffsets = async () => {
      calls.n++;
      return new Map([['t:0', BigInt(high())]]);
    };
    return { fake, calls };
  };

  it('returns at once when the projection already applied the end offsets', async () => {
    const { fake } = broker(() => '5');
    const barrier = new ReadBarrier({ endOffsets: fake, topics: ['t'], appliedPositions: async () => new Map([['t:0', 5n]]) });
    await expect(barrier.wait()).resolves.toBeUndefined();
  });

  it('waits until the projection catches up', async () => {
    const { fake } = broker(() => '5');
    let applied = 3n;
    const barrier = new ReadBarrier({ endOffsets: fake, topics: ['t'], appliedPositions: async () => new Map([['t:0', applied]]), pollIntervalMs: 2 });
    let done = false;
    const waiting = barrier.wait().then(() => (done = true));
    await new Promise((r) => setTimeout(r, 30));
    expect(done).toBe(false);
    applied = 5n;
    await waiting;
    expect(done).toBe(true);
  });

  it('shares one end-offset fetch among callers that arrive together', async () => {
    const { fake, calls } = broker(() => '1');
    const barrier = new ReadBarrier({ endOffsets: fake, topics: ['t'], appliedPositions: async () => new Map([['t:0', 1n]]) });
    await Promise.all(Array.from({ length: 50 }, () => barrier.wait()));
    expect(calls.n).toBe(1);
  });

  it('gives up with a BarrierTimeoutError naming the lagging partition', async () => {
    const { fake } = broker(() => '9');
    const barrier = new ReadBarrier({ endOffsets: fake, topics: ['t'], appliedPositions: async () => new Map(), timeoutMs: 50, pollIntervalMs: 5 });
    const error = await barrier.wait().catch((e) => e);
    expect(error).toBeInstanceOf(BarrierTimeoutError);
    expect(error.message).toContain('t:0@0/9');
  });

  it('reports how long each wait took and how it ended', async () => {
    const waits: [number, string][] = [];
    const onWaited = (ms: number, outcome: string) => waits.push([ms, outcome]);
    let applied = 3n;
    const barrier = new ReadBarrier({
      endOffsets: broker(() => '5').fake,
      topics: ['t'],
      appliedPositions: async () => new Map([['t:0', applied]]),
      pollIntervalMs: 2,
      timeoutMs: 40,
      onWaited,
    });
    await expect(barrier.wait()).rejects.toBeInstanceOf(BarrierTimeoutError);
    applied = 5n;
    await barrier.wait();
    expect(waits.map(([, outcome]) => outcome)).toEqual(['behind', 'ok']);
    expect(waits[0][0]).toBeGreaterThanOrEqual(40);
  });

  it('is woken by the projection applying, without waiting for a poll', async () => {
    const { fake } = broker(() => '5');
    const barrier = new ReadBarrier({ endOffsets: fake, topics: ['t'], appliedPositions: async () => new Map([['t:0', 3n]]), pollIntervalMs: 60_000 });
    const waiting = barrier.wait();
    await new Promise((r) => setTimeout(r, 20));
    barrier.applied('t', 0, 5n);
    await expect(waiting).resolves.toBeUndefined();
  });

  it('answers from positions it already knows, without reading the checkpoints again', async () => {
    const { fake } = broker(() => '5');
    let reads = 0;
    const barrier = new ReadBarrier({
      endOffsets: fake,
      topics: ['t'],
      appliedPositions: async () => {
        reads++;
        return new Map([['t:0', 5n]]);
      },
    });
    await barrier.wait();
    await barrier.wait();
    await barrier.wait();
    expect(reads).toBe(1);
  });
});
