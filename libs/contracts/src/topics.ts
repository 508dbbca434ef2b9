/** Kafka topic names: part of the public contract. Records are keyed by `<channel_type>:<channel_id>`. */
export const TOPICS = {
  channelsEvents: 'im.channels.events.v1',
  channelsCommands: 'im.channels.commands.v1',
  subscriptionsEvents: 'im.subscriptions.events.v1',
  subscriptionsCommands: 'im.subscriptions.commands.v1',
  fanoutEvents: 'im.fanout.events.v1',
  fanoutCommands: 'im.fanout.commands.v1',
  conversationsCommands: 'im.conversations.commands.v1',
} as const;

export type TopicName = (typeof TOPICS)[keyof typeof TOPICS];

/** Where records that fail validation go, with the reason in headers, so no partition is ever stuck. */
export const dlqTopicOf = (topic: string) => `${topic}.dlq`;

/** Header names carried on every record we produce. */
export const HEADERS = {
  eventId: 'x-event-id',
  eventType: 'x-event-type',
  /** CloudEvents 1.0, Kafka protocol binding, binary content mode: what event tooling reads. */
  ceSpecVersion: 'ce_specversion',
  ceId: 'ce_id',
  ceSource: 'ce_source',
  ceType: 'ce_type',
  ceTime: 'ce_time',
  ceSubject: 'ce_subject',
  contentType: 'content-type',
  correlationId: 'x-correlation-id',
  dlqReason: 'x-dlq-reason',
  dlqErrorCode: 'x-dlq-error-code',
  dlqSourceTopic: 'x-dlq-source-topic',
  dlqSourcePartition: 'x-dlq-source-partition',
  dlqSourceOffset: 'x-dlq-source-offset',
  /** Set on a dead letter whose value was cut to fit its DLQ topic: the original's size and digest follow. */
  dlqTruncated: 'x-dlq-truncated',
  dlqOriginalSize: 'x-dlq-original-size',
  dlqOriginalSha256: 'x-dlq-original-sha256',
} as const;

/**
 * The CloudEvents attributes of an event record (binary content mode: the record value, our JSON
 * envelope, is the event's data). `source` names the producing context by its topic
 * (`/im/channels` for im.channels.events.v1), `type` is the envelope's type under the `im.`
 * prefix, `subject` the record key (the channel).
 */
export function cloudEventHeaders(e: { id: string; type: string; topic: string; key: string; occurredAt: string }): Record<string, string> {
  const context = e.topic.split('.')[1] ?? e.topic;
  return {
    [HEADERS.ceSpecVersion]: '1.0',
    [HEADERS.ceId]: e.id,
    [HEADERS.ceSource]: `/im/${context}`,
    [HEADERS.ceType]: `im.${e.type}`,
    [HEADERS.ceTime]: e.occurredAt,
    [HEADERS.ceSubject]: e.key,
    [HEADERS.contentType]: 'application/json',
  };
}
