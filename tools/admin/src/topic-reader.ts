import { randomUUID } from 'node:crypto';
import { AdminContext } from './context';

export interface StoredRecord {
  topic: string;
  partition: number;
  offset: string;
  timestamp: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, Buffer>;
}

/**
 * Reads every record on a topic as of now (up to each partition's current end) without joining any
 * real group: a throwaway group that commits nothing and is deleted afterwards.
 */
export async function readTopic(ctx: AdminContext, topic: string, onProgress?: (done: number, total: number) => void): Promise<StoredRecord[]> {
  const admin = await ctx.kafkaAdmin();
  const offsets = await admin.fetchTopicOffsets(topic);
  const remaining = new Map(offsets.filter((o) => BigInt(o.high) > BigInt(o.low)).map((o) => [o.partition, BigInt(o.high)]));
  const total = offsets.reduce((n, o) => n + Number(BigInt(o.high) - BigInt(o.low)), 0);
  const records: StoredRecord[] = [];
  if (remaining.size === 0) return records;

  const groupId = `im-admin-read-${randomUUID()}`;
  const consumer = ctx.kafka.consumer({ groupId, sessionTimeout: 10_000, heartbeatInterval: 1_000, allowAutoTopicCreation: false });
  try {
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      consumer
        .run({
          autoCommit: false,
          eachMessage: async ({ partition, message }) => {
            const end = remaining.get(partition);
            if (end === undefined || BigInt(message.offset) >= end) return;
            const headers: Record<string, Buffer> = {};
            for (const [name, value] of Object.entries(message.headers ?? {})) {
              const v = Array.isArray(value) ? value[0] : value;
              if (v !== undefined) headers[name] = Buffer.isBuffer(v) ? v : Buffer.from(String(v));
            }
            records.push({ topic, partition, offset: message.offset, timestamp: message.timestamp, key: message.key, value: message.value, headers });
            onProgress?.(records.length, total);
            if (BigInt(message.offset) + 1n >= end) remaining.delete(partition);
            if (remaining.size === 0) resolve();
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect().catch(() => undefined);
    await admin.deleteGroups([groupId]).catch(() => undefined);
  }
  return records.sort((a, b) => a.partition - b.partition || Number(BigInt(a.offset) - BigInt(b.offset)));
}
