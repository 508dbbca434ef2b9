import { outboxBatchesMigration } from '@im/persistence';

/** Markers of batches their writer publishes directly (ADR 12). */
export const SubscriptionsOutboxBatches1767225600211 = outboxBatchesMigration('subscriptions', 1767225600211);
