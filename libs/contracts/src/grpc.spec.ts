import { GrpcObject, loadPackageDefinition, ServiceClientConstructor } from '@grpc/grpc-js';
import { loadSync, PackageDefinition } from '@grpc/proto-loader';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import {
  CHANNEL_SERVICE,
  COMMAND_SERVICE,
  CONVERSATION_SERVICE,
  fieldMaskPaths,
  GRPC_LOADER_OPTIONS,
  GRPC_PACKAGES,
  GRPC_SERVICES,
  HEALTH_SERVICE,
  MESSAGE_SERVICE,
  PROTO_FILES,
  PROTO_ROOT,
  resolveProtoRoot,
  SUBSCRIPTION_SERVICE,
  toFieldMask,
} from './grpc';
import { HEALTH_SERVICE_NAME } from './generated/index.grpc.health.v1';
import {
  CHANNEL_SERVICE_NAME,
  COMMAND_SERVICE_NAME,
  CONVERSATION_SERVICE_NAME,
  ConversationState,
  MESSAGE_SERVICE_NAME,
  SUBSCRIPTION_SERVICE_NAME,
} from './generated/index.im.v1';

/** The public contract: every service and its rpcs, with their streaming shape. */
const CONTRACT: Record<string, Record<string, { requestStream: boolean; responseStream: boolean }>> = {
  'im.v1.ChannelService': {
    CreateChannel: { requestStream: false, responseStream: false },
    UpdateChannel: { requestStream: false, responseStream: false },
    GetChannel: { requestStream: false, responseStream: false },
    DeleteChannel: { requestStream: false, responseStream: false },
  },
  'im.v1.SubscriptionService': {
    AddSubscribers: { requestStream: false, responseStream: false },
    RemoveSubscribers: { requestStream: false, responseStream: false },
    ListSubscribers: { requestStream: false, responseStream: false },
  },
  'im.v1.MessageService': {
    SendMessage: { requestStream: false, responseStream: false },
    SendMessages: { requestStream: true, responseStream: true },
    SyncMessages: { requestStream: false, responseStream: false },
    StreamDeliveries: { requestStream: true, responseStream: true },
  },
  'im.v1.CommandService': {
    SyncCommands: { requestStream: false, responseStream: false },
    AckCommands: { requestStream: false, responseStream: false },
    SendCommand: { requestStream: false, responseStream: false },
  },
  'im.v1.ConversationService': {
    SyncConversations: { requestStream: false, responseStream: false },
    DeleteConversation: { requestStream: false, responseStream: false },
    MarkRead: { requestStream: false, responseStream: false },
  },
  'grpc.health.v1.Health': {
    Check: { requestStream: false, responseStream: false },
    Watch: { requestStream: false, responseStream: true },
  },
};

let definition: PackageDefinition;
let grpcRoot: GrpcObject;

const serviceAt = (fullName: string) =>
  fullName.split('.').reduce<unknown>((node, part) => (node as Record<string, unknown>)[part], grpcRoot) as ServiceClientConstructor;

/** Serialises with the rpc's own serializer and reads it back, as a client and a server would. */
function roundTrip(fullService: string, rpc: string, side: 'request' | 'response', value: unknown): Record<string, unknown> {
  const method = serviceAt(fullService).service[rpc];
  return side === 'request'
    ? (method.requestDeserialize(method.requestSerialize(value)) as Record<string, unknown>)
    : (method.responseDeserialize(method.responseSerialize(value)) as Record<string, unknown>);
}

beforeAll(() => {
  definition = loadSync(
    PROTO_FILES.map((f) => join(PROTO_ROOT, f)),
    GRPC_LOADER_OPTIONS,
  );
  grpcRoot = loadPackageDefinition(definition);
});

describe('proto root and files', () => {
  it('resolves PROTO_ROOT to the directory holding the protos', () => {
    expect(existsSync(join(PROTO_ROOT, 'im', 'v1', 'channels.proto'))).toBe(true);
  });

  it('lists every .proto file under PROTO_ROOT in PROTO_FILES', () => {
    const found: string[] = [];
    const walk = (dir: string) =>
      readdirSync(dir).forEach((name) => {
        const path = join(dir, name);
        if (statSync(path).isDirectory()) walk(path);
        else if (name.endsWith('.proto')) found.push(relative(PROTO_ROOT, path).split('\\').join('/'));
      });
    walk(PROTO_ROOT);
    expect([...PROTO_FILES].sort()).toEqual(found.sort());
  });

  it('finds the protos from the compiled output location too, and honours IM_PROTO_ROOT', () => {
    const repoRoot = resolve(PROTO_ROOT, '..', '..', '..');
    expect(resolveProtoRoot(join(repoRoot, 'dist', 'out-tsc', 'libs', 'contracts', 'src'), {})).toBe(PROTO_ROOT);
    expect(resolveProtoRoot(__dirname, { IM_PROTO_ROOT: '/opt/protos' })).toBe(resolve('/opt/protos'));
    expect(() => resolveProtoRoot(resolve('/'), {})).toThrow(/IM_PROTO_ROOT/);
  });
});

