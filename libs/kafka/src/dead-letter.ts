import { HEADERS, Rejection, dlqTopicOf } from '@im/contracts';
import { Producer } from 'kafkajs';
import { ConsumedRecord } from './batch-consumer';

/**
 * Sends a refused record, byte for byte, to `<topic>.dlq` with the reason in headers, so operators
 * can inspect and replay it and the source partition moves on.
 */
export async function sendToDeadLetter(producer: Producer, topic: string, partition: number, record: ConsumedRecord, rejection: Rejection): Promise<void> {
  await producer.send({
    topic: dlqTopicOf(topic),
    acks: -1,
    messages: [
      {
        key: record.key,
        value: record.value,
        headers: {
          ...record.headers,
          [HEADERS.dlqReason]: rejection.reason.slice(0, 2000),
          [HEADERS.dlqErrorCode]: rejection.code,
          [HEADERS.dlqSourceTopic]: topic,
          [HEADERS.dlqSourcePartition]: String(partition),
          [HEADERS.dlqSourceOffset]: record.offset,
        },
      },
    ],
  });
}
