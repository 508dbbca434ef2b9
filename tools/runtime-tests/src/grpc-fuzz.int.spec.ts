import { Metadata, status } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { dlqTopicOf, GRPC_LOADER_OPTIONS, PROTO_FILES, PROTO_ROOT, TOPICS } from '@im/contracts';
import { grpcClient, GrpcTestClient, ServiceProcess, testKafka, TopicWatcher } from '@im/testing';
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { join } from 'node:path';

/**
 * Generated requests against the real services: every unary im.v1 method, requests built from the
 * proto definitions themselves (strings with control characters and lone surrogates, uint64 up to
 * 2^64 - 1, unknown enum numbers, nested and repeated fields, ids that name existing channels and
 * members or nothing). A refusal must carry a documented code and a reason; INTERNAL or UNKNOWN is a
 * defect, and afterwards every consumer has applied everything and every service is ready.
 * FUZZ_RUNS calls per method (`npm run test:fuzz` runs 10,000); a failure prints the seed and the
 * request, FUZZ_SEED=<seed> replays it.
 */
const RUNS = Number(process.env['FUZZ_RUNS'] ?? 150);
const SEED = process.env['FUZZ_SEED'] === undefined ? undefined : Number(process.env['FUZZ_SEED']);

jest.setTimeout(1_800_000);

const SERVICES = {
  channels: ['ChannelService'],
  subscriptions: ['SubscriptionService'],
  fanout: ['MessageService', 'CommandService'],
  conversations: ['ConversationService'],
};
const REFUSALS = new Set([
  status.INVALID_ARGUMENT,
  status.NOT_FOUND,
  status.ALREADY_EXISTS,
  status.FAILED_PRECONDITION,
  status.PERMISSION_DENIED,
  status.RESOURCE_EXHAUSTED,
  status.ABORTED,
  status.UNAVAILABLE,
]);

type Descriptor = { name: string; field: Field[]; nestedType?: Descriptor[]; options?: { mapEntry?: boolean } | null };
type Field = { name: string; type: string; label: string; typeName: string };
type Method = { requestStream: boolean; responseStream: boolean; requestType: { type: Descriptor } };
const definition = loadSync(
  PROTO_FILES.map((f: string) => join(PROTO_ROOT, f)),
  GRPC_LOADER_OPTIONS,
);
const messageType = (name: string) => (definition[name] as { type?: Descriptor } | undefined)?.type;
const serviceMethods = (name: string) => Object.entries(definition[name] as unknown as Record<string, Method>);

// A few ids that exist (created in beforeAll), so generated calls also reach state, not only refusals.
const UIDS = ['fz-a', 'fz-b', 'fz-c'];
const GROUPS = ['fz-g1', 'fz-g2'];
const text = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...UIDS, ...GROUPS) },
  { weight: 2, arbitrary: fc.stringMatching(/^[A-Za-z0-9_.@-]{1,64}$/) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 80 }) },
  { weight: 1, arbitrary: fc.string({ unit: fc.integer({ min: 0, max: 0x9f }).map((c) => String.fromCharCode(c)), maxLength: 10 }) },
  { weight: 1, arbitrary: fc.constantFrom('', '\u0000', '\ud800', 'a\u001fb', 'x'.repeat(65), 'a|b') },
);
const uint64 = fc.oneof(
  fc.nat(10),
  fc.nat(),
  fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map(String),
  fc.constantFrom('9007199254740991', '9007199254740992', '9223372036854775808', '18446744073709551615'),
);
const uint32 = fc.oneof(fc.nat(300), fc.integer({ min: 0, max: 2 ** 32 - 1 }));
const SCALARS: Record<string, fc.Arbitrary<unknown>> = {
  TYPE_STRING: text,
  TYPE_UINT64: uint64,
  TYPE_INT64: uint64,
  TYPE_UINT32: uint32,
  TYPE_INT32: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
  TYPE_BOOL: fc.boolean(),
  TYPE_ENUM: fc.integer({ min: 0, max: 6 }),
  TYPE_BYTES: fc
    .oneof({ weight: 9, arbitrary: fc.uint8Array({ maxLength: 64 }) }, { weight: 1, arbitrary: fc.uint8Array({ minLength: 65_000, maxLength: 70_000 }) })
    .map((b) => Buffer.from(b)),
};

