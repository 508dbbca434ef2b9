import { Controller, Get, Header, HttpCode, Res } from '@nestjs/common';
import { GrpcMethod } from '@nestjs/microservices';
import { Response } from 'express';
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

/** grpc.health.v1.Health, so Kubernetes' native gRPC probes and grpc_health_probe work. */
@Controller()
export class GrpcHealthController {
  constructor(private readonly readiness: Readiness) {}

  @GrpcMethod('Health', 'Check')
  async check(request: { service?: string }) {
    // Liveness asks only whether the process answers: a Kafka or Postgres outage, or a drain in
    // progress, makes the pod unready but must never get it restarted.
    if (request.service === LIVENESS_SERVICE) return { status: 'SERVING' };
    // The empty service name means "the server as a whole"; every im.v1 service shares its fate.
    if (request.service && !request.service.startsWith('im.v1.')) {
      return { status: 'SERVICE_UNKNOWN' };
    }
    const report = await this.readiness.check();
    return { status: report.ready ? 'SERVING' : 'NOT_SERVING' };
  }
}
