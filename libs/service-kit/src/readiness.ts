import { Inject, Injectable } from '@nestjs/common';
import { Admin } from 'kafkajs';
import { DataSource } from 'typeorm';
import { ConsumerRegistry, isConsuming } from './consumer-supervision';
import { DATA_SOURCE, KAFKA_ADMIN } from './tokens';

export interface ReadinessReport {
  ready: boolean;
  checks: Record<string, { up: boolean; error?: string }>;
}

/**
 * Is this instance able to do its work: Postgres answers a query, Kafka answers a metadata request,
 * and every consumer of the instance is consuming (not restarting after a crash, not halted by a
 * checkpoint from another cluster, no partition stuck on a failing batch).
 * Shared by the HTTP readiness endpoint and the gRPC health service; cached briefly so frequent
 * probes do not hammer either dependency.
 */
@Injectable()
export class Readiness {
  private cached?: { at: number; report: ReadinessReport };
  private draining = false;

  constructor(
    @Inject(DATA_SOURCE) private readonly dataSource: DataSource,
    @Inject(KAFKA_ADMIN) private readonly admin: Admin,
    private readonly consumers: ConsumerRegistry,
  ) {}

  /** From now on report not-ready, so load balancers stop sending work while we drain. */
  markDraining(): void {
    this.draining = true;
    this.cached = undefined;
  }

  /** Whether a drain has begun (long-lived health watches end on it, so the server can close gracefully). */
  get isDraining(): boolean {
    return this.draining;
  }

  async check(): Promise<ReadinessReport> {
    if (this.draining) return { ready: false, checks: { draining: { up: false, error: 'shutting down' } } };
    if (this.cached && Date.now() - this.cached.at < 1000) return this.cached.report;
    const [database, kafka] = await Promise.all([probe(() => this.dataSource.query('SELECT 1')), probe(() => this.admin.describeCluster())]);
    const checks: ReadinessReport['checks'] = { database, kafka };
    for (const h of this.consumers.health()) {
      checks[`consumer:${h.groupId}`] = isConsuming(h)
        ? { up: true }
        : { up: false, error: `${h.stalled ? 'stalled' : h.status}: ${h.problem ?? 'not consuming yet'}` };
    }
    const report = { ready: Object.values(checks).every((c) => c.up), checks };
    this.cached = { at: Date.now(), report };
    return report;
  }
}

async function probe(fn: () => Promise<unknown>): Promise<{ up: boolean; error?: string }> {
  try {
    await withTimeout(fn(), 2000);
    return { up: true };
  } catch (error) {
    return { up: false, error: (error as Error).message };
  }
}

const withTimeout = <T>(p: Promise<T>, ms: number) =>
  Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms).unref())]);
