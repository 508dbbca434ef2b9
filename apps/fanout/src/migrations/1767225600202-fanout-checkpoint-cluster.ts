import { checkpointClusterMigration } from '@im/persistence';

/** Consumer checkpoints record the Kafka cluster they were taken on (ADR 0011). */
export const FanoutCheckpointCluster1767225600202 = checkpointClusterMigration('fanout', 1767225600202);