function messageOf(typeName: string, scope: string): { descriptor: Descriptor; name: string } {
  for (let s = scope; ; s = s.slice(0, Math.max(0, s.lastIndexOf('.')))) {
    const name = s ? `${s}.${typeName}` : typeName;
    const found = messageType(name);
    if (found) return { descriptor: found, name };
    if (!s) throw new Error(`unknown message ${typeName} from ${scope}`);
  }
}

function arbitraryOf(descriptor: Descriptor, name: string, depth: number): fc.Arbitrary<Record<string, unknown>> {
  const fields: Record<string, fc.Arbitrary<unknown>> = {};
  for (const field of descriptor.field) {
    let value: fc.Arbitrary<unknown>;
    const nested = descriptor.nestedType?.find((n) => n.name === field.typeName);
    if (nested?.options?.mapEntry) {
      value = fc.dictionary(text, text, { maxKeys: 4 });
    } else if (field.type === 'TYPE_MESSAGE') {
      if (depth >= 3) continue;
      const inner = nested ? { descriptor: nested, name: `${name}.${nested.name}` } : messageOf(field.typeName, name.slice(0, name.lastIndexOf('.')));
      value = arbitraryOf(inner.descriptor, inner.name, depth + 1);
      if (field.label === 'LABEL_REPEATED') value = fc.array(value, { maxLength: 3 });
    } else {
      value = SCALARS[field.type];
      if (!value) throw new Error(`no generator for ${field.type} (${name}.${field.name})`);
      if (field.label === 'LABEL_REPEATED') value = fc.array(value, { maxLength: 5 });
    }
    fields[field.name] = value;
  }
  return fc.record(fields, { requiredKeys: [] });
}

/** A channel reference that names a real channel more often than chance would. */
const channelRef = fc.oneof(
  fc.record({ channelId: fc.constantFrom(...GROUPS), channelType: fc.constant(2) }),
  fc.record({ channelId: fc.constantFrom(...UIDS), channelType: fc.constant(1) }),
);

