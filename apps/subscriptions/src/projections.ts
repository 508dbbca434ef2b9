import { TOPICS } from '@im/contracts';
import { defineProjections } from '@im/service-kit';
import { CHANNEL_DIRECTORY_GROUP } from './channel-directory/channel-directory.projection';

/** Read models operators may rebuild from offset 0 (`npm run admin -- rebuild subscriptions <group>`). */
export const PROJECTIONS = defineProjections([
  {
    service: 'subscriptions',
    groupId: CHANNEL_DIRECTORY_GROUP,
    topics: [TOPICS.channelsEvents],
    tables: ['channels'],
    description: 'which channels exist (answers CHANNEL_NOT_FOUND)',
  },
]);
