import { ensureTopics, KafkaCodec, topicSpec } from '@im/kafka';
import { kcatConsume, kcatProduce, testKafka, uniqueId } from '@im/testing';
import { CompressionCodecs, CompressionTypes, Kafka } from 'kafkajs';

// Record batches written by kcat (librdkafka, independent of kafkajs) and by our own producer, in
// each codec, read back by both: the codecs registered by @im/kafka on the real broker.
jest.setTimeout(60_000);

type Compression = 'gzip' | 'snappy' | 'lz4' | 'zstd';
const TYPES: Record<Compression, Exclude<CompressionTypes, CompressionTypes.None>> = {
  gzip: CompressionTypes.GZIP,
  snappy: CompressionTypes.Snappy,
  lz4: CompressionTypes.LZ4,
  zstd: CompressionTypes.ZSTD,
};

interface Rec {
  key: string;
  value: string;
}

// Values that compress well: librdkafka sends a batch uncompressed when compressing would not shrink it.
const recordsFor = (compression: Compression, count = 25): Rec[] =>
  Array.from({ length: count }, (_, i) => ({
    key: `${compression}-key-${i}`,
    value: JSON.stringify({ i, compression, text: `message ${i} ünïcödé `.repeat(10 + i) }),
  }));

async function freshTopic(kafka: Kafka, prefix: string): Promise<string> {
  const topic = uniqueId(prefix);
  const admin = kafka.admin();
  await admin.connect();
  try {
    await ensureTopics(admin, [topicSpec(topic, 1, 1)]);
  } finally {
    await admin.disconnect();
  }
  return topic;
}

/** Reads `count` records from the start of `topic` with a kafkajs consumer; fails when the consumer crashes (as on an unknown codec). */
async function consume(kafka: Kafka, topic: string, count: number): Promise<Rec[]> {
  const consumer = kafka.consumer({ groupId: uniqueId('compression-test'), sessionTimeout: 6000, heartbeatInterval: 500 });
  const seen: Rec[] = [];
  try {
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${seen.length} of ${count} records arrived`)), 30_000);
      consumer.on(consumer.events.CRASH, ({ payload }) => {
        clearTimeout(timer);
        reject(payload.error);
      });
      consumer
        .run({
          eachMessage: async ({ message }) => {
            seen.push({ key: message.key?.toString() ?? '', value: message.value?.toString() ?? '' });
            if (seen.length >= count) {
              clearTimeout(timer);
              resolve();
            }
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
  return seen;
}

describe.each(Object.keys(TYPES) as Compression[])('%s batches on the real broker', (compression) => {
  let kafka: Kafka;
  let codec: KafkaCodec;

  beforeAll(() => {
    kafka = testKafka();
    // The codec kafkajs will use, so the test can see that the batches really were compressed this way.
    codec = CompressionCodecs[TYPES[compression]]() as KafkaCodec;
  });

  afterEach(() => jest.restoreAllMocks());

  it('reach a consumer of ours exactly as kcat produced them', async () => {
    const topic = await freshTopic(kafka, `compression.${compression}.kcat`);
    const records = recordsFor(compression);
    kcatProduce(topic, records, { compression });
    const decompress = jest.spyOn(codec, 'decompress');

    expect(await consume(kafka, topic, records.length)).toEqual(records);
    expect(decompress).toHaveBeenCalled();
  });

  it('are written by our producer so that the broker accepts them and kcat and kafkajs read them back', async () => {
    const topic = await freshTopic(kafka, `compression.${compression}.kafkajs`);
    const records = recordsFor(compression, 40);
    const compress = jest.spyOn(codec, 'compress');
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    try {
      await producer.send({ topic, messages: records, compression: TYPES[compression], acks: -1 });
    } finally {
      await producer.disconnect();
    }
    expect(compress).toHaveBeenCalled();

    expect(kcatConsume(topic, records.length)).toEqual(records);
    expect(await consume(kafka, topic, records.length)).toEqual(records);
  });
});
