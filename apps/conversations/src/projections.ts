import { defineProjections } from '@im/service-kit';
import { CONVERSATIONS_INPUT_TOPICS, CONVERSATIONS_PROJECTION_GROUP } from './conversations/conversations.projection';

/**
 * Read models operators may rebuild from offset 0 (`npm run admin -- rebuild conversations <group>`).
 * Only the tables derived from upstream topics are emptied: the uids' own cursors (reads, deletes)
 * and the version ledger (which gives replayed events their first versions, ADR 15) are kept.
 */
const PROJECTION_TABLES = ['channel_messages', 'channel_heads', 'channel_states', 'channel_sizes', 'members', 'channel_prune_marks'];

export const PROJECTIONS = defineProjections([
  {
    service: 'conversations',
    groupId: CONVERSATIONS_PROJECTION_GROUP,
    topics: [...CONVERSATIONS_INPUT_TOPICS],
    tables: PROJECTION_TABLES,
    description: 'membership intervals, channel heads and states, and recent messages behind SyncConversations',
  },
]);
