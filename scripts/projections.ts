import type { ProjectionRegistration } from '@im/service-kit';
import { PROJECTIONS as CONVERSATIONS_PROJECTIONS } from '../apps/conversations/src/projections';
import { PROJECTIONS as FANOUT_PROJECTIONS } from '../apps/fanout/src/projections';
import { PROJECTIONS as SUBSCRIPTIONS_PROJECTIONS } from '../apps/subscriptions/src/projections';

/**
 * Every projection operators may rebuild from offset 0 (`npm run admin -- rebuild <service> <group>`),
 * gathered from the services, as scripts/migrate.ts gathers their migrations. A service registers
 * its read models by exporting `PROJECTIONS = defineProjections([...])` from
 * `apps/<service>/src/projections.ts` and spreading it here, e.g.
 *
 *   import { PROJECTIONS as SUBSCRIPTIONS_PROJECTIONS } from '../apps/subscriptions/src/projections';
 *   export const SERVICE_PROJECTIONS = [...SUBSCRIPTIONS_PROJECTIONS];
 *
 * The channels service has none: its state is written by its own command path, not projected.
 */
export const SERVICE_PROJECTIONS: readonly ProjectionRegistration[] = [...SUBSCRIPTIONS_PROJECTIONS, ...FANOUT_PROJECTIONS, ...CONVERSATIONS_PROJECTIONS];
