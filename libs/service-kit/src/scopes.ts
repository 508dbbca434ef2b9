/**
 * What a credential may do (docs/security.md). A token carries one or more scopes; each im.v1
 * method names the scopes that may call it. Gateways act for end users, admin back ends manage
 * channels and membership, trusted services may do both.
 */
export const SCOPES = ['gateway', 'admin', 'service'] as const;
export type Scope = (typeof SCOPES)[number];

const USER_LEVEL: readonly Scope[] = ['gateway', 'service'];
const MANAGEMENT: readonly Scope[] = ['admin', 'service'];
const READS: readonly Scope[] = ['gateway', 'admin', 'service'];

/** `Service/Method` → the scopes that may call it. A method not listed takes `service` only: new methods start closed. */
const METHOD_SCOPES: Readonly<Record<string, readonly Scope[]>> = {
  'MessageService/SendMessage': USER_LEVEL,
  'MessageService/SendMessages': USER_LEVEL,
  'MessageService/SyncMessages': USER_LEVEL,
  'MessageService/StreamDeliveries': USER_LEVEL,
  'ConversationService/SyncConversations': USER_LEVEL,
  'ConversationService/DeleteConversation': USER_LEVEL,
  'ConversationService/MarkRead': USER_LEVEL,
  'CommandService/SyncCommands': USER_LEVEL,
  'CommandService/AckCommands': USER_LEVEL,
  'ChannelService/CreateChannel': MANAGEMENT,
  'ChannelService/UpdateChannel': MANAGEMENT,
  'ChannelService/DeleteChannel': MANAGEMENT,
  'SubscriptionService/AddSubscribers': MANAGEMENT,
  'SubscriptionService/RemoveSubscribers': MANAGEMENT,
  'CommandService/SendCommand': MANAGEMENT,
  'ChannelService/GetChannel': READS,
  'SubscriptionService/ListSubscribers': READS,
};

/** Every `Service/Method` the table classifies. */
export const classifiedMethods = () => Object.keys(METHOD_SCOPES);

/** The scopes that may call `service`/`method` (service as in the proto, without the package). */
export function scopesFor(service: string, method: string): readonly Scope[] {
  return METHOD_SCOPES[`${service}/${method}`] ?? ['service'];
}

/** True when a credential with `granted` scopes may call a method open to `allowed`. */
export const mayCall = (granted: ReadonlySet<Scope>, allowed: readonly Scope[]) => allowed.some((s) => granted.has(s));

export interface ScopedToken {
  token: string;
  scopes: ReadonlySet<Scope>;
}

const SCOPED = /^([a-z]+(?:\+[a-z]+)*):(.+)$/;

/**
 * One entry of GRPC_AUTH_TOKENS: `scope[+scope...]:token` (e.g. `gateway:7f3c...`,
 * `admin+service:...`), or a bare token, which keeps every scope as before scopes existed.
 * Returns an error message for a prefix that names an unknown scope.
 */
export function parseTokenEntry(entry: string): ScopedToken | string {
  const scoped = SCOPED.exec(entry);
  if (!scoped) return { token: entry, scopes: new Set(SCOPES) };
  const names = scoped[1].split('+');
  const unknown = names.filter((n) => !(SCOPES as readonly string[]).includes(n));
  if (unknown.length > 0) return `unknown scope ${unknown.map((u) => JSON.stringify(u)).join(', ')} (known: ${SCOPES.join(', ')})`;
  return { token: scoped[2], scopes: new Set(names as Scope[]) };
}
