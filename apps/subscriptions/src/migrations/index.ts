import { SubscriptionsInit1767225600001 } from './1767225600001-subscriptions-init';
import { SubscriptionsMembership1767225600011 } from './1767225600011-subscriptions-membership';
import { SubscriptionsCheckpointCluster1767225600201 } from './1767225600201-subscriptions-checkpoint-cluster';
import { SubscriptionsOutboxBatches1767225600211 } from './1767225600211-subscriptions-outbox-batches';
import { SubscriptionsOutboxBatchRecords1767225600241 } from './1767225600241-subscriptions-outbox-batch-records';

export const SUBSCRIPTIONS_MIGRATIONS = [
  SubscriptionsInit1767225600001,
  SubscriptionsMembership1767225600011,
  SubscriptionsCheckpointCluster1767225600201,
  SubscriptionsOutboxBatches1767225600211,
  SubscriptionsOutboxBatchRecords1767225600241,
];
