import { baseConfigSchema, loadConfig, servicePorts } from '@im/service-kit';

export const conversationsConfigSchema = baseConfigSchema.extend(servicePorts(50054, 9094).shape);
export type ConversationsConfig = ReturnType<typeof loadConversationsConfig>;
export const loadConversationsConfig = (env: NodeJS.ProcessEnv = process.env) => loadConfig(conversationsConfigSchema, env);

export const CONVERSATIONS_SERVICE = { name: 'conversations', schema: 'conversations' };
