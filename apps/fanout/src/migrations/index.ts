import { FanoutInit1767225600002 } from './1767225600002-fanout-init';
import { FanoutMessages1767225600012 } from './1767225600012-fanout-messages';
import { FanoutCommandQueues1767225600102 } from './1767225600102-fanout-command-queues';
import { FanoutCheckpointCluster1767225600202 } from './1767225600202-fanout-checkpoint-cluster';
import { FanoutOutboxBatches1767225600212 } from './1767225600212-fanout-outbox-batches';
import { FanoutMessageKeyOrder1767225600222 } from './1767225600222-fanout-message-key-order';
import { FanoutOutboxBatchRecords1767225600242 } from './1767225600242-fanout-outbox-batch-records';

export const FANOUT_MIGRATIONS = [
  FanoutInit1767225600002,
  FanoutMessages1767225600012,
  FanoutCommandQueues1767225600102,
  FanoutCheckpointCluster1767225600202,
  FanoutOutboxBatches1767225600212,
  FanoutMessageKeyOrder1767225600222,
  FanoutOutboxBatchRecords1767225600242,
];
