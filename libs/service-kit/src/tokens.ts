/** DI tokens for the shared infrastructure every service module receives from PlatformModule. */
export const CONFIG = Symbol('CONFIG');
export const DATA_SOURCE = Symbol('DATA_SOURCE');
export const KAFKA = Symbol('KAFKA');
export const PRODUCER = Symbol('PRODUCER');
export const KAFKA_ADMIN = Symbol('KAFKA_ADMIN');
/** Reads several topics' end offsets in one request (the read barriers' `EndOffsetsReader`). */
export const END_OFFSETS = Symbol('END_OFFSETS');
export const OUTBOX_RELAY = Symbol('OUTBOX_RELAY');
export const SERVICE_INFO = Symbol('SERVICE_INFO');

export interface ServiceInfo {
  name: string;
  schema: string;
}
