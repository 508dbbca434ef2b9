import { Controller, Get, Header, HttpCode, Res } from '@nestjs/common';
import { GrpcMethod } from '@nestjs/microservices';
import { Response } from 'express';
import { distinctUntilChanged, exhaustMap, map, Observable, takeWhile, timer } from 'rxjs';
import { ServiceMetrics } from './metrics';
import { Readiness } from './readiness';

@Controller()
export class HttpHealthController {
  constructor(
    private readonly readiness: Readiness,
    private readonly metrics: ServiceMetrics,
  ) {}

  /** Liveness: the process answers. Dependencies are not checked, so a Kafka outage never restarts pods. */
  @Get('health/live')
  @HttpCode(200)
  live() {
    return { status: 'ok' };
  }

  @Get('health/ready')
  async ready(@Res() res: Response) {
    const report = await this.readiness.check();
    res.status(report.ready ? 200 : 503).json({ status: report.ready ? 'ok' : 'unavailable', checks: report.checks });
  }

  @Get('metrics')
  @Header('Cache-Control', 'no-store')
  async scrape(@Res() res: Response) {
    res.setHeader('Content-Type', this.metrics.registry.contentType);
    res.send(await this.metrics.registry.metrics());
  }
}

/** The grpc.health.v1 service name liveness probes ask for (the HTTP twin is /health/live). */
export const LIVENESS_SERVICE = 'liveness';

/** How often a Watch looks at readiness (itself cached for a second): a change reaches watchers within about this long. */
export const HEALTH_WATCH_INTERVAL_MS = 1_000;

/** grpc.health.v1.Health, so Kubernetes' native gRPC probes, grpc_health_probe and client-side health checking work. */
@Controller()
export class GrpcHealthController {
  constructor(private readonly readiness: Readiness) {}

  @GrpcMethod('Health', 'Check')
  async check(request: { service?: string }) {
    return { status: await this.statusOf(request.service) };
  }

  /**
   * The status now, then every change of it, until the client cancels (grpc.health.v1: a service
   * unknown now is answered SERVICE_UNKNOWN and the stream stays open). A drain shows as NOT_SERVING,
   * and then the stream ends (status OK): the server closes gracefully only once no call is open.
   */
  @GrpcMethod('Health', 'Watch')
  watch(request: { service?: string }): Observable<{ status: string }> {
    return timer(0, HEALTH_WATCH_INTERVAL_MS).pipe(
      exhaustMap(() => this.statusOf(request.service)),
      takeWhile(() => !this.readiness.isDraining, true),
      distinctUntilChanged(),
      map((status) => ({ status })),
    );
  }

  private async statusOf(service: string | undefined): Promise<string> {
    // Liveness asks only whether the process answers: a Kafka or Postgres outage, or a drain in
    // progress, makes the pod unready but must never get it restarted.
    if (service === LIVENESS_SERVICE) return 'SERVING';
    // The empty service name means "the server as a whole"; every im.v1 service shares its fate.
    if (service && !service.startsWith('im.v1.')) return 'SERVICE_UNKNOWN';
    const report = await this.readiness.check();
    return report.ready ? 'SERVING' : 'NOT_SERVING';
  }
}
