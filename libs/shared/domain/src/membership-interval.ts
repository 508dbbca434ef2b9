/**
 * One stretch of a uid's membership of a channel, in membership versions: a member from
 * `joinVersion` (inclusive) until `leftVersion` (exclusive; null while still a member). Leaving and
 * joining again opens another stretch, so the recipients of an old message never change afterwards.
 * Subscriptions stores these stretches, the fanout computes recipients from them, and conversations
 * keeps each user's latest one.
 */
export interface MembershipInterval {
  joinVersion: number;
  leftVersion: number | null;
}

/** Member at version v: joined at or before v, and had not left by v. */
export const isMemberAt = (interval: MembershipInterval, version: number): boolean =>
  interval.joinVersion <= version && (interval.leftVersion === null || version < interval.leftVersion);
