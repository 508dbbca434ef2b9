import { BatchConsumerOptions, ConsumerHealth } from '@im/kafka';
import { CheckpointMismatchError, ConsumerCheckpoints } from '@im/persistence';
import { Injectable, Logger } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { BaseConfig } from './config';
import { ServiceMetrics } from './metrics';

/** Anything that consumes Kafka for this instance and can say whether it is consuming. */
export interface SupervisedConsumer {
  health(): ConsumerHealth;
}

/** The consumers of this instance, which readiness asks about (a consumer that is not consuming makes the instance unready). */
@Injectable()
export class ConsumerRegistry {
  private readonly consumers: SupervisedConsumer[] = [];

  register(consumer: SupervisedConsumer): void {
    this.consumers.push(consumer);
  }

  health(): ConsumerHealth[] {
    return this.consumers.map((c) => c.health());
  }
}

/** A read was refused because the projection it needs is halted (its checkpoints belong to another cluster). */
export class ProjectionHaltedError extends Error {
  constructor(readonly health: ConsumerHealth) {
    super(`projection ${health.groupId} is halted: ${health.problem}`);
    this.name = 'ProjectionHaltedError';
  }
}

/** A consumer counts as up while it consumes and no partition of it is stuck. */
export const isConsuming = (h: ConsumerHealth) => h.status === 'running' && !h.stalled;

/**
 * The options every checkpointed consumer of a service shares: its checkpoints are verified against
 * the cluster and partition on assignment, a mismatch halts it with `fix` as the remedy, and every
 * change of its status reaches the logs and the metrics.
 */
export function supervisionOptions(deps: {
  groupId: string;
  checkpoints: ConsumerCheckpoints;
  dataSource: DataSource;
  metrics: ServiceMetrics;
  config: Pick<BaseConfig, 'CONSUMER_RESTART_MAX_BACKOFF_MS' | 'CONSUMER_HALT_RETRY_MS' | 'CONSUMER_STALL_AFTER_MS'>;
  fix: string;
}): Pick<BatchConsumerOptions, 'verifyPosition' | 'isFatal' | 'haltHint' | 'onStatus' | 'restartBackoffMs' | 'haltRetryMs' | 'stallAfterMs'> {
  const logger = new Logger('consumers');
  const { groupId, checkpoints, dataSource, metrics, config } = deps;
  metrics.consumerUp.set({ group: groupId }, 0);
  return {
    restartBackoffMs: { initial: 1_000, max: config.CONSUMER_RESTART_MAX_BACKOFF_MS },
    haltRetryMs: config.CONSUMER_HALT_RETRY_MS,
    stallAfterMs: config.CONSUMER_STALL_AFTER_MS,
    verifyPosition: (partition) => checkpoints.verify(dataSource, partition),
    isFatal: (error) => error instanceof CheckpointMismatchError,
    haltHint: deps.fix,
    onStatus: (health, cause) => {
      metrics.consumerUp.set({ group: groupId }, health.status === 'running' ? 1 : 0);
      if (health.status === 'restarting' || health.status === 'halted') {
        metrics.consumerRestarts.inc({ group: groupId, status: health.status });
        logger.error({ group: groupId, status: health.status, problem: health.problem, err: cause }, `consumer ${health.status}`);
      } else if (health.status === 'running') {
        logger.log({ group: groupId }, 'consumer running');
      }
    },
  };
}
