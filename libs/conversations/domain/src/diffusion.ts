import { Membership } from './conversation';

/**
 * Groups with up to this many active members keep every member's conversation version written on
 * the member's row (write diffusion), so a sync reads a user's newest conversations from an index
 * and costs what its page costs. Larger groups keep it computed at read time (read diffusion, ADR 6):
 * a message into a 10,000-member group writes one head row, not 10,000 member rows. Person channels
 * (two members) are always written.
 */
export const WRITE_DIFFUSION_MAX_MEMBERS = 32;

/** What the conversations service counts of a group's membership to choose how its versions are kept. */
export interface ChannelSize {
  activeMembers: number;
  /** Once a group has grown past the limit its versions stay computed at read time, so a group at the limit never flips back and forth. */
  readDiffused: boolean;
}

export const EMPTY_CHANNEL: ChannelSize = { activeMembers: 0, readDiffused: false };

const isActive = (m: Pick<Membership, 'joinVersion' | 'leftVersion'>) => m.joinVersion !== null && m.leftVersion === null;

/** How many active members a set of interval changes adds (negative: removes). */
export function activeMemberDelta(
  changes: { before: Pick<Membership, 'joinVersion' | 'leftVersion'>; after: Pick<Membership, 'joinVersion' | 'leftVersion'> }[],
): number {
  let delta = 0;
  for (const { before, after } of changes) delta += Number(isActive(after)) - Number(isActive(before));
  return delta;
}

/** The group's size after a membership change. */
export function resizeChannel(current: ChannelSize, delta: number): ChannelSize {
  const activeMembers = Math.max(0, current.activeMembers + delta);
  return { activeMembers, readDiffused: current.readDiffused || activeMembers > WRITE_DIFFUSION_MAX_MEMBERS };
}