describe('generated requests against the real services', () => {
  let processes: ServiceProcess[] = [];
  const clients: Record<string, GrpcTestClient> = {};

  beforeAll(async () => {
    const names = Object.keys(SERVICES) as (keyof typeof SERVICES)[];
    processes = await ServiceProcess.together(names.map((name) => ServiceProcess.start(name)));
    names.forEach((name, i) => SERVICES[name].forEach((service) => (clients[service] = grpcClient(service, processes[i].grpcAddress))));
    for (const channelId of GROUPS) {
      await clients.ChannelService.createChannel({ channel: { channelId, channelType: 2 } }).catch(() => undefined);
      await clients.SubscriptionService.addSubscribers({ channel: { channelId, channelType: 2 }, uids: UIDS });
    }
  });

  afterAll(async () => {
    Object.values(clients).forEach((c) => c.close());
    await Promise.all(processes.map((p) => p.stop()));
  });

  const methods = Object.values(SERVICES)
    .flat()
    .flatMap((service) =>
      serviceMethods(`im.v1.${service}`)
        .filter(([, m]) => !m.requestStream && !m.responseStream)
        .map(([method, m]) => ({ service, method, request: m.requestType.type })),
    );

  it.each(methods.map((m) => [`${m.service}/${m.method}`, m] as const))(
    '%s answers every generated request with success or a documented refusal',
    async (_label, m) => {
      const generated = arbitraryOf(m.request, `im.v1.${m.request.name}`, 0);
      // Half the requests carry a channel that exists, so the calls get past the reference checks.
      const request = m.request.field.some((f) => f.name === 'channel')
        ? fc.oneof(
            generated,
            fc.tuple(generated, channelRef).map(([r, channel]) => ({ ...r, channel })),
          )
        : generated;
      const call = clients[m.service][m.method.charAt(0).toLowerCase() + m.method.slice(1)];
      await fc.assert(
        fc.asyncProperty(request, async (req) => {
          const outcome = await call(req, new Metadata()).then(
            () => ({ ok: true }),
            (error: { code: number; metadata?: Metadata; details?: string }) => ({
              code: error.code,
              reason: error.metadata?.get('x-error-reason')[0],
              details: error.details,
            }),
          );
          if ('ok' in outcome) return;
          expect({ request: req, code: outcome.code, refusal: REFUSALS.has(outcome.code), reason: typeof outcome.reason }).toEqual({
            request: req,
            code: outcome.code,
            refusal: true,
            reason: 'string',
          });
        }),
        // The first counterexample as it was generated: shrinking replays calls against services whose state has moved on.
        { numRuns: RUNS, seed: SEED, endOnFailure: true },
      );
    },
  );

  /** Each Kafka command with the gRPC request its data is (asyncapi.yaml). */
  const COMMANDS: { topic: string; type: string; request: string }[] = [
    { topic: TOPICS.channelsCommands, type: 'channel.create', request: 'CreateChannelRequest' },
    { topic: TOPICS.channelsCommands, type: 'channel.update', request: 'UpdateChannelRequest' },
    { topic: TOPICS.channelsCommands, type: 'channel.delete', request: 'DeleteChannelRequest' },
    { topic: TOPICS.subscriptionsCommands, type: 'subscribers.add', request: 'AddSubscribersRequest' },
    { topic: TOPICS.subscriptionsCommands, type: 'subscribers.remove', request: 'RemoveSubscribersRequest' },
    { topic: TOPICS.fanoutCommands, type: 'message.send', request: 'SendMessageRequest' },
    { topic: TOPICS.fanoutCommands, type: 'cmd.send', request: 'SendCommandRequest' },
    { topic: TOPICS.conversationsCommands, type: 'conversation.delete', request: 'DeleteConversationRequest' },
    { topic: TOPICS.conversationsCommands, type: 'conversation.mark_read', request: 'MarkReadRequest' },
  ];

  it('takes generated Kafka commands on every command topic without a stuck consumer: each applied or dead-lettered with its reason', async () => {
    const topics = [...new Set(COMMANDS.map((c) => c.topic))];
    const dlq = await new TopicWatcher().start(topics.map(dlqTopicOf));
    const producer = testKafka().producer();
    await producer.connect();
    try {
      await produceGenerated(producer);
    } finally {
      await producer.disconnect();
    }
    try {
      // No record stops a consumer: every command consumer applies or dead-letters all of them.
      for (const p of processes) await p.waitCaughtUp(600_000);
      for (const dead of dlq.records) {
        expect({ code: dead.headers['x-dlq-error-code'], reason: typeof dead.headers['x-dlq-reason'] }).toEqual({
          code: expect.stringMatching(/^[A-Z_]+(\/[A-Z_0-9]+)?$/),
          reason: 'string',
        });
      }
      expect(dlq.records.length).toBeGreaterThan(0);
    } finally {
      await dlq.stop();
    }
  });

  /** RUNS records per command type, produced with kafkajs (in any order the broker takes them). */
  async function produceGenerated(producer: ReturnType<ReturnType<typeof testKafka>['producer']>) {
    for (const command of COMMANDS) {
      const requests = fc.sample(fc.tuple(arbitraryOf(messageOf(command.request, 'im.v1').descriptor, `im.v1.${command.request}`, 0), channelRef, fc.nat(9)), {
        numRuns: RUNS,
        seed: SEED,
      });
      const messages = requests.map(([request, channel, variant]) => {
        // Mostly well-formed envelopes around generated data (bytes as base64, as proto JSON has them), keyed by their channel; some keys that do not match, some values that are not envelopes.
        const data = variant < 5 ? { ...request, channel } : request;
        const ref = (data as { channel?: { channelType?: number; channelId?: string } }).channel;
        const key = variant === 9 ? 'not-the-channel' : `${ref?.channelType ?? 0}:${ref?.channelId ?? ''}`;
        const json = JSON.stringify({ id: randomUUID(), type: command.type, version: 1, occurred_at: new Date().toISOString(), key, data }, (_k, v) =>
          v && v.type === 'Buffer' && Array.isArray(v.data) ? Buffer.from(v.data).toString('base64') : v,
        );
        return { key, value: variant === 8 ? json.slice(0, json.length / 2) : json };
      });
      // In requests well below the broker's 1 MiB limit (some payloads are near 64 KiB).
      for (let i = 0; i < messages.length; i += 10) await producer.send({ topic: command.topic, messages: messages.slice(i, i + 10) });
    }
  }

  it('leaves every consumer caught up and every service ready', async () => {
    for (const p of processes) {
      await p.waitCaughtUp();
      await p.waitReady();
    }
  });
});
