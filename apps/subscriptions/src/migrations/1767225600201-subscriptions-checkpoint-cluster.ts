import { checkpointClusterMigration } from '@im/persistence';

/** Consumer checkpoints record the Kafka cluster they were taken on (ADR 0011). */
export const SubscriptionsCheckpointCluster1767225600201 = checkpointClusterMigration('subscriptions', 1767225600201);
