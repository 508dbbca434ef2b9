import { checkpointClusterMigration } from '@im/persistence';

/** Consumer checkpoints record the Kafka cluster they were taken on (ADR 0011). */
export const ChannelsCheckpointCluster1767225600200 = checkpointClusterMigration('channels', 1767225600200);
