/**
 * What an operator tool needs to rebuild one read model from offset 0, declared by the service
 * that owns it. Each service exports its list as `PROJECTIONS` from `apps/<service>/src/projections.ts`
 * and adds it to scripts/projections.ts; `npm run admin -- rebuild <service> <group>` then truncates
 * exactly these tables, forgets the group's checkpoints and rewinds its Kafka offsets.
 */
export interface ProjectionRegistration {
  /** Service (and database schema) that owns the projection. */
  service: string;
  /** Consumer group id, as passed to ProjectionFactory.create. */
  groupId: string;
  /** Topics the projection consumes. */
  topics: string[];
  /** Tables of the service's schema that hold only this projection's data (unqualified names). */
  tables: string[];
  /**
   * Columns of tables that also hold other state, where this projection keeps its applied position:
   * a rebuild sets them to `to` instead of truncating the table.
   */
  resetColumns?: { table: string; column: string; to: number }[];
  description?: string;
}

/** Identity function that type-checks a service's registrations. */
export const defineProjections = (registrations: ProjectionRegistration[]): readonly ProjectionRegistration[] => registrations;
