import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import { CompressionCodecs, CompressionTypes } from 'kafkajs';
import { compressFrame, decompressFrame } from 'lz4-napi';
import * as snappy from 'snappyjs';

/** The shape kafkajs asks of a codec (see its built-in gzip codec). */
export interface KafkaCodec {
  compress(encoder: { buffer: Buffer }): Promise<Buffer>;
  decompress(buffer: Buffer): Promise<Buffer>;
}

const asBuffer = (bytes: Uint8Array): Buffer => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

// Java clients write snappy in xerial's stream framing: a 16-byte header (magic, version,
// compatible version), then chunks of a big-endian length and a raw snappy block.
const XERIAL_MAGIC = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00]);
const XERIAL_HEADER_BYTES = 16;

function unframeXerial(buffer: Buffer): Buffer {
  const chunks: Buffer[] = [];
  let offset = XERIAL_HEADER_BYTES;
  while (offset < buffer.length) {
    if (offset + 4 > buffer.length) throw new Error('truncated xerial snappy chunk length');
    const size = buffer.readUInt32BE(offset);
    offset += 4;
    if (offset + size > buffer.length) throw new Error('truncated xerial snappy chunk');
    chunks.push(snappy.uncompress(buffer.subarray(offset, offset + size)));
    offset += size;
  }
  return Buffer.concat(chunks);
}

export const snappyCodec: KafkaCodec = {
  // Raw snappy, as librdkafka and kafkajs write it; Java's reader accepts it too.
  compress: async ({ buffer }) => asBuffer(snappy.compress(buffer)),
  decompress: async (buffer) =>
    buffer.length >= XERIAL_HEADER_BYTES && buffer.subarray(0, XERIAL_MAGIC.length).equals(XERIAL_MAGIC)
      ? unframeXerial(buffer)
      : asBuffer(snappy.uncompress(buffer)),
};

// Kafka's LZ4 is the LZ4 frame format. Brokers refuse frames with linked blocks, which lz4js
// writes; lz4-napi (lz4_flex, prebuilt) writes independent blocks and runs off the event loop.
export const lz4Codec: KafkaCodec = {
  compress: ({ buffer }) => compressFrame(buffer),
  decompress: (buffer) => decompressFrame(buffer),
};

// zstd is built into node:zlib from Node 22.15 / 23.8; the project's @types/node predates it.
type ZlibCall = (buffer: Buffer, callback: (error: Error | null, result: Buffer) => void) => void;
const zstdZlib = zlib as typeof zlib & { zstdCompress?: ZlibCall; zstdDecompress?: ZlibCall };

function zstdCall(call: ZlibCall | undefined): (buffer: Buffer) => Promise<Buffer> {
  if (!call) return () => Promise.reject(new Error(`zstd needs node:zlib with zstd support (Node >= 22.15), this is ${process.version}`));
  // Async so a large batch is (de)compressed on libuv's pool, not on the event loop.
  return promisify(call.bind(zlib));
}
const zstdCompress = zstdCall(zstdZlib.zstdCompress);
const zstdDecompress = zstdCall(zstdZlib.zstdDecompress);

export const zstdCodec: KafkaCodec = {
  compress: ({ buffer }) => zstdCompress(buffer),
  decompress: (buffer) => zstdDecompress(buffer),
};

/**
 * kafkajs ships only GZIP and throws KafkaJSNotImplemented on any other batch during the fetch,
 * before a consumer can dead-letter it. Registering is process-wide and idempotent: it only sets
 * the same factories again.
 */
export function registerCompressionCodecs(): void {
  CompressionCodecs[CompressionTypes.Snappy] = () => snappyCodec;
  CompressionCodecs[CompressionTypes.LZ4] = () => lz4Codec;
  CompressionCodecs[CompressionTypes.ZSTD] = () => zstdCodec;
}
