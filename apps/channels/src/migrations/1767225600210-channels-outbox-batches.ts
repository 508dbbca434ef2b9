import { outboxBatchesMigration } from '@im/persistence';

/** Markers of batches their writer publishes directly (ADR 12). */
export const ChannelsOutboxBatches1767225600210 = outboxBatchesMigration('channels', 1767225600210);
