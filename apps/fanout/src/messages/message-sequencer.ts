import { TOPICS } from '@im/contracts';
import { SendOutcome, SendRequest, SentMessage, sequenceBatch } from '@im/fanout-domain';
import { classifyFailure } from '@im/kafka';
import { ambientEventHeaders, DirectBatch, OutboxRelay } from '@im/persistence';
import { CONFIG, OUTBOX_RELAY, ServiceMetrics } from '@im/service-kit';
import { channelKey, lastPerKey } from '@im/shared-domain';
import { Inject, Injectable } from '@nestjs/common';
import { AsyncResource } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import { FanoutConfig } from '../config/fanout.config';
import { FanoutInputsProjection } from '../inputs/fanout-inputs.projection';
import { toStoredEventData } from './message.mapper';
import { MessageRepository } from './message.repository';
import { SendBatchMetrics } from './send-batch-metrics';
import { sendInputsOf, sendInputsStatement } from './send-inputs';

interface PendingSend {
  request: SendRequest;
  /** The request's correlation and trace headers, for the event its message causes. */
  headers: Record<string, string>;
  resolve: (sent: SentMessage) => void;
  reject: (error: unknown) => void;
  /** performance.now() at submit. */
  submittedAt: number;
}

/**
 * Group commit of sends (ADR 12), from gRPC and from `message.send` commands alike. Sends that
 * arrive while a batch is being committed wait for the next one; each batch is one read-barrier
 * wait, one transaction of two pipelined round trips (channel heads locked in a fixed order,
 * set-based idempotency lookup, authorisation and sequencing by the pure `sequenceBatch`, then the
 * messages inserted with unnest, their events' records kept in the batch's marker, and COMMIT),
 * one publish of its own events, and then every caller is answered. With SEND_BATCHES_IN_FLIGHT
 * above 1 batches overlap as a pipeline: while one commits, the next waits at the barrier and the
 * one before publishes. Under load batches grow and the cost per message
 * falls; a request's own refusal answers only it.
 */
@Injectable()
export class MessageSequencer {
  private readonly messages = new MessageRepository();
  private readonly queue: PendingSend[] = [];
  /** Batches started and not yet answered. */
  private inFlight = 0;
  /** A batch is between its start and holding its locks: the next one starts after that (see `startBatches`). */
  private forming = false;
  /** Resolves once the newest batch committed (or gave up): the next one takes its locks after that. */
  private lastCommitted: Promise<void> = Promise.resolve();
  private readonly maxBatch: number;
  private readonly maxInFlight: number;
  /** Batches run outside any caller's async context: no request's correlation leaks into another's. */
  private readonly scope = new AsyncResource('MessageSequencer');
  private readonly metrics: SendBatchMetrics;

  constructor(
    @Inject(OUTBOX_RELAY) private readonly relay: OutboxRelay,
    @Inject(CONFIG) config: Pick<FanoutConfig, 'SEND_BATCH_MAX' | 'SEND_BATCHES_IN_FLIGHT'>,
    private readonly inputs: FanoutInputsProjection,
    metrics: ServiceMetrics,
  ) {
    this.maxBatch = config.SEND_BATCH_MAX;
    this.maxInFlight = config.SEND_BATCHES_IN_FLIGHT;
    this.metrics = new SendBatchMetrics(metrics);
  }

  /** Resolves once the message is stored and its `message.stored` event is on Kafka. */
  submit(request: SendRequest): Promise<SentMessage> {
    return new Promise((resolve, reject) => {
      this.queue.push({ request, headers: { ...ambientEventHeaders() }, resolve, reject, submittedAt: performance.now() });
      this.scope.runInAsyncScope(() => this.startBatches());
    });
  }

  /**
   * Starts a batch of what is waiting once the batch before it holds its locks, while fewer than
   * SEND_BATCHES_IN_FLIGHT are unanswered. So one batch commits while the next passes its read
   * barrier and the one before publishes, and what arrives meanwhile waits for the next batch:
   * batches grow with the load instead of splitting it. Transactions run one at a time, in the
   * order their batches started: each takes its locks once the one before committed, so batches to
   * the same channel get their seqs, commit and publish in that order.
   */
  private startBatches(): void {
    while (this.queue.length > 0 && !this.forming && this.inFlight < this.maxInFlight) {
      const batch = this.queue.splice(0, this.maxBatch);
      this.inFlight++;
      this.forming = true;
      // Once per batch: a batch that already let the next one start must not clear that one's flag.
      let formed = false;
      const onLocked = () => {
        if (formed) return;
        formed = true;
        this.forming = false;
        this.startBatches();
      };
      void this.commit(batch, onLocked).finally(() => {
        this.inFlight--;
        onLocked();
        this.startBatches();
      });
    }
  }

