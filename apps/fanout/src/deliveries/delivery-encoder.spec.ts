import { GRPC_SERVICES, responseCodec } from '@im/contracts';
import { AudienceIds } from '@im/fanout-domain';
import { DeliveryEncoder } from './delivery-encoder';
import { DeliveryFrame } from './delivery-hub';

const codec = responseCodec(GRPC_SERVICES.MessageService, 'StreamDeliveries');

const message = {
  messageId: 'm-1',
  messageSeq: 7,
  channel: { channelId: 'g1', channelType: 2 },
  fromUid: 'a',
  clientMsgNo: 'c-1',
  payload: Buffer.from('hello'),
  sentAtMs: 1_767_268_800_000,
  membershipVersion: 3,
};

describe('delivery encoder', () => {
  it.each<[string, DeliveryFrame]>([
    ['a per-uid message', { uid: 'b', message }],
    ['a batched message', { uid: '', uids: ['b', 'c', 'é'], message }],
    ['a batched command', { uid: 'b', uids: ['b'], command: { cmdSeq: 4, type: 'app.ping', payload: Buffer.from('x') } }],
    ['an attach acknowledgement', { uid: '', attached: { uids: ['b', 'c'] } }],
  ])('encodes %s to bytes that decode as the contract encoding of the whole frame does', (_, frame) => {
    const bytes = DeliveryEncoder.forContract().encode(frame).bytes;
    expect(codec.decode(bytes)).toEqual(codec.decode(codec.encode(frame)));
  });

  it('encodes a message once for all its frames, and a uid list once for all the messages it receives', () => {
    const encoded: object[] = [];
    const encoder = new DeliveryEncoder((part) => {
      encoded.push(part);
      return codec.encode(part);
    });
    const [everyone, few] = [['b', 'c'], ['d']];
    const second = { ...message, messageSeq: 8 };
    for (const m of [message, second]) for (const uids of [everyone, few]) encoder.encode({ uid: '', uids, message: m });
    expect(encoded).toEqual([{ message }, { uids: everyone }, { uids: few }, { message: second }]);
  });

  it('on an audience stream, defines a recipient list in its first frame and names it by id alone afterwards, on each stream apart', () => {
    const encoder = DeliveryEncoder.forContract();
    const [first, second] = [new AudienceIds(), new AudienceIds()];
    const everyone = ['b', 'c', 'd'];
    const later = { ...message, messageSeq: 8 };
    const decoded = (frame: DeliveryFrame, ids: AudienceIds) => codec.decode(encoder.encode(frame, ids).bytes) as Record<string, unknown>;

    expect(decoded({ uid: '', uids: everyone, message }, first)).toMatchObject({ uids: [], audience: { id: 1, uids: everyone }, message });
    expect(decoded({ uid: '', uids: everyone, message: later }, first)).toMatchObject({ uids: [], audience: { id: 1, uids: [] }, message: later });
    // Another stream has ids of its own: the list is defined there too.
    expect(decoded({ uid: '', uids: everyone, message: later }, second)).toMatchObject({ audience: { id: 1, uids: everyone } });
    // One recipient is listed as on a batched stream: an id would save nothing.
    expect(decoded({ uid: '', uids: ['b'], message }, first)).toMatchObject({ uids: ['b'], audience: null });
  });
});
