import { CONFIG, DATA_SOURCE, ServiceMetrics } from '@im/service-kit';
import { BeforeApplicationShutdown, Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { Counter } from 'prom-client';
import { DataSource } from 'typeorm';
import { ConversationsConfig } from '../config/conversations.config';
import { ChannelMessagePruner, PrunePassResult } from './channel-message-pruner';

/**
 * Runs the channel_messages pruner every MESSAGE_PRUNE_INTERVAL_MS (after a pass ends, so passes of
 * one instance never overlap; the pass lock keeps replicas apart). A failed pass is logged and
 * counted, and the next one starts on time: pruning is never urgent, and everything it skipped is
 * found again.
 *
 *   im_conversations_messages_pruned_total        counter  channel_messages rows deleted
 *   im_conversations_prune_passes_total{result}    counter  passes: done, yielded (another replica was pruning), stopped (shutdown), failed
 */
@Injectable()
export class ChannelMessagePruning implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('channel-message-pruning');
  private readonly pruner: ChannelMessagePruner;
  private readonly intervalMs: number;
  private readonly pruned?: Counter;
  private readonly passes?: Counter<'result'>;
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private stopped = false;

  constructor(
    @Inject(DATA_SOURCE) dataSource: DataSource,
    @Inject(CONFIG) config: Pick<ConversationsConfig, 'MESSAGE_PRUNE_INTERVAL_MS' | 'MESSAGE_PRUNE_BATCH_SIZE'>,
    metrics: ServiceMetrics,
  ) {
    this.intervalMs = config.MESSAGE_PRUNE_INTERVAL_MS;
    this.pruner = new ChannelMessagePruner(dataSource, { batchSize: config.MESSAGE_PRUNE_BATCH_SIZE });
    if (this.intervalMs > 0) {
      this.pruned = new Counter({
        name: 'im_conversations_messages_pruned_total',
        help: 'channel_messages rows deleted by the pruner',
        registers: [metrics.registry],
      });
      this.passes = new Counter({
        name: 'im_conversations_prune_passes_total',
        help: 'Passes of the channel_messages pruner, by result (done; yielded: another replica was pruning; stopped: shutdown; failed)',
        labelNames: ['result'] as const,
        registers: [metrics.registry],
      });
    }
  }

  onApplicationBootstrap() {
    if (this.intervalMs > 0) this.schedule();
  }

  async beforeApplicationShutdown() {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  private schedule() {
    this.timer = setTimeout(() => {
      this.running = this.runPass().finally(() => {
        this.running = undefined;
        if (!this.stopped) this.schedule();
      });
    }, this.intervalMs);
    this.timer.unref();
  }

  private async runPass(): Promise<void> {
    const started = Date.now();
    let result: PrunePassResult;
    try {
      result = await this.pruner.pass(() => this.stopped);
    } catch (error) {
      this.passes?.inc({ result: 'failed' });
      this.logger.warn({ err: error }, 'channel_messages prune pass failed; the next pass starts over');
      return;
    }
    this.passes?.inc({ result: result.outcome });
    this.pruned?.inc(result.pruned);
    if (result.pruned > 0) {
      this.logger.log({ channels: result.channels, pruned: result.pruned, statements: result.statements, ms: Date.now() - started }, 'channel_messages pruned');
    }
  }
}
