import { Producer } from 'kafkajs';
import { startProducerSpans } from './tracing';

export interface RecordToSend {
  topic: string;
  key: string;
  value: string;
  headers?: Record<string, string>;
}

/** Sends records grouped per topic in one request; resolves after the broker acknowledged all (acks=all). */
export async function sendRecords(producer: Producer, records: RecordToSend[]): Promise<void> {
  if (records.length === 0) return;
  const traced = startProducerSpans(records);
  try {
    await sendGrouped(producer, traced.records);
    traced.end();
  } catch (error) {
    traced.end(error);
    throw error;
  }
}

async function sendGrouped(producer: Producer, records: RecordToSend[]): Promise<void> {
  const byTopic = new Map<string, RecordToSend[]>();
  for (const r of records) {
    const list = byTopic.get(r.topic) ?? [];
    list.push(r);
    byTopic.set(r.topic, list);
  }
  await producer.sendBatch({
    acks: -1,
    topicMessages: [...byTopic].map(([topic, list]) => ({
      topic,
      messages: list.map((r) => ({ key: r.key, value: r.value, headers: r.headers })),
    })),
  });
}
