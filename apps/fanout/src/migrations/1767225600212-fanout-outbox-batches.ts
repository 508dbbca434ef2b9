import { outboxBatchesMigration } from '@im/persistence';

/** Markers of batches their writer publishes directly (ADR 12). */
export const FanoutOutboxBatches1767225600212 = outboxBatchesMigration('fanout', 1767225600212);
