import { dlqTopicOf, HEADERS } from '@im/contracts';
import { AdminContext } from './context';
import { ProgressBar } from './progress';
import { AdminError } from './rebuild';
import { readTopic, StoredRecord } from './topic-reader';

/** Added to a replayed record so it can be traced back to the dead letter it came from. */
export const REPLAYED_FROM_HEADER = 'x-replayed-from';

export interface DeadLetter {
  dlqTopic: string;
  partition: number;
  offset: string;
  timestamp: string;
  key: string | null;
  code: string;
  reason: string;
  sourceTopic: string;
  sourcePartition: string;
  sourceOffset: string;
  /** The value was cut to fit the DLQ topic: it is not the original, and cannot be replayed. */
  truncated: boolean;
  originalSize?: string;
  originalSha256?: string;
  record: StoredRecord;
}

/** Accepts either the source topic or its `.dlq` topic. */
export const dlqTopicFor = (topic: string) => (topic.endsWith('.dlq') ? topic : dlqTopicOf(topic));

const text = (headers: Record<string, Buffer>, name: string) => headers[name]?.toString() ?? '';

function toDeadLetter(dlqTopic: string, r: StoredRecord): DeadLetter {
  return {
    dlqTopic,
    partition: r.partition,
    offset: r.offset,
    timestamp: new Date(Number(r.timestamp)).toISOString(),
    key: r.key?.toString() ?? null,
    code: text(r.headers, HEADERS.dlqErrorCode),
    reason: text(r.headers, HEADERS.dlqReason),
    sourceTopic: text(r.headers, HEADERS.dlqSourceTopic) || dlqTopic.replace(/\.dlq$/, ''),
    sourcePartition: text(r.headers, HEADERS.dlqSourcePartition),
    sourceOffset: text(r.headers, HEADERS.dlqSourceOffset),
    truncated: text(r.headers, HEADERS.dlqTruncated) === 'true',
    originalSize: text(r.headers, HEADERS.dlqOriginalSize) || undefined,
    originalSha256: text(r.headers, HEADERS.dlqOriginalSha256) || undefined,
    record: r,
  };
}

export async function deadLetters(ctx: AdminContext, topic: string, opts: { code?: string; key?: string; progress?: boolean } = {}): Promise<DeadLetter[]> {
  const dlqTopic = dlqTopicFor(topic);
  const bar = opts.progress ? new ProgressBar(`reading ${dlqTopic}`) : undefined;
  const records = await readTopic(ctx, dlqTopic, bar && ((d, t) => bar.update(d, t)));
  bar?.finish();
  return records.map((r) => toDeadLetter(dlqTopic, r)).filter((d) => (!opts.code || d.code === opts.code) && (!opts.key || d.key === opts.key));
}

/** One dead letter in full, `<partition>:<offset>` in the DLQ topic: its headers and its value. */
export async function showDeadLetter(ctx: AdminContext, topic: string, position: string) {
  const match = /^(\d+):(\d+)$/.exec(position);
  if (!match) throw new AdminError(`expected <partition>:<offset> of the dead letter, got ${JSON.stringify(position)}`);
  const [, partition, offset] = match;
  const letter = (await deadLetters(ctx, topic)).find((d) => d.partition === Number(partition) && d.offset === offset);
  if (!letter) throw new AdminError(`no dead letter at ${dlqTopicFor(topic)} ${partition}:${offset}`);
  const { record, ...fields } = letter;
  const headers = Object.fromEntries(Object.entries(record.headers).map(([name, value]) => [name, value.toString()]));
  const value = record.value ?? null;
  return { ...fields, size: value?.length ?? 0, headers, value: value?.toString('utf8') ?? null };
}

/**
 * Re-produces dead letters to their source topic, byte for byte (key, value, headers) minus the
 * x-dlq-* headers, so consumers see the original record again. Commands carry their own id and are
 * applied once, so replaying one that had meanwhile been applied is harmless.
 */
export async function replayDeadLetters(ctx: AdminContext, letters: DeadLetter[], opts: { progress?: boolean } = {}): Promise<number> {
  if (letters.length === 0) return 0;
  const producer = ctx.kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const bar = opts.progress ? new ProgressBar('replaying') : undefined;
  try {
    let done = 0;
    // In DLQ order, in small batches: order per key is kept as it was dead-lettered.
    for (let i = 0; i < letters.length; i += 100) {
      const slice = letters.slice(i, i + 100);
      await producer.sendBatch({
        acks: -1,
        topicMessages: groupByTopic(slice).map(([topic, list]) => ({
          topic,
          messages: list.map((d) => ({ key: d.record.key, value: d.record.value, headers: replayHeaders(d) })),
        })),
      });
      done += slice.length;
      bar?.update(done, letters.length);
    }
    return done;
  } finally {
    bar?.finish();
    await producer.disconnect();
  }
}

function replayHeaders(d: DeadLetter): Record<string, Buffer | string> {
  const headers: Record<string, Buffer | string> = {};
  for (const [name, value] of Object.entries(d.record.headers)) if (!name.startsWith('x-dlq-')) headers[name] = value;
  headers[REPLAYED_FROM_HEADER] = `${d.dlqTopic}:${d.partition}:${d.offset}`;
  return headers;
}

function groupByTopic(letters: DeadLetter[]): [string, DeadLetter[]][] {
  const byTopic = new Map<string, DeadLetter[]>();
  for (const d of letters) byTopic.set(d.sourceTopic, [...(byTopic.get(d.sourceTopic) ?? []), d]);
  return [...byTopic];
}
