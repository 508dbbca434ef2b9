import { invalidArgument } from '@im/shared-domain';
import { ChannelAttributes, emptyAttributes } from './channel';

export const ATTRIBUTE_LIMITS = {
  nameMaxLength: 256,
  avatarMaxLength: 2048,
  extraMaxEntries: 64,
  extraKeyMaxLength: 64,
  extraValueMaxLength: 4096,
} as const;

const EXTRA_KEY_PATTERN = /^[A-Za-z0-9_.-]+$/;

/** Update-mask paths, in the proto field spelling. `extra.<key>` sets or removes one entry of the map. */
export const MASKABLE_FIELDS = ['name', 'avatar', 'ban', 'send_ban', 'disband', 'large', 'extra'] as const;
export type MaskableField = (typeof MASKABLE_FIELDS)[number];

/** Normalises attributes from a request (missing fields take defaults) and enforces the documented bounds. */
export function validateAttributes(input: Partial<ChannelAttributes> | undefined | null): ChannelAttributes {
  const a = { ...emptyAttributes(), ...(input ?? {}) };
  const attributes: ChannelAttributes = {
    name: checkString('name', a.name, ATTRIBUTE_LIMITS.nameMaxLength),
    avatar: checkString('avatar', a.avatar, ATTRIBUTE_LIMITS.avatarMaxLength),
    ban: checkBool('ban', a.ban),
    sendBan: checkBool('send_ban', a.sendBan),
    disband: checkBool('disband', a.disband),
    large: checkBool('large', a.large),
    extra: validateExtra(a.extra),
  };
  return attributes;
}

function checkString(field: string, value: unknown, max: number): string {
  if (typeof value !== 'string') throw invalidArgument('INVALID_ATTRIBUTE', `${field} must be a string`);
  if (value.length > max) {
    throw invalidArgument('ATTRIBUTE_TOO_LONG', `${field} must be at most ${max} characters (got ${value.length})`);
  }
  return value;
}

function checkBool(field: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw invalidArgument('INVALID_ATTRIBUTE', `${field} must be a boolean`);
  return value;
}

function validateExtraKey(key: string): string {
  if (key.length === 0 || key.length > ATTRIBUTE_LIMITS.extraKeyMaxLength || !EXTRA_KEY_PATTERN.test(key)) {
    throw invalidArgument(
      'INVALID_EXTRA_KEY',
      `extra keys must be 1-${ATTRIBUTE_LIMITS.extraKeyMaxLength} characters of A-Z a-z 0-9 _ . - (got ${JSON.stringify(key)})`,
    );
  }
  return key;
}

export function validateExtra(extra: unknown): Record<string, string> {
  if (extra === null || typeof extra !== 'object' || Array.isArray(extra)) {
    throw invalidArgument('INVALID_ATTRIBUTE', 'extra must be a map of strings');
  }
  const entries = Object.entries(extra as Record<string, unknown>);
  if (entries.length > ATTRIBUTE_LIMITS.extraMaxEntries) {
    throw invalidArgument('TOO_MANY_EXTRA_ENTRIES', `extra may hold at most ${ATTRIBUTE_LIMITS.extraMaxEntries} entries (got ${entries.length})`);
  }
  const result: Record<string, string> = {};
  for (const [key, value] of entries.sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))) {
    result[validateExtraKey(key)] = checkString(`extra.${key}`, value, ATTRIBUTE_LIMITS.extraValueMaxLength);
  }
  return result;
}

export interface MaskedUpdate {
  attributes: ChannelAttributes;
  changedFields: string[];
}

/**
 * Applies the fields named by the mask from `patch` onto `current`. Fields outside the mask are left
 * alone even when the patch carries values for them (proto3 cannot tell "unset" from "default").
 */
export function applyMask(current: ChannelAttributes, patch: Partial<ChannelAttributes> | undefined | null, mask: string[]): MaskedUpdate {
  if (mask.length === 0) {
    throw invalidArgument('EMPTY_UPDATE_MASK', `update_mask must name at least one of: ${MASKABLE_FIELDS.join(', ')}, extra.<key>`);
  }
  const source = { ...emptyAttributes(), ...(patch ?? {}) };
  const next: ChannelAttributes = { ...current, extra: { ...current.extra } };
  const changed = new Set<string>();
  for (const path of mask) {
    if (path.startsWith('extra.')) {
      const key = validateExtraKey(path.slice('extra.'.length));
      const value = (source.extra ?? {})[key];
      if (value === undefined || value === '') delete next.extra[key];
      else next.extra[key] = value;
      changed.add('extra');
      continue;
    }
    switch (path as MaskableField) {
      case 'name':
        next.name = source.name;
        break;
      case 'avatar':
        next.avatar = source.avatar;
        break;
      case 'ban':
        next.ban = source.ban;
        break;
      case 'send_ban':
        next.sendBan = source.sendBan;
        break;
      case 'disband':
        next.disband = source.disband;
        break;
      case 'large':
        next.large = source.large;
        break;
      case 'extra':
        next.extra = { ...(source.extra ?? {}) };
        break;
      default:
        throw invalidArgument('UNKNOWN_MASK_PATH', `update_mask path ${JSON.stringify(path)} is not one of: ${MASKABLE_FIELDS.join(', ')}, extra.<key>`);
    }
    changed.add(path);
  }
  return { attributes: validateAttributes(next), changedFields: [...changed].sort() };
}
