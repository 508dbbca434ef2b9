import { GrpcHealthController, HEALTH_WATCH_INTERVAL_MS, LIVENESS_SERVICE } from './health.controllers';
import { Readiness, ReadinessReport } from './readiness';

/** A readiness whose dependencies are down: what a Kafka or Postgres outage looks like to the probes. */
const dependenciesDown = {
  check: async (): Promise<ReadinessReport> => ({ ready: false, checks: { kafka: { up: false, error: 'no answer within 2000 ms' } } }),
} as unknown as Readiness;

describe('grpc.health.v1 while Kafka or Postgres is down', () => {
  const health = new GrpcHealthController(dependenciesDown);

  it('reports the im.v1 services and the server as a whole NOT_SERVING, so traffic moves elsewhere', async () => {
    expect(await health.check({ service: 'im.v1.ChannelService' })).toEqual({ status: 'NOT_SERVING' });
    expect(await health.check({ service: '' })).toEqual({ status: 'NOT_SERVING' });
    expect(await health.check({})).toEqual({ status: 'NOT_SERVING' });
  });

  it('keeps liveness SERVING, so the outage never turns into pod restarts', async () => {
    expect(await health.check({ service: LIVENESS_SERVICE })).toEqual({ status: 'SERVING' });
  });

  it('answers SERVICE_UNKNOWN for a name it does not serve', async () => {
    expect(await health.check({ service: 'other.Service' })).toEqual({ status: 'SERVICE_UNKNOWN' });
  });
});

describe('grpc.health.v1 Watch', () => {
  afterEach(() => jest.useRealTimers());

  it('sends the status at once, then each change and nothing in between', async () => {
    jest.useFakeTimers();
    let ready = true;
    const readiness = { check: async (): Promise<ReadinessReport> => ({ ready, checks: {} }) } as unknown as Readiness;
    const seen: string[] = [];
    const watching = new GrpcHealthController(readiness).watch({ service: 'im.v1.MessageService' }).subscribe((r) => seen.push(r.status));
    await jest.advanceTimersByTimeAsync(0);
    expect(seen).toEqual(['SERVING']);
    await jest.advanceTimersByTimeAsync(3 * HEALTH_WATCH_INTERVAL_MS);
    expect(seen).toEqual(['SERVING']);
    ready = false;
    await jest.advanceTimersByTimeAsync(HEALTH_WATCH_INTERVAL_MS);
    expect(seen).toEqual(['SERVING', 'NOT_SERVING']);
    ready = true;
    await jest.advanceTimersByTimeAsync(2 * HEALTH_WATCH_INTERVAL_MS);
    expect(seen).toEqual(['SERVING', 'NOT_SERVING', 'SERVING']);
    watching.unsubscribe();
  });

  it('answers SERVICE_UNKNOWN for a name it does not serve, without ending the stream', async () => {
    jest.useFakeTimers();
    let completed = false;
    const seen: string[] = [];
    const watching = new GrpcHealthController(dependenciesDown)
      .watch({ service: 'other.Service' })
      .subscribe({ next: (r) => seen.push(r.status), complete: () => (completed = true) });
    await jest.advanceTimersByTimeAsync(2 * HEALTH_WATCH_INTERVAL_MS);
    expect({ seen, completed }).toEqual({ seen: ['SERVICE_UNKNOWN'], completed: false });
    watching.unsubscribe();
  });

  it('ends the stream once a drain begins, after telling the watcher NOT_SERVING', async () => {
    jest.useFakeTimers();
    let draining = false;
    const readiness = {
      check: async (): Promise<ReadinessReport> => ({ ready: !draining, checks: {} }),
      get isDraining() {
        return draining;
      },
    } as unknown as Readiness;
    let completed = false;
    const seen: string[] = [];
    new GrpcHealthController(readiness)
      .watch({ service: 'im.v1.MessageService' })
      .subscribe({ next: (r) => seen.push(r.status), complete: () => (completed = true) });
    await jest.advanceTimersByTimeAsync(2 * HEALTH_WATCH_INTERVAL_MS);
    expect({ seen, completed }).toEqual({ seen: ['SERVING'], completed: false });
    draining = true;
    await jest.advanceTimersByTimeAsync(HEALTH_WATCH_INTERVAL_MS);
    expect({ seen, completed }).toEqual({ seen: ['SERVING', 'NOT_SERVING'], completed: true });
  });
});
