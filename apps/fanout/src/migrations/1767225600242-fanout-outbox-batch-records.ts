import { outboxBatchRecordsMigration } from '@im/persistence';

/** Batch markers carry their records, so direct publishes store no event rows (ADR 12). */
export const FanoutOutboxBatchRecords1767225600242 = outboxBatchRecordsMigration('fanout', 1767225600242);
