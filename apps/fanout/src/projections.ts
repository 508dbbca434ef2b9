import { defineProjections } from '@im/service-kit';
import { FANOUT_INPUT_TOPICS, FANOUT_INPUTS_GROUP } from './inputs/fanout-inputs.projection';

/**
 * Read models operators may rebuild from offset 0 (`npm run admin -- rebuild fanout <group>`).
 * The message log and the users' command streams are the service's own records, never rebuilt.
 */
export const PROJECTIONS = defineProjections([
  {
    service: 'fanout',
    groupId: FANOUT_INPUTS_GROUP,
    topics: [...FANOUT_INPUT_TOPICS],
    tables: ['channels', 'memberships'],
    // The applied membership version lives in the channel head beside the message seq, which stays.
    resetColumns: [{ table: 'channel_heads', column: 'membership_version', to: 0 }],
    description: 'channel facts and membership stretches behind permission checks and recipients',
  },
]);
