import { GrpcHealthController, LIVENESS_SERVICE } from './health.controllers';
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
