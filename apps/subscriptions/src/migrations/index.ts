import { SubscriptionsInit1767225600001 } from './1767225600001-subscriptions-init';
import { SubscriptionsMembership1767225600011 } from './1767225600011-subscriptions-membership';

export const SUBSCRIPTIONS_MIGRATIONS = [SubscriptionsInit1767225600001, SubscriptionsMembership1767225600011];
