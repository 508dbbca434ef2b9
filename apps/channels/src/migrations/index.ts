import { ChannelsInit1767225600000 } from './1767225600000-channels-init';
import { ChannelsCheckpointCluster1767225600200 } from './1767225600200-channels-checkpoint-cluster';
import { ChannelsOutboxBatches1767225600210 } from './1767225600210-channels-outbox-batches';

export const CHANNELS_MIGRATIONS = [ChannelsInit1767225600000, ChannelsCheckpointCluster1767225600200, ChannelsOutboxBatches1767225600210];
