import { outboxBatchRecordsMigration } from '@im/persistence';

/** Batch markers carry their records, so direct publishes store no event rows (ADR 12). */
export const SubscriptionsOutboxBatchRecords1767225600241 = outboxBatchRecordsMigration('subscriptions', 1767225600241);
