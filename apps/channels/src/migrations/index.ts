import { ChannelsInit1767225600000 } from './1767225600000-channels-init';
import { ChannelsCheckpointCluster1767225600200 } from './1767225600200-channels-checkpoint-cluster';
import { ChannelsOutboxBatches1767225600210 } from './1767225600210-channels-outbox-batches';
import { ChannelsOutboxBatchRecords1767225600240 } from './1767225600240-channels-outbox-batch-records';

export const CHANNELS_MIGRATIONS = [
  ChannelsInit1767225600000,
  ChannelsCheckpointCluster1767225600200,
  ChannelsOutboxBatches1767225600210,
  ChannelsOutboxBatchRecords1767225600240,
];
