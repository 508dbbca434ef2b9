import { outboxBatchRecordsMigration } from '@im/persistence';

/** Batch markers carry their records, so direct publishes store no event rows (ADR 12). */
export const ConversationsOutboxBatchRecords1767225600243 = outboxBatchRecordsMigration('conversations', 1767225600243);
