import { defineProjections } from '@im/service-kit';
import { CONVERSATIONS_INPUT_TOPICS, CONVERSATIONS_PROJECTION_GROUP } from './conversations/conversations.projection';
import { PROJECTION_TABLES } from './rebuild/rebuild-read-model';

/**
 * Read models operators may rebuild from offset 0 (`npm run admin -- rebuild conversations <group>`).
 * Users' read and delete cursors are not derived from topics and are kept.
 */
export const PROJECTIONS = defineProjections([
  {
    service: 'conversations',
    groupId: CONVERSATIONS_PROJECTION_GROUP,
    topics: [...CONVERSATIONS_INPUT_TOPICS],
    tables: [...PROJECTION_TABLES],
    description: 'membership intervals, channel heads and states, and recent messages behind SyncConversations',
  },
]);
