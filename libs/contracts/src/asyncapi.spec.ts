import { loadSync, PackageDefinition } from '@grpc/proto-loader';
import Ajv from 'ajv';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { GRPC_LOADER_OPTIONS, PROTO_FILES, PROTO_ROOT } from './grpc';
import { cloudEventHeaders, dlqTopicOf, HEADERS, TOPICS } from './topics';

/* eslint-disable @typescript-eslint/no-explicit-any */
type Doc = Record<string, any>;

const DOC_PATH = join(__dirname, '..', 'asyncapi.yaml');

/** Every topic, with the message types on it; commands topics also have a dead-letter topic. */
const TOPIC_MESSAGES: Record<string, string[]> = {
  'im.channels.events.v1': ['channel.created', 'channel.updated', 'channel.deleted'],
  'im.channels.commands.v1': ['channel.create', 'channel.update', 'channel.delete'],
  'im.subscriptions.events.v1': ['subscribers.added', 'subscribers.removed'],
  'im.subscriptions.commands.v1': ['subscribers.add', 'subscribers.remove'],
  'im.fanout.events.v1': ['message.stored', 'cmd.stored'],
  'im.fanout.commands.v1': ['message.send', 'cmd.send'],
  'im.conversations.commands.v1': ['conversation.delete', 'conversation.mark_read'],
};
const COMMAND_TOPICS = Object.keys(TOPIC_MESSAGES).filter((t) => t.includes('.commands.'));

/** A command's data is the JSON form of this gRPC request. */
const COMMAND_REQUESTS: Record<string, string> = {
  'channel.create': 'im.v1.CreateChannelRequest',
  'channel.update': 'im.v1.UpdateChannelRequest',
  'channel.delete': 'im.v1.DeleteChannelRequest',
  'subscribers.add': 'im.v1.AddSubscribersRequest',
  'subscribers.remove': 'im.v1.RemoveSubscribersRequest',
  'message.send': 'im.v1.SendMessageRequest',
  'cmd.send': 'im.v1.SendCommandRequest',
  'conversation.delete': 'im.v1.DeleteConversationRequest',
  'conversation.mark_read': 'im.v1.MarkReadRequest',
};

const DLQ_HEADERS = [HEADERS.dlqReason, HEADERS.dlqErrorCode, HEADERS.dlqSourceTopic, HEADERS.dlqSourcePartition, HEADERS.dlqSourceOffset];

let doc: Doc;
let protos: PackageDefinition;
let ajv: Ajv;

/** Follows a local `$ref` ("#/a/b") through the document, repeatedly. */
function deref(node: any): any {
  let current = node;
  for (let hops = 0; current && typeof current === 'object' && typeof current.$ref === 'string'; hops++) {
    if (hops > 20) throw new Error(`$ref cycle at ${node.$ref}`);
    current = pointer(current.$ref);
  }
  return current;
}

function pointer(ref: string): any {
  if (!ref.startsWith('#/')) throw new Error(`only local $refs are used: ${ref}`);
  return ref
    .slice(2)
    .split('/')
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((node: any, part) => (node === undefined ? undefined : node[part]), doc);
}

const channelOf = (address: string) => Object.values(doc.channels as Record<string, any>).find((c) => c.address === address);
const messagesOf = (address: string) => Object.values(channelOf(address)?.messages ?? {}).map(deref);

/** The schema of a message's `data`: the second member of its payload's allOf. */
const dataSchemaOf = (message: any) => deref(message.payload.allOf[1].properties.data);

const protoFields = (fullName: string): string[] => ((protos[fullName] as any).type.field as Array<{ name: string }>).map((f) => f.name).sort();

const payloadValidator = (messageKey: string) => {
  const validate = ajv.getSchema(`asyncapi#/components/messages/${messageKey}/payload`);
  if (!validate) throw new Error(`no payload schema for ${messageKey}`);
  return validate;
};

beforeAll(() => {
  doc = parse(readFileSync(DOC_PATH, 'utf8'));
  protos = loadSync(
    PROTO_FILES.map((f) => join(PROTO_ROOT, f)),
    GRPC_LOADER_OPTIONS,
  );
  // The document's schemas are JSON Schema; ajv validates the examples and sample records with them.
  const asSchema = { ...doc };
  delete asSchema.id;
  ajv = new Ajv({ strict: false, validateFormats: false, allErrors: true });
  ajv.addSchema(asSchema, 'asyncapi');
});

