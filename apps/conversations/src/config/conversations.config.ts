import { baseConfigSchema, loadConfig, servicePorts } from '@im/service-kit';
import { z } from 'zod';

export const conversationsConfigSchema = baseConfigSchema.extend({
  ...servicePorts(50054, 9094).shape,
  /**
   * Pause between two passes of the channel_messages pruner (ADR 14), which deletes the messages no
   * sync can show any more; 0 turns pruning off (storage then grows with every message).
   */
  MESSAGE_PRUNE_INTERVAL_MS: z.coerce.number().int().min(0).max(86_400_000).default(300_000),
  /** Most messages one prune statement deletes, each statement in its own short transaction. */
  MESSAGE_PRUNE_BATCH_SIZE: z.coerce.number().int().min(100).max(100_000).default(5_000),
});
export type ConversationsConfig = ReturnType<typeof loadConversationsConfig>;
export const loadConversationsConfig = (env: NodeJS.ProcessEnv = process.env) => loadConfig(conversationsConfigSchema, env);

export const CONVERSATIONS_SERVICE = { name: 'conversations', schema: 'conversations' };
