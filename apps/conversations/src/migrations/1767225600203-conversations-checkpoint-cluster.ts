import { checkpointClusterMigration } from '@im/persistence';

/** Consumer checkpoints record the Kafka cluster they were taken on (ADR 0011). */
export const ConversationsCheckpointCluster1767225600203 = checkpointClusterMigration('conversations', 1767225600203);
