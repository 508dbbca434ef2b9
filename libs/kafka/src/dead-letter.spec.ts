import { createHash } from 'node:crypto';
import { ConsumedRecord } from './batch-consumer';
import { deadLetterMessage } from './dead-letter';

const record = (value: Buffer | null, headers: Record<string, string> = { 'x-correlation-id': 'c1' }): ConsumedRecord => ({
  offset: '42',
  key: '2:team',
  value,
  headers,
  timestamp: '0',
});
const rejection = { code: 'MALFORMED_JSON', reason: 'value is not JSON' };

describe('deadLetterMessage', () => {
  it('copies a record byte for byte with the reason and its origin in x-dlq-* headers', () => {
    const value = Buffer.from('{"not": json');
    const message = deadLetterMessage('im.channels.commands.v1', 3, record(value), rejection);
    expect(message.key).toBe('2:team');
    expect(message.value).toBe(value);
    expect(message.headers).toEqual({
      'x-correlation-id': 'c1',
      'x-dlq-reason': 'value is not JSON',
      'x-dlq-error-code': 'MALFORMED_JSON',
      'x-dlq-source-topic': 'im.channels.commands.v1',
      'x-dlq-source-partition': '3',
      'x-dlq-source-offset': '42',
    });
  });

  it('truncates a value that would not fit the DLQ topic (~1 MB) and records its size and sha-256', () => {
    // Just under 1 MiB: fits its own topic, but not with the x-dlq-* headers added.
    const value = Buffer.alloc(1_048_400, 'x');
    const message = deadLetterMessage('im.channels.commands.v1', 0, record(value), rejection);
    const headers = message.headers as Record<string, string>;
    expect((message.value as Buffer).length).toBe(64 * 1024);
    expect((message.value as Buffer).equals(value.subarray(0, 64 * 1024))).toBe(true);
    expect(headers['x-dlq-truncated']).toBe('true');
    expect(headers['x-dlq-original-size']).toBe('1048400');
    expect(headers['x-dlq-original-sha256']).toBe(createHash('sha256').update(value).digest('hex'));
    expect(headers['x-dlq-error-code']).toBe('MALFORMED_JSON');
    expect(headers['x-dlq-source-offset']).toBe('42');
    expect(headers['x-correlation-id']).toBe('c1');
  });

  it('leaves huge original headers off a truncated dead letter, keeping its own', () => {
    const message = deadLetterMessage('t', 0, record(Buffer.from('v'), { big: 'h'.repeat(950_000) }), rejection);
    const headers = message.headers as Record<string, string>;
    expect(headers.big).toBeUndefined();
    expect(headers['x-dlq-truncated']).toBe('true');
    expect(headers['x-dlq-original-size']).toBe('1');
    expect((message.value as Buffer).toString()).toBe('v');
  });

  it('truncates on demand (the broker refused the full copy) and caps the reason', () => {
    const message = deadLetterMessage('t', 0, record(Buffer.from('small')), { code: 'C', reason: 'r'.repeat(5000) }, { truncate: true });
    const headers = message.headers as Record<string, string>;
    expect(headers['x-dlq-truncated']).toBe('true');
    expect(headers['x-dlq-reason']).toHaveLength(2000);
  });

  it('records an empty record as size 0', () => {
    const message = deadLetterMessage('t', 0, record(null), rejection, { truncate: true });
    expect((message.headers as Record<string, string>)['x-dlq-original-size']).toBe('0');
    expect(message.value).toBeNull();
  });
});
