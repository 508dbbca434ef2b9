import { baseConfigSchema, loadConfig, servicePorts } from '@im/service-kit';

export const channelsConfigSchema = baseConfigSchema.extend(servicePorts(50051, 9091).shape);
export type ChannelsConfig = ReturnType<typeof loadChannelsConfig>;
export const loadChannelsConfig = (env: NodeJS.ProcessEnv = process.env) => loadConfig(channelsConfigSchema, env);

export const CHANNELS_SERVICE = { name: 'channels', schema: 'channels' };
