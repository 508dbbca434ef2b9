import { GRPC_LOADER_OPTIONS, PROTO_FILES, PROTO_ROOT } from '@im/contracts';
import { loadSync, MethodDefinition } from '@grpc/proto-loader';
import { join } from 'node:path';
import { acceptEncodedResponses, EncodedResponse } from './encoded-response';

describe('encoded responses', () => {
  const load = () =>
    loadSync(
      PROTO_FILES.map((f) => join(PROTO_ROOT, f)),
      GRPC_LOADER_OPTIONS,
    );
  const createChannel = (definition: ReturnType<typeof load>) =>
    (definition['im.v1.ChannelService'] as Record<string, MethodDefinition<object, object>>)['CreateChannel'];

  it('writes an EncodedResponse as its bytes, and encodes any other response as before', () => {
    const definition = load();
    const before = createChannel(load()).responseSerialize;
    acceptEncodedResponses(definition);
    const serialize = createChannel(definition).responseSerialize;
    const bytes = Buffer.from([1, 2, 3]);
    expect(serialize(new EncodedResponse(bytes))).toBe(bytes);
    const response = { channel: { channelId: 'g1', channelType: 2 } };
    expect(serialize(response)).toEqual(before(response));
  });

  it('leaves message types alone and wraps every method of every service', () => {
    const definition = load();
    acceptEncodedResponses(definition);
    const health = definition['grpc.health.v1.Health'] as Record<string, MethodDefinition<object, object>>;
    const bytes = Buffer.from([9]);
    expect(health['Check'].responseSerialize(new EncodedResponse(bytes))).toBe(bytes);
    expect('format' in definition['im.v1.Message']).toBe(true);
  });
});