  /**
   * One batch: nothing is answered before its transaction committed and its events are on Kafka.
   * The batch publishes its own events (no second transaction, no update per event), holding its
   * channels' stream locks until the broker acknowledged, so each channel reaches Kafka in seq order.
   */
  private async commit(batch: PendingSend[], onLocked: () => void = () => undefined): Promise<void> {
    const previousCommitted = this.lastCommitted;
    let committed!: () => void;
    this.lastCommitted = new Promise<void>((resolve) => (committed = resolve));
    let outcomes: SendOutcome[] | undefined;
    let failed: unknown;
    const timeline = this.metrics.batch(batch.length, batch[0].submittedAt);
    timeline.mark('queued');
    try {
      // Membership and channel state acknowledged before any of these sends began decide them (G2).
      await this.inputs.barrier();
      timeline.mark('barrier');
      await previousCommitted;
      outcomes = await this.relay.commitAndPublish(
        lastPerKey(
          batch.map((p) => channelKey(p.request.channel)),
          (k) => k,
        ),
        this.sendBatch(
          batch.map((p) => p.request),
          batch.map((p) => p.headers),
        ),
        {
          onLocked: () => {
            timeline.mark('locks');
            onLocked();
          },
          onCommitted: () => {
            timeline.mark('transaction');
            committed();
          },
        },
      );
      timeline.mark('publish');
    } catch (error) {
      failed = error;
    } finally {
      onLocked();
      committed();
    }
    if (!outcomes) {
      // One send's data refused by Postgres fails the whole batch: commit each alone (after this
      // batch released its place in the order), so only that send fails and the others are stored.
      if (batch.length > 1 && classifyFailure(failed) === 'deterministic') {
        for (const p of batch) await this.commit([p]);
      } else {
        for (const p of batch) p.reject(failed);
      }
      return;
    }
    outcomes.forEach((outcome, i) => (outcome.kind === 'refused' ? batch[i].reject(outcome.error) : batch[i].resolve(sentOf(outcome))));
  }

  /**
   * A batch of sends for the direct publish: its reads lock the channels' heads and then read the
   * idempotency keys, facts and memberships (one round trip with the stream locks); it is decided
   * by the pure `sequenceBatch`, and its messages are written with their events and COMMIT.
   */
  private sendBatch(requests: readonly SendRequest[], headers: readonly Record<string, string>[]): DirectBatch<SendOutcome[]> {
    const channels = lastPerKey(
      requests.map((r) => r.channel),
      channelKey,
    );
    const reads = [this.messages.lockHeadsStatement(channels), sendInputsStatement(requests, channels)];
    return {
      reads,
      decide: async ([lockedHeads, inputs], tx) => {
        let heads = this.messages.lockedHeads(lockedHeads);
        const missing = channels.filter((c) => !heads.has(channelKey(c)));
        if (missing.length > 0) {
          // A channel's first send: create its head, then lock and read again, all under the stream locks.
          [, lockedHeads, inputs] = await tx.run([this.messages.createHeadsStatement(missing), ...reads]);
          heads = this.messages.lockedHeads(lockedHeads);
        }
        const batch = sequenceBatch(requests, { heads, ...sendInputsOf(inputs) }, randomUUID, new Date());
        return {
          result: batch.outcomes,
          writes: batch.messages.length > 0 ? [this.messages.insertManyStatement(batch.messages)] : [],
          // stream version = seq: the events table's unique key also rules out a gap or a duplicate seq.
          events: batch.outcomes.flatMap((o, i) =>
            o.kind !== 'stored'
              ? []
              : [
                  {
                    streamId: channelKey(o.message.channel),
                    version: o.message.messageSeq,
                    type: 'message.stored',
                    data: { message: toStoredEventData({ ...o.message, payload: Buffer.from(o.message.payload) }) },
                    topic: TOPICS.fanoutEvents,
                    key: channelKey(o.message.channel),
                    occurredAt: o.message.sentAt.toISOString(),
                    headers: headers[i],
                  },
                ],
          ),
        };
      },
    };
  }
}

const sentOf = (outcome: Exclude<SendOutcome, { kind: 'refused' }>): SentMessage => ({
  messageId: outcome.message.messageId,
  messageSeq: outcome.message.messageSeq,
});
