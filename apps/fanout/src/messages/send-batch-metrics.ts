import { ServiceMetrics } from '@im/service-kit';
import { Histogram } from 'prom-client';

/**
 * Where a send batch's time goes, so an operator (and a benchmark) can tell a slow database from a
 * slow broker from a long queue:
 *
 *   im_send_batch_size                      histogram  sends per batch
 *   im_send_batch_stage_seconds{stage}      histogram  queued (first send waiting for its batch to start),
 *                                                      barrier (membership read barrier), locks (waiting for
 *                                                      the batch before to commit, then the round trip that
 *                                                      locks the channels and reads the batch's inputs),
 *                                                      transaction (deciding, then the round trip that writes
 *                                                      and commits), publish (COMMIT to the broker's
 *                                                      acknowledgement)
 */
export type SendBatchStage = 'queued' | 'barrier' | 'locks' | 'transaction' | 'publish';

export class SendBatchMetrics {
  private readonly size: Histogram;
  private readonly stages: Histogram<'stage'>;

  constructor(metrics: ServiceMetrics) {
    this.size = new Histogram({
      name: 'im_send_batch_size',
      help: 'Sends per group-committed batch',
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024],
      registers: [metrics.registry],
    });
    this.stages = new Histogram({
      name: 'im_send_batch_stage_seconds',
      help: 'Time of each stage of a send batch: queued, barrier, locks, transaction, publish',
      labelNames: ['stage'] as const,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [metrics.registry],
    });
  }

  /** A timeline for one batch: each `mark` records the time since the previous mark as that stage. */
  batch(sends: number, firstSubmittedAt: number): { mark(stage: SendBatchStage): void } {
    this.size.observe(sends);
    let last = firstSubmittedAt;
    return {
      mark: (stage) => {
        const now = performance.now();
        this.stages.observe({ stage }, (now - last) / 1000);
        last = now;
      },
    };
  }
}
