import { outboxBatchRecordsMigration } from '@im/persistence';

/** Batch markers carry their records, so direct publishes store no event rows (ADR 12). */
export const ChannelsOutboxBatchRecords1767225600240 = outboxBatchRecordsMigration('channels', 1767225600240);