describe('proto-loader view of the contract', () => {
  it('loads both packages', () => {
    const names = Object.keys(definition);
    for (const pkg of GRPC_PACKAGES) expect(names.some((n) => n.startsWith(`${pkg}.`))).toBe(true);
  });

  it.each(Object.keys(CONTRACT))('defines %s with exactly the contract methods', (fullName) => {
    const service = serviceAt(fullName);
    expect(service).toBeDefined();
    expect(Object.keys(service.service).sort()).toEqual(Object.keys(CONTRACT[fullName]).sort());
    for (const [rpc, shape] of Object.entries(CONTRACT[fullName])) {
      const method = service.service[rpc];
      expect({ rpc, requestStream: method.requestStream, responseStream: method.responseStream }).toEqual({ rpc, ...shape });
    }
  });

  it('names the services consistently in constants, generated code and the proto', () => {
    expect([CHANNEL_SERVICE, SUBSCRIPTION_SERVICE, MESSAGE_SERVICE, COMMAND_SERVICE, CONVERSATION_SERVICE, HEALTH_SERVICE]).toEqual([
      CHANNEL_SERVICE_NAME,
      SUBSCRIPTION_SERVICE_NAME,
      MESSAGE_SERVICE_NAME,
      COMMAND_SERVICE_NAME,
      CONVERSATION_SERVICE_NAME,
      HEALTH_SERVICE_NAME,
    ]);
    expect(Object.values(GRPC_SERVICES).sort()).toEqual(Object.keys(CONTRACT).sort());
    for (const [short, full] of Object.entries(GRPC_SERVICES)) expect(full.endsWith(`.${short}`)).toBe(true);
  });

  it('uses camelCase fields, numbers for 64-bit integers and nulls for unset messages, as the generated types say', () => {
    const big = 2 ** 40;
    const channel = roundTrip('im.v1.ChannelService', 'CreateChannel', 'response', {
      channel: { channelId: 'team-42', channelType: 2 },
      attributes: { name: 'Team', sendBan: true, extra: { topic: 'x' } },
      version: big,
      createdAtMs: 1767268800000,
    });
    expect(channel).toEqual({
      channel: { channelId: 'team-42', channelType: 2 },
      attributes: { name: 'Team', avatar: '', ban: false, sendBan: true, disband: false, large: false, extra: { topic: 'x' } },
      version: big,
      deleted: false,
      createdAtMs: 1767268800000,
      updatedAtMs: 0,
    });
    expect(roundTrip('im.v1.ChannelService', 'GetChannel', 'request', {})).toEqual({ channel: null });
  });

  it('carries enums as their names, matching the generated string enums', () => {
    const response = roundTrip('im.v1.ConversationService', 'SyncConversations', 'response', {
      conversations: [{ channel: { channelId: 'bob', channelType: 1 }, state: ConversationState.CONVERSATION_STATE_LEFT, unread: 3 }],
      version: 7,
    });
    expect((response.conversations as Array<Record<string, unknown>>)[0].state).toBe('CONVERSATION_STATE_LEFT');
    expect(roundTrip('grpc.health.v1.Health', 'Check', 'response', { status: 'SERVING' })).toEqual({ status: 'SERVING' });
  });

  it('names the set member of a oneof, and keeps bytes as Buffer', () => {
    const delivery = roundTrip('im.v1.MessageService', 'StreamDeliveries', 'response', {
      uid: 'alice',
      command: { cmdSeq: 3, type: 'app.typing', payload: Buffer.from('hi') },
    });
    expect(delivery.item).toBe('command');
    expect(delivery.message).toBeUndefined();
    expect(Buffer.isBuffer((delivery.command as { payload: unknown }).payload)).toBe(true);
    const attach = roundTrip('im.v1.MessageService', 'StreamDeliveries', 'request', { attach: { uids: ['alice', 'bob'] } });
    expect(attach).toMatchObject({ action: 'attach', attach: { uids: ['alice', 'bob'] } });
  });

  it('carries the batched delivery fields, absent (false, empty) for clients that do not set them', () => {
    expect(roundTrip('im.v1.MessageService', 'StreamDeliveries', 'request', { attach: { uids: ['alice'], batched: true } })).toMatchObject({
      action: 'attach',
      attach: { uids: ['alice'], batched: true },
    });
    expect(roundTrip('im.v1.MessageService', 'StreamDeliveries', 'request', { attach: { uids: ['alice'] } })).toMatchObject({
      attach: { uids: ['alice'], batched: false },
    });
    const batched = roundTrip('im.v1.MessageService', 'StreamDeliveries', 'response', { uids: ['alice', 'bob'], message: { messageSeq: 7 } });
    expect(batched).toMatchObject({ uid: '', uids: ['alice', 'bob'], item: 'message', message: { messageSeq: 7 } });
    const perUid = { uid: 'alice', message: { messageSeq: 7 } };
    expect(roundTrip('im.v1.MessageService', 'StreamDeliveries', 'response', perUid)).toMatchObject({ uid: 'alice', uids: [] });
    // A per-uid delivery is byte for byte what it was before `uids` existed: the field is never written.
    const method = serviceAt('im.v1.MessageService').service['StreamDeliveries'];
    expect(method.responseSerialize(perUid)).toEqual(method.responseSerialize({ ...perUid, uids: [] }));
  });

  it('carries a SendMessages request with its message, and an answer as `sent` or `error` with the request id', () => {
    const request = roundTrip('im.v1.MessageService', 'SendMessages', 'request', {
      requestId: 'r-1',
      message: { fromUid: 'alice', channel: { channelId: 'bob', channelType: 1 }, payload: Buffer.from('hi'), clientMsgNo: 'c-1' },
    });
    expect(request).toMatchObject({ requestId: 'r-1', message: { fromUid: 'alice', clientMsgNo: 'c-1', channel: { channelId: 'bob', channelType: 1 } } });
    expect(Buffer.from((request.message as { payload: Buffer }).payload).toString()).toBe('hi');
    expect(roundTrip('im.v1.MessageService', 'SendMessages', 'request', {})).toEqual({ requestId: '', message: null });

    const sent = roundTrip('im.v1.MessageService', 'SendMessages', 'response', { requestId: 'r-1', sent: { messageId: 'm', messageSeq: 9 } });
    expect(sent).toMatchObject({ requestId: 'r-1', result: 'sent', sent: { messageId: 'm', messageSeq: 9 } });
    expect(sent.error).toBeUndefined();
    const error = { code: 7, reason: 'NOT_SUBSCRIBER', message: 'alice is not a subscriber' };
    const refused = roundTrip('im.v1.MessageService', 'SendMessages', 'response', { requestId: '', error });
    expect(refused).toMatchObject({ requestId: '', result: 'error', error });
    expect(refused.sent).toBeUndefined();
  });

  it('carries FieldMask as { paths } (not the string[] of the generated type): use toFieldMask and fieldMaskPaths', () => {
    const request = roundTrip('im.v1.ChannelService', 'UpdateChannel', 'request', {
      channel: { channelId: 'team-42', channelType: 2 },
      updateMask: toFieldMask(['name', 'send_ban']),
      expectedVersion: 4,
    });
    expect(request.updateMask).toEqual({ paths: ['name', 'send_ban'] });
    expect(fieldMaskPaths(request.updateMask as { paths: string[] })).toEqual(['name', 'send_ban']);
    // The pitfall this guards against: a bare array is silently sent as an empty mask.
    expect(roundTrip('im.v1.ChannelService', 'UpdateChannel', 'request', { updateMask: ['name'] }).updateMask).toEqual({ paths: [] });
  });
});

describe('fieldMaskPaths', () => {
  it.each([
    [null, []],
    [undefined, []],
    [{ paths: ['name', 'extra.k'] }, ['name', 'extra.k']],
    [{}, []],
    [['ban'], ['ban']],
    ['name,sendBan,extra.someKey', ['name', 'send_ban', 'extra.someKey']],
    [' name , , large ', ['name', 'large']],
    ['', []],
  ])('reads %j as %j', (mask, paths) => {
    expect(fieldMaskPaths(mask as Parameters<typeof fieldMaskPaths>[0])).toEqual(paths);
  });
});
