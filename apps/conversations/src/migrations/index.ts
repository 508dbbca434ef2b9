import { ConversationsInit1767225600003 } from './1767225600003-conversations-init';
import { ConversationsReadModel1767225600013 } from './1767225600013-conversations-read-model';
import { ConversationsChannelStates1767225600014 } from './1767225600014-conversations-channel-states';
import { ConversationsCheckpointCluster1767225600203 } from './1767225600203-conversations-checkpoint-cluster';
import { ConversationsOutboxBatches1767225600213 } from './1767225600213-conversations-outbox-batches';
import { ConversationsVersionLedger1767225600223 } from './1767225600223-conversations-version-ledger';
import { ConversationsMessageRetention1767225600233 } from './1767225600233-conversations-message-retention';
import { ConversationsOutboxBatchRecords1767225600243 } from './1767225600243-conversations-outbox-batch-records';
import { ConversationsWriteDiffusedOrder1767225600253 } from './1767225600253-conversations-write-diffused-order';

export const CONVERSATIONS_MIGRATIONS = [
  ConversationsInit1767225600003,
  ConversationsReadModel1767225600013,
  ConversationsChannelStates1767225600014,
  ConversationsCheckpointCluster1767225600203,
  ConversationsOutboxBatches1767225600213,
  ConversationsVersionLedger1767225600223,
  ConversationsMessageRetention1767225600233,
  ConversationsOutboxBatchRecords1767225600243,
  ConversationsWriteDiffusedOrder1767225600253,
];