describe('asyncapi.yaml', () => {
  it('is an AsyncAPI 3.x document', () => {
    expect(String(doc.asyncapi)).toMatch(/^3\.\d+\.\d+$/);
    expect(doc.info?.title).toBeTruthy();
    expect(doc.defaultContentType).toBe('application/json');
  });

  it('has no dangling $ref', () => {
    const dangling: string[] = [];
    const visit = (node: any) => {
      if (Array.isArray(node)) node.forEach(visit);
      else if (node && typeof node === 'object') {
        if (typeof node.$ref === 'string' && pointer(node.$ref) === undefined) dangling.push(node.$ref);
        Object.values(node).forEach(visit);
      }
    };
    visit(doc);
    expect(dangling).toEqual([]);
  });

  it('lists exactly the topics of the contract (the TOPICS constant) and their dead-letter topics', () => {
    const addresses = Object.values(doc.channels as Record<string, any>)
      .map((c) => c.address)
      .sort();
    const expected = [...Object.keys(TOPIC_MESSAGES), ...COMMAND_TOPICS.map(dlqTopicOf)].sort();
    expect(addresses).toEqual(expected);
    expect(Object.values(TOPICS).sort()).toEqual(Object.keys(TOPIC_MESSAGES).sort());
  });

  it.each(Object.entries(TOPIC_MESSAGES))('%s carries %j, each an envelope of its own type, keyed by channel', (topic, types) => {
    const messages = messagesOf(topic);
    expect(messages.map((m) => m.name).sort()).toEqual([...types].sort());
    for (const message of messages) {
      expect(message.payload.allOf[0]).toEqual({ $ref: '#/components/schemas/Envelope' });
      expect(message.payload.allOf[1].properties.type.const).toBe(message.name);
      const trait = deref(message.traits[0]);
      expect(deref(trait.bindings.kafka.key)).toBe(deref({ $ref: '#/components/schemas/RecordKey' }));
      expect(deref(trait.headers).properties[HEADERS.correlationId]).toBeDefined();
    }
  });

  it('documents every header an event carries, CloudEvents attributes included', () => {
    const documented = Object.keys(deref({ $ref: '#/components/schemas/EventHeaders' }).properties).sort();
    const published = Object.keys({
      [HEADERS.correlationId]: '',
      [HEADERS.eventId]: '',
      [HEADERS.eventType]: '',
      ...cloudEventHeaders({ id: 'i', type: 't', topic: TOPICS.channelsEvents, key: 'k', occurredAt: 'o' }),
    }).sort();
    expect(documented).toEqual(published);
  });

  it.each(COMMAND_TOPICS)('%s has a dead-letter topic with the x-dlq-* headers', (topic) => {
    const dlq = channelOf(dlqTopicOf(topic));
    expect(dlq).toBeDefined();
    const [message] = messagesOf(dlqTopicOf(topic));
    const headers = deref(message.headers);
    expect([...headers.required].sort()).toEqual([...DLQ_HEADERS].sort());
    for (const header of DLQ_HEADERS) expect(headers.properties[header]).toBeDefined();
  });

  it('has a send or receive operation for every topic', () => {
    const used = new Set(Object.values(doc.operations as Record<string, any>).map((op) => deref(op.channel).address));
    expect([...used].sort()).toEqual(
      Object.values(doc.channels as Record<string, any>)
        .map((c) => c.address)
        .sort(),
    );
  });

  it('describes envelopes with id, type, version, occurred_at, key and data', () => {
    const envelope = deref({ $ref: '#/components/schemas/Envelope' });
    expect([...envelope.required].sort()).toEqual(['data', 'id', 'key', 'occurred_at', 'type', 'version']);
    expect(envelope.properties.version.type).toBe('integer');
  });
});

