import { testKafka } from '@im/testing';
import { log } from './lib';

/**
 * The services join fixed consumer groups. Another system on the same broker (a test suite, another
 * bench) joins the same groups, Kafka splits the partitions between both, and each side misses records
 * (sends then fail with PROJECTION_BEHIND). So a run waits until the groups are free, and stops as soon
 * as someone joins them: its figures would be meaningless, and the other system suffers as well.
 */

/** Groups of the services this bench starts; live-delivery groups are per instance and never shared. */
const isOurServicesGroup = (groupId: string) => /^(channels|subscriptions|fanout)\./.test(groupId) && !groupId.startsWith('fanout.deliveries.');

/** Our services' groups with more than `allowedMembers` active members, as "group (members)". */
async function crowdedGroups(allowedMembers: number): Promise<string[]> {
  const admin = testKafka().admin();
  await admin.connect();
  try {
    const ids = (await admin.listGroups()).groups.map((g) => g.groupId).filter(isOurServicesGroup);
    if (ids.length === 0) return [];
    const { groups } = await admin.describeGroups(ids);
    return groups.filter((g) => g.members.length > allowedMembers).map((g) => `${g.groupId} (${g.members.length} member${g.members.length === 1 ? '' : 's'})`);
  } finally {
    await admin.disconnect();
  }
}

/** Before our services start: waits up to `maxWaitMs` for no one else to consume in their groups. */
export async function waitUntilGroupsFree(maxWaitMs: number): Promise<void> {
  const deadline = Date.now() + maxWaitMs;
  for (let loggedAt = 0; ;) {
    const busy = await crowdedGroups(0);
    if (busy.length === 0) return;
    if (Date.now() > deadline) {
      throw new Error(
        `other services consume on this broker in the groups the bench's services join: ${busy.join(', ')}. ` +
          'Stop them, or point KAFKA_BROKERS at a broker of its own.',
      );
    }
    if (Date.now() - loggedAt > 30_000) {
      log(`waiting for other consumers to leave: ${busy.join(', ')}`);
      loggedAt = Date.now();
    }
    await new Promise((r) => setTimeout(r, 5_000));
  }
}

/** While our services run (one member per group): throws when someone else joined their groups. */
export async function assertGroupsNotShared(): Promise<void> {
  const shared = await crowdedGroups(1);
  if (shared.length > 0) {
    throw new Error(
      `another system joined the consumer groups of the bench's services (${shared.join(', ')}); stopping, as no figure would hold. ` +
        'Rerun when the broker is free, or on a broker of its own.',
    );
  }
}
