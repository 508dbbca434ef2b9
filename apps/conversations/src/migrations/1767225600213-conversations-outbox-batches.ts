import { outboxBatchesMigration } from '@im/persistence';

/** Markers of batches their writer publishes directly (ADR 12). */
export const ConversationsOutboxBatches1767225600213 = outboxBatchesMigration('conversations', 1767225600213);
