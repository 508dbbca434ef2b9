import { classifyFailure, RecordFailures, rejectionFor, sqlStateOf } from './failure';

const pgError = (code: string, message = 'boom') => Object.assign(new Error(message), { code });
/** TypeORM's QueryFailedError keeps pg's error as driverError. */
const queryFailed = (code: string) => Object.assign(new Error('query failed'), { name: 'QueryFailedError', driverError: { code } });

describe('classifyFailure', () => {
  it.each([
    ['serialization failure', pgError('40001')],
    ['deadlock', pgError('40P01')],
    ['connection failure', pgError('08006')],
    ['admin shutdown', pgError('57P01')],
    ['statement timeout', pgError('57014')],
    ['too many connections', pgError('53300')],
    ['lock not available', pgError('55P03')],
    ['undefined table (the code or schema, not the record)', pgError('42P01')],
    ['connection refused', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' })],
    ['connection reset', Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })],
    ['pg connection terminated', new Error('Connection terminated unexpectedly')],
    ['a broker error', Object.assign(new Error('There is no leader for this topic-partition'), { name: 'KafkaJSProtocolError', retriable: true })],
    ['a kafkajs connection error', Object.assign(new Error('Connection error'), { name: 'KafkaJSConnectionError' })],
    ['a read barrier timeout', new Error('projection did not catch up within 5000 ms: timeout')],
  ])('%s is transient', (_what, error) => {
    expect(classifyFailure(error)).toBe('transient');
  });

  it.each([
    ['a NUL byte in text (22021)', pgError('22021')],
    ['\\u0000 in jsonb (22P05)', pgError('22P05')],
    ['a value too long (22001)', pgError('22001')],
    ['numeric out of range, through TypeORM (22003)', queryFailed('22003')],
    ['a check violation (23514)', pgError('23514')],
    ['a not-null violation (23502)', pgError('23502')],
    ['an unexpected unique violation (23505)', pgError('23505')],
    ['an index row too large (54000)', pgError('54000')],
  ])('%s is deterministic', (_what, error) => {
    expect(classifyFailure(error)).toBe('deterministic');
  });

  it('treats an integrity violation the code expects (an optimistic-concurrency conflict) as transient', () => {
    const conflict = Object.assign(pgError('23505'), { constraint: 'events_stream_version_uq' });
    const isExpectedConflict = (e: unknown) => (e as { constraint?: string }).constraint === 'events_stream_version_uq';
    expect(classifyFailure(conflict, { isExpectedConflict })).toBe('transient');
    expect(classifyFailure(pgError('23505'), { isExpectedConflict })).toBe('deterministic');
  });

  it('leaves anything else unknown', () => {
    expect(classifyFailure(new TypeError("Cannot read properties of undefined (reading 'x')"))).toBe('unknown');
    expect(classifyFailure('a string')).toBe('unknown');
    expect(classifyFailure(undefined)).toBe('unknown');
    expect(classifyFailure(pgError('P0001'))).toBe('unknown');
  });

  it('reads SQLSTATEs only where they are SQLSTATEs', () => {
    expect(sqlStateOf(pgError('22021'))).toBe('22021');
    expect(sqlStateOf(queryFailed('40001'))).toBe('40001');
    expect(sqlStateOf(Object.assign(new Error('x'), { code: 'ECONNREFUSED' }))).toBeUndefined();
  });
});

describe('rejectionFor', () => {
  it('rejects a deterministic failure at once, naming its SQLSTATE', () => {
    expect(rejectionFor(pgError('22021', 'invalid byte sequence for encoding "UTF8": 0x00'), 'deterministic', 1, 5)).toEqual({
      code: 'DATA_REJECTED/22021',
      reason: 'Error: invalid byte sequence for encoding "UTF8": 0x00',
    });
  });

  it('rejects an unknown failure only after it failed maxAttempts times alone, and never a transient one', () => {
    const error = new TypeError('bad');
    expect(rejectionFor(error, 'unknown', 4, 5)).toBeUndefined();
    expect(rejectionFor(error, 'unknown', 5, 5)).toMatchObject({ code: 'REPEATED_FAILURE' });
    expect(rejectionFor(pgError('40001'), 'transient', 1000, 5)).toBeUndefined();
  });
});

describe('RecordFailures', () => {
  it('counts failures per record and forgets a record once it is applied or rejected', () => {
    const failures = new RecordFailures({ maxAttempts: 3 });
    const error = new TypeError('bad');
    expect(failures.verdict('t', 0, '7', error)).toBeUndefined();
    expect(failures.verdict('t', 0, '7', error)).toBeUndefined();
    expect(failures.verdict('t', 1, '7', error)).toBeUndefined(); // another partition counts apart
    expect(failures.verdict('t', 0, '7', error)).toMatchObject({ code: 'REPEATED_FAILURE' });
    expect(failures.verdict('t', 0, '7', error)).toBeUndefined(); // counted afresh after rejection
    failures.forget('t', 1, '7');
    expect(failures.verdict('t', 1, '7', error)).toBeUndefined();
    expect(failures.verdict('t', 2, '1', pgError('22P05'))).toMatchObject({ code: 'DATA_REJECTED/22P05' });
    expect(failures.verdict('t', 2, '2', pgError('40P01'))).toBeUndefined();
  });
});
