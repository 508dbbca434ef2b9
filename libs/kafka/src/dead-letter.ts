import { HEADERS, Rejection, dlqTopicOf } from '@im/contracts';
import { createHash } from 'node:crypto';
import { Message, Producer } from 'kafkajs';
import { ConsumedRecord } from './batch-consumer';

export interface DeadLetterLimits {
  /**
   * Largest key + value + headers sent as is. Below the default `max.message.bytes` (1 MiB, which
   * also counts the batch framing), so a near-limit record plus the x-dlq-* headers never bounces.
   */
  budgetBytes: number;
  /** How much of an oversized value is kept, for an operator to recognise it. */
  truncatedValueBytes: number;
  /** Original headers larger than this in total are left off a truncated dead letter. */
  truncatedHeaderBytes: number;
}

export const DEAD_LETTER_LIMITS: DeadLetterLimits = { budgetBytes: 900 * 1024, truncatedValueBytes: 64 * 1024, truncatedHeaderBytes: 16 * 1024 };

const headerBytes = (headers: Record<string, string>) => Object.entries(headers).reduce((n, [k, v]) => n + Buffer.byteLength(k) + Buffer.byteLength(v), 0);

/**
 * The dead letter of a refused record (pure): the record byte for byte, with the reason and its
 * origin in x-dlq-* headers. When that would not fit the DLQ topic (or `truncate` says so) the value
 * is cut, and the original size and sha-256 digest are recorded instead, so the record is still
 * accounted for and the partition never waits for a send that cannot succeed.
 */
export function deadLetterMessage(
  topic: string,
  partition: number,
  record: ConsumedRecord,
  rejection: Rejection,
  opts: { truncate?: boolean; limits?: DeadLetterLimits } = {},
): Message {
  const limits = opts.limits ?? DEAD_LETTER_LIMITS;
  const dlq: Record<string, string> = {
    [HEADERS.dlqReason]: rejection.reason.slice(0, 2000),
    [HEADERS.dlqErrorCode]: rejection.code,
    [HEADERS.dlqSourceTopic]: topic,
    [HEADERS.dlqSourcePartition]: String(partition),
    [HEADERS.dlqSourceOffset]: record.offset,
  };
  const value = record.value;
  const size = Buffer.byteLength(record.key ?? '') + (value?.length ?? 0) + headerBytes(record.headers) + headerBytes(dlq);
  if (!opts.truncate && size <= limits.budgetBytes) {
    return { key: record.key, value, headers: { ...record.headers, ...dlq } };
  }
  const original = headerBytes(record.headers) <= limits.truncatedHeaderBytes ? record.headers : {};
  return {
    key: record.key && Buffer.byteLength(record.key) <= limits.truncatedHeaderBytes ? record.key : null,
    value: value ? value.subarray(0, limits.truncatedValueBytes) : value,
    headers: {
      ...original,
      ...dlq,
      [HEADERS.dlqTruncated]: 'true',
      [HEADERS.dlqOriginalSize]: String(value?.length ?? 0),
      [HEADERS.dlqOriginalSha256]: createHash('sha256')
        .update(value ?? Buffer.alloc(0))
        .digest('hex'),
    },
  };
}

/** A broker refusal for size, wherever kafkajs wrapped it. */
function isTooLarge(error: unknown): boolean {
  for (let e = error as { type?: unknown; originalError?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 5; depth++) {
    if (e.type === 'MESSAGE_TOO_LARGE' || e.type === 'RECORD_LIST_TOO_LARGE') return true;
    e = (e.originalError ?? e.cause) as typeof e;
  }
  return false;
}

/**
 * Sends a refused record to `<topic>.dlq` with the reason in headers, so operators can inspect and
 * replay it and the source partition moves on. A record the DLQ topic refuses for its size (a topic
 * with a smaller max.message.bytes than assumed) is sent again truncated.
 */
export async function sendToDeadLetter(producer: Producer, topic: string, partition: number, record: ConsumedRecord, rejection: Rejection): Promise<void> {
  const send = (message: Message) => producer.send({ topic: dlqTopicOf(topic), acks: -1, messages: [message] });
  const message = deadLetterMessage(topic, partition, record, rejection);
  try {
    await send(message);
  } catch (error) {
    if (!isTooLarge(error) || (message.headers ?? {})[HEADERS.dlqTruncated]) throw error;
    await send(deadLetterMessage(topic, partition, record, rejection, { truncate: true }));
  }
}
