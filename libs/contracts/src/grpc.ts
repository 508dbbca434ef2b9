import { loadSync, MethodDefinition, type Options as ProtoLoaderOptions } from '@grpc/proto-loader';
import { existsSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';

/** Where the .proto files live, relative to the repository root. */
const PROTO_DIR_IN_REPO = join('libs', 'contracts', 'proto');

/**
 * Finds the proto root: `IM_PROTO_ROOT` when set (for images that ship the protos elsewhere), else
 * the first `libs/contracts/proto` found walking up from this file. That works both from the
 * sources (libs/contracts/src, under jest or ts-node) and from the compiled output
 * (dist/out-tsc/libs/contracts/src), which sits below the repository root too.
 */
export function resolveProtoRoot(start: string = __dirname, env: NodeJS.ProcessEnv = process.env): string {
  const override = env['IM_PROTO_ROOT'];
  if (override) return isAbsolute(override) ? override : resolve(override);
  for (let dir = resolve(start); ; dir = dirname(dir)) {
    const candidate = join(dir, PROTO_DIR_IN_REPO);
    if (existsSync(join(candidate, 'im', 'v1'))) return candidate;
    if (dirname(dir) === dir) break;
  }
  throw new Error(`cannot find ${PROTO_DIR_IN_REPO} above ${start}; set IM_PROTO_ROOT to the directory holding im/v1/*.proto`);
}

/** Absolute path of the proto root (the buf module root): imports are relative to it. */
export const PROTO_ROOT: string = resolveProtoRoot();

/** Every .proto file a gRPC server or client loads, relative to PROTO_ROOT. */
export const PROTO_FILES: readonly string[] = [
  'im/v1/common.proto',
  'im/v1/channels.proto',
  'im/v1/subscriptions.proto',
  'im/v1/commands.proto',
  'im/v1/messages.proto',
  'im/v1/conversations.proto',
  'grpc/health/v1/health.proto',
];

/** The protobuf packages whose services a server exposes. */
export const GRPC_PACKAGES = ['im.v1', 'grpc.health.v1'] as const;
export type GrpcPackage = (typeof GRPC_PACKAGES)[number];

/**
 * @grpc/proto-loader options. They must agree with the options the TypeScript in ./generated was
 * generated with (see buf.gen.yaml): lowerCamelCase field names, 64-bit integers as numbers, enums
 * as their names, every scalar present with its default and unset message fields as null, and the
 * name of the set member of a oneof in a virtual field named after the oneof (e.g. `item`).
 * `google/protobuf/*.proto` imports are served by proto-loader's bundled well-known types.
 */
export const GRPC_LOADER_OPTIONS = {
  keepCase: false,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_ROOT],
} satisfies ProtoLoaderOptions;

/** Service names as they appear in `@GrpcMethod(service, method)` (unqualified, as Nest expects). */
export const CHANNEL_SERVICE = 'ChannelService';
export const SUBSCRIPTION_SERVICE = 'SubscriptionService';
export const MESSAGE_SERVICE = 'MessageService';
export const COMMAND_SERVICE = 'CommandService';
export const CONVERSATION_SERVICE = 'ConversationService';
export const HEALTH_SERVICE = 'Health';

/** Fully qualified names, as used by grpc.health.v1 `service` and by reflection and tooling. */
export const GRPC_SERVICES = {
  [CHANNEL_SERVICE]: 'im.v1.ChannelService',
  [SUBSCRIPTION_SERVICE]: 'im.v1.SubscriptionService',
  [MESSAGE_SERVICE]: 'im.v1.MessageService',
  [COMMAND_SERVICE]: 'im.v1.CommandService',
  [CONVERSATION_SERVICE]: 'im.v1.ConversationService',
  [HEALTH_SERVICE]: 'grpc.health.v1.Health',
} as const;

/** How grpc-js encodes and decodes the responses of one method, with the options servers load the contract with. */
export interface ResponseCodec {
  encode(response: object): Buffer;
  decode(bytes: Buffer): object;
}

/**
 * The response codec of `method` of a service of GRPC_SERVICES (e.g. to encode the parts of a
 * response that many streams share once). Loads the contract: call it once, at start-up.
 */
export function responseCodec(service: (typeof GRPC_SERVICES)[keyof typeof GRPC_SERVICES], method: string): ResponseCodec {
  const definition = loadSync(
    PROTO_FILES.map((f) => join(PROTO_ROOT, f)),
    GRPC_LOADER_OPTIONS,
  );
  const found = (definition[service] as Record<string, MethodDefinition<object, object>> | undefined)?.[method];
  if (!found?.responseSerialize) throw new Error(`${service} has no method ${method}`);
  return { encode: found.responseSerialize, decode: found.responseDeserialize };
}

/**
 * google.protobuf.FieldMask as proto-loader hands it out and accepts it: a message `{ paths }`.
 * The generated interfaces type FieldMask fields (UpdateChannelRequest.updateMask) as `string[]`,
 * which is ts-proto's own representation and not what arrives at runtime; read them with
 * `fieldMaskPaths` and send them with `toFieldMask`.
 */
export interface FieldMaskMessage {
  paths: string[];
}

/**
 * The paths of a FieldMask in any of its shapes: proto-loader's `{ paths }`, ts-proto's `string[]`,
 * or the canonical JSON string `"name,sendBan"` (as in Kafka commands). In the JSON form the field
 * name, i.e. the first segment of each path, is converted back to the proto spelling (`sendBan`
 * becomes `send_ban`); later segments (`extra.<key>`) are map keys and are kept as they are.
 * A missing mask has no paths.
 */
export function fieldMaskPaths(mask: FieldMaskMessage | { paths?: string[] | null } | readonly string[] | string | null | undefined): string[] {
  if (mask === null || mask === undefined) return [];
  if (typeof mask === 'string') {
    return mask
      .split(',')
      .map((p) => p.trim())
      .filter((p) => p.length > 0)
      .map((p) => {
        const dot = p.indexOf('.');
        const field = dot < 0 ? p : p.slice(0, dot);
        return field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`) + (dot < 0 ? '' : p.slice(dot));
      });
  }
  if (Array.isArray(mask)) return [...mask];
  return [...((mask as { paths?: string[] | null }).paths ?? [])];
}

/**
 * A FieldMask value to put in a request sent through grpc-js/proto-loader. Cast it where the
 * generated type says `string[]`: `updateMask: toFieldMask(['name']) as unknown as string[]`.
 */
export const toFieldMask = (paths: readonly string[]): FieldMaskMessage => ({ paths: [...paths] });
