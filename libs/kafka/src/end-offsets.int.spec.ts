import { Partitioners } from 'kafkajs';
import { createKafka, parseBrokers } from './client';
import { endOffsetsReader } from './end-offsets';
import { ensureTopics, topicSpec } from './topics';

// libs/testing builds on this library, so this test reads the broker address the test command exports.
const brokers = process.env.KAFKA_BROKERS;
const uniqueId = (prefix: string) => `${prefix}.${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;

jest.setTimeout(60_000);

describe('end offsets of several topics in one request, on the real broker', () => {
  it("gives every partition's high watermark, as the admin reads it, and follows new records", async () => {
    if (!brokers) throw new Error('KAFKA_BROKERS is not set: run `npm test`, or source .cache/infra/env');
    const kafka = createKafka({ brokers: parseBrokers(brokers), clientId: uniqueId('end-offsets-test') });
    const admin = kafka.admin();
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await Promise.all([admin.connect(), producer.connect()]);
    // The admin is the fallback only: the reader asks with its own single request.
    const fallback = jest.spyOn(admin, 'fetchTopicOffsets');
    const reader = endOffsetsReader(kafka, admin);
    const topics = [uniqueId('ends.a.v1'), uniqueId('ends.b.v1')];
    try {
      await ensureTopics(
        admin,
        topics.map((t) => topicSpec(t, 3, 1)),
      );
      await producer.send({ topic: topics[0], messages: [0, 0, 0, 1, 2, 2].map((partition, i) => ({ partition, value: String(i) })) });
      await producer.send({ topic: topics[1], messages: [{ partition: 1, value: 'x' }] });

      const ends = await reader.read(topics);
      expect(fallback).not.toHaveBeenCalled();
      const adminEnds = new Map<string, bigint>();
      for (const topic of topics) for (const p of await admin.fetchTopicOffsets(topic)) adminEnds.set(`${topic}:${p.partition}`, BigInt(p.high));
      expect(ends).toEqual(adminEnds);
      expect([0, 1, 2].map((p) => ends.get(`${topics[0]}:${p}`))).toEqual([3n, 1n, 2n]);
      expect([0, 1, 2].map((p) => ends.get(`${topics[1]}:${p}`))).toEqual([0n, 1n, 0n]);

      await producer.send({ topic: topics[1], messages: [{ partition: 2, value: 'y' }] });
      expect((await reader.read(topics)).get(`${topics[1]}:2`)).toBe(1n);
      await admin.deleteTopics({ topics });
    } finally {
      await reader.close();
      await Promise.all([producer.disconnect(), admin.disconnect()]);
    }
  });
});
