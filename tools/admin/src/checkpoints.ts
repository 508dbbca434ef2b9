import { ConsumerCheckpoints, quoteIdent } from '@im/persistence';
import { ProjectionRegistration } from '@im/service-kit';
import { AdminContext } from './context';
import { AdminError } from './rebuild';

/**
 * Forgets where a command consumer group stands, so that it reads its topic on this cluster from the
 * start (commands it applied before are recognised by id and not applied twice). A projection's
 * positions go with its tables: those are reset by `rebuild`, never alone.
 */
export async function resetCheckpoints(ctx: AdminContext, registry: readonly ProjectionRegistration[], service: string, groupId: string): Promise<number> {
  quoteIdent(service);
  if (registry.some((r) => r.service === service && r.groupId === groupId)) {
    throw new AdminError(
      `${service} ${groupId} is a projection: its positions go with its tables, so rebuild it (npm run admin -- rebuild ${service} ${groupId})`,
    );
  }
  return new ConsumerCheckpoints(service, groupId).reset(await ctx.db());
}
