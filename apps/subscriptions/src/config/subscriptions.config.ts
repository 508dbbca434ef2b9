import { baseConfigSchema, loadConfig, servicePorts } from '@im/service-kit';

export const subscriptionsConfigSchema = baseConfigSchema.extend(servicePorts(50052, 9092).shape);
export type SubscriptionsConfig = ReturnType<typeof loadSubscriptionsConfig>;
export const loadSubscriptionsConfig = (env: NodeJS.ProcessEnv = process.env) => loadConfig(subscriptionsConfigSchema, env);

export const SUBSCRIPTIONS_SERVICE = { name: 'subscriptions', schema: 'subscriptions' };
