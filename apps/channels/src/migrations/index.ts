import { ChannelsInit1767225600000 } from './1767225600000-channels-init';

export const CHANNELS_MIGRATIONS = [ChannelsInit1767225600000];
