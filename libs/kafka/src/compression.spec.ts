import { randomBytes } from 'node:crypto';
import { CompressionCodecs, CompressionTypes } from 'kafkajs';
import * as snappy from 'snappyjs';
import { createKafka } from './client';
import { KafkaCodec, lz4Codec, snappyCodec, zstdCodec } from './compression';

const codecs: [string, KafkaCodec, Buffer | undefined][] = [
  ['snappy', snappyCodec, undefined],
  ['lz4', lz4Codec, Buffer.from([0x04, 0x22, 0x4d, 0x18])],
  ['zstd', zstdCodec, Buffer.from([0x28, 0xb5, 0x2f, 0xfd])],
];

const repetitive = (size: number) => Buffer.from('{"channelId":"c-1","payload":"hello, world"}'.repeat(Math.ceil(size / 44)).slice(0, size));
const inputs: [string, Buffer][] = [
  ['one byte', Buffer.from('x')],
  ['a short record', Buffer.from('key\tvalue with ünïcödé')],
  ['incompressible bytes', randomBytes(100_000)],
  ['repetitive bytes', repetitive(300_000)],
  // Spans many LZ4 blocks and xerial-sized chunks, ending in a partial one.
  ['several MiB', Buffer.concat([repetitive(5_000_000), randomBytes(4_500_000)])],
];

describe.each(codecs)('the %s codec', (_name, codec, magic) => {
  it.each(inputs)('gives back %s after compressing them', async (_what, input) => {
    const compressed = await codec.compress({ buffer: input });
    expect(Buffer.isBuffer(compressed)).toBe(true);
    const output = await codec.decompress(compressed);
    expect(Buffer.isBuffer(output)).toBe(true);
    expect(output.equals(input)).toBe(true);
  });

  it('really compresses, in the format Kafka names', async () => {
    const input = repetitive(100_000);
    const compressed = await codec.compress({ buffer: input });
    expect(compressed.length).toBeLessThan(input.length / 5);
    if (magic) expect(compressed.subarray(0, magic.length)).toEqual(magic);
  });

  it('rejects bytes that are not its format', async () => {
    await expect(codec.decompress(Buffer.from('definitely not compressed at all'))).rejects.toThrow();
  });
});

describe('lz4 frames', () => {
  it('declare independent blocks, since Kafka brokers refuse a frame whose blocks are linked', async () => {
    const frame = await lz4Codec.compress({ buffer: repetitive(300_000) });
    const flags = frame[4];
    expect(flags & 0xc0).toBe(0x40); // frame format version 01
    expect(flags & 0x20).toBe(0x20); // block independence
  });
});

describe('snappy in the xerial framing that Java clients write', () => {
  const frame = (chunks: Buffer[]) => {
    const header = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00, 0, 0, 0, 1, 0, 0, 0, 1]);
    const parts = chunks.flatMap((chunk) => {
      const block = snappy.compress(chunk);
      const size = Buffer.alloc(4);
      size.writeUInt32BE(block.length);
      return [size, block];
    });
    return Buffer.concat([header, ...parts]);
  };

  it('joins the chunks in order', async () => {
    const chunks = [repetitive(40_000), randomBytes(1_000), Buffer.from('tail')];
    expect((await snappyCodec.decompress(frame(chunks))).equals(Buffer.concat(chunks))).toBe(true);
  });

  it('rejects a truncated chunk rather than returning part of the batch', async () => {
    const framed = frame([repetitive(40_000)]);
    await expect(snappyCodec.decompress(framed.subarray(0, framed.length - 10))).rejects.toThrow(/truncated/);
  });
});

describe('registration with kafkajs', () => {
  it('happens on import of the client, so every Kafka the library creates decodes all four', () => {
    createKafka({ brokers: ['127.0.0.1:1'], clientId: 'compression-spec' });
    // kafkajs looks codecs up in this table when it decodes a fetched batch.
    const { lookupCodecByAttributes } = require('kafkajs/src/protocol/message/compression') as {
      lookupCodecByAttributes: (attributes: number) => unknown;
    };
    expect(lookupCodecByAttributes(CompressionTypes.Snappy)).toBe(snappyCodec);
    expect(lookupCodecByAttributes(CompressionTypes.LZ4)).toBe(lz4Codec);
    expect(lookupCodecByAttributes(CompressionTypes.ZSTD)).toBe(zstdCodec);
    expect(CompressionCodecs[CompressionTypes.GZIP]()).toBeDefined();
  });
});
