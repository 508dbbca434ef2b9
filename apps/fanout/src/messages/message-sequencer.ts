import { TOPICS } from '@im/contracts';
import { SendOutcome, SendRequest, SentMessage, sequenceBatch } from '@im/fanout-domain';
import { classifyFailure } from '@im/kafka';
import { ambientEventHeaders, EventStore, OutboxRelay, StoredEvent } from '@im/persistence';
import { CONFIG, OUTBOX_RELAY, ServiceMetrics } from '@im/service-kit';
import { channelKey, lastPerKey } from '@im/shared-domain';
import { Inject, Injectable } from '@nestjs/common';
import { AsyncResource } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import { EntityManager } from 'typeorm';
import { FanoutConfig } from '../config/fanout.config';
import { FanoutInputsProjection } from '../inputs/fanout-inputs.projection';
import { toStoredEventData } from './message.mapper';
import { MessageRepository } from './message.repository';
import { SendBatchMetrics } from './send-batch-metrics';
import { readSendInputs } from './send-inputs';

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
 * wait, one transaction (channel heads locked in a fixed order, set-based idempotency lookup,
 * authorisation and sequencing by the pure `sequenceBatch`, messages and their events inserted
 * with unnest), one publish of its own events, and then every caller is answered.
 * Under load batches grow and the cost per message falls; a request's own refusal answers only it.
 */
@Injectable()
export class MessageSequencer {
  private readonly store = new EventStore('fanout');
  private readonly messages = new MessageRepository();
  private readonly queue: PendingSend[] = [];
  /** Batches started and not yet answered. */
  private inFlight = 0;
  /** A batch is between its start and its commit: the next one waits for it (see `startBatches`). */
  private committing = false;
  /** Resolves once the newest batch holds its channels' locks (or gave up). */
  private lastLocked: Promise<void> = Promise.resolve();
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
   * Starts a batch of what is waiting once no other batch is still before its commit, while fewer
   * than SEND_BATCHES_IN_FLIGHT are unanswered: one batch's transaction overlaps the publish of the
   * one before it, and what arrives meanwhile waits for the next batch, so batches grow with the
   * load instead of splitting it. Batches to the same channel still commit and publish one after the
   * other, in the order they started: each takes its locks after the batch before it holds its
   * own, and queues on a shared channel's lock.
   */
  private startBatches(): void {
    while (this.queue.length > 0 && !this.committing && this.inFlight < this.maxInFlight) {
      const batch = this.queue.splice(0, this.maxBatch);
      this.inFlight++;
      this.committing = true;
      // Once per batch: a batch that already let the next one start must not clear that one's flag.
      let uncommitted = true;
      const committed = () => {
        if (!uncommitted) return;
        uncommitted = false;
        this.committing = false;
        this.startBatches();
      };
      void this.commit(batch, committed).finally(() => {
        this.inFlight--;
        committed();
        this.startBatches();
      });
    }
  }

  /**
   * One batch: nothing is answered before its transaction committed and its events are on Kafka.
   * The batch publishes its own events (no second transaction, no update per event), holding its
   * channels' stream locks until the broker acknowledged, so each channel reaches Kafka in seq order.
   */
  private async commit(batch: PendingSend[], onCommitted: () => void = () => undefined): Promise<void> {
    // Batches take their channels' locks in the order they started, so sends submitted in order
    // (a SendMessages stream, a client) get their channel's seqs in that order.
    const previousLocked = this.lastLocked;
    let locked!: () => void;
    this.lastLocked = new Promise<void>((resolve) => (locked = resolve));
    let outcomes: SendOutcome[] | undefined;
    let failed: unknown;
    const timeline = this.metrics.batch(batch.length, batch[0].submittedAt);
    timeline.mark('queued');
    try {
      // Membership and channel state acknowledged before any of these sends began decide them (G2).
      await this.inputs.barrier();
      timeline.mark('barrier');
      await previousLocked;
      outcomes = await this.relay.commitAndPublish(
        lastPerKey(batch.map((p) => channelKey(p.request.channel)), (k) => k),
        (em, batchId) =>
          this.storeIn(
            em,
            batch.map((p) => p.request),
            batch.map((p) => p.headers),
            batchId,
          ),
        {
          onLocked: () => {
            timeline.mark('locks');
            locked();
          },
          onCommitted: () => {
            timeline.mark('transaction');
            onCommitted();
          },
        },
      );
      timeline.mark('publish');
    } catch (error) {
      failed = error;
    } finally {
      locked();
    }
    if (!outcomes) {
      // One send's data refused by Postgres fails the whole batch: commit each alone (after this
      // batch released its place in the lock order), so only that send fails and the others are stored.
      if (batch.length > 1 && classifyFailure(failed) === 'deterministic') {
        for (const p of batch) await this.commit([p]);
      } else {
        for (const p of batch) p.reject(failed);
      }
      return;
    }
    outcomes.forEach((outcome, i) => (outcome.kind === 'refused' ? batch[i].reject(outcome.error) : batch[i].resolve(sentOf(outcome))));
  }

  /** Decides and stores a batch of sends in the caller's transaction; the events are published by the caller. */
  private async storeIn(
    em: EntityManager,
    requests: readonly SendRequest[],
    headers: readonly Record<string, string>[],
    batchId: string,
  ): Promise<{ result: SendOutcome[]; events: StoredEvent[] }> {
    const channels = lastPerKey(requests.map((r) => r.channel), channelKey);
    // Under the heads' locks a concurrent send of the same key has committed or not started, so
    // one idempotency lookup after locking is exact.
    const heads = await this.messages.lockHeads(em, channels);
    const batch = sequenceBatch(requests, { heads, ...(await readSendInputs(em, requests, channels)) }, randomUUID, new Date());
    await this.messages.insertMany(em, batch.messages);
    // stream version = seq: the events table's unique key also rules out a gap or a duplicate seq.
    const events = await this.store.append(
      em,
      batch.outcomes.flatMap((o, i) =>
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
      { publishedBy: batchId },
    );
    return { result: batch.outcomes, events };
  }
}

const sentOf = (outcome: Exclude<SendOutcome, { kind: 'refused' }>): SentMessage => ({
  messageId: outcome.message.messageId,
  messageSeq: outcome.message.messageSeq,
});