describe('asyncapi.yaml agrees with the gRPC contract', () => {
  it.each(Object.entries(COMMAND_REQUESTS))('%s data has the fields of %s (proto JSON names)', (type, request) => {
    const message = Object.keys(TOPIC_MESSAGES)
      .flatMap(messagesOf)
      .find((m) => m.name === type);
    expect(Object.keys(dataSchemaOf(message).properties).sort()).toEqual(protoFields(request));
  });

  it('describes ChannelRef, ChannelAttributes and Message with the proto fields', () => {
    const props = (name: string) => Object.keys(deref({ $ref: `#/components/schemas/${name}` }).properties).sort();
    expect(props('ChannelRef')).toEqual(protoFields('im.v1.ChannelRef'));
    expect(props('ChannelAttributes')).toEqual(protoFields('im.v1.ChannelAttributes'));
    expect(props('Message')).toEqual(protoFields('im.v1.Message'));
  });

  it('describes cmd.stored as an im.v1.Command plus its recipient', () => {
    const props = Object.keys(deref({ $ref: '#/components/schemas/CmdStoredData' }).properties).sort();
    expect(props).toEqual([...protoFields('im.v1.Command').filter((f) => f !== 'createdAtMs'), 'uid'].sort());
  });
});

describe('asyncapi.yaml schemas', () => {
  it('accept every example in the document', () => {
    const failures: string[] = [];
    for (const [key, message] of Object.entries(doc.components.messages as Record<string, any>)) {
      if (message.contentType === 'application/octet-stream') continue;
      const validate = payloadValidator(key);
      for (const example of message.examples ?? []) {
        if (!validate(example.payload)) failures.push(`${key}/${example.name}: ${ajv.errorsText(validate.errors)}`);
      }
    }
    expect(failures).toEqual([]);
  });

  const envelope = (type: string, data: unknown, key = '2:team-42') => ({
    id: '0b9d2a7e-1f57-4f0b-9a5e-4d8f7c1e2a31',
    type,
    version: 1,
    occurred_at: '2026-01-01T12:00:00.000Z',
    key,
    data,
  });

  it.each([
    [
      'ChannelUpdate',
      envelope('channel.update', { channel: { channelId: 'team-42', channelType: 2 }, attributes: { ban: true }, updateMask: 'ban', expectedVersion: 3 }),
    ],
    ['ChannelUpdate', envelope('channel.update', { channel: { channelId: 'team-42', channelType: 2 }, updateMask: { paths: ['extra.topic'] } })],
    ['SubscribersAdd', envelope('subscribers.add', { channel: { channelId: 'team-42', channelType: 2 }, uids: [], reset: true })],
    ['CmdSend', envelope('cmd.send', { type: 'app.typing', channel: { channelId: 'alice|bob', channelType: 1 }, payload: 'e30=' }, '1:alice|bob')],
    [
      'CmdStored',
      envelope(
        'cmd.stored',
        { uid: 'alice', cmdSeq: 9, type: 'app.typing', channel: { channelId: 'alice|bob', channelType: 1 }, version: 0, payload: '' },
        '1:alice|bob',
      ),
    ],
    ['ConversationMarkRead', envelope('conversation.mark_read', { uid: 'alice', channel: { channelId: 'bob', channelType: 1 }, readSeq: 12 }, '1:alice|bob')],
  ])('accept a valid %s record', (key, record) => {
    const validate = payloadValidator(key);
    expect(validate(record) || ajv.errorsText(validate.errors)).toBe(true);
  });

  it.each([
    ['a record without id', 'ChannelDelete', { ...envelope('channel.delete', { channel: { channelId: 'g', channelType: 2 } }), id: undefined }],
    ['a key without channel type', 'ChannelDelete', envelope('channel.delete', { channel: { channelId: 'g', channelType: 2 } }, 'team-42')],
    ['a record of another type', 'ChannelDelete', envelope('channel.create', { channel: { channelId: 'g', channelType: 2 } })],
    ['channel type 0', 'ChannelDelete', envelope('channel.delete', { channel: { channelId: 'g', channelType: 0 } })],
    ['a reserved command type', 'CmdSend', envelope('cmd.send', { type: 'im.channel.updated', channel: { channelId: 'g', channelType: 2 } })],
    ['an event without version', 'ChannelCreated', envelope('channel.created', { channel: { channelId: 'g', channelType: 2 }, attributes: {} })],
  ])('reject %s', (_, key, record) => {
    const validate = payloadValidator(key as string);
    expect(validate(JSON.parse(JSON.stringify(record)))).toBe(false);
  });
});
