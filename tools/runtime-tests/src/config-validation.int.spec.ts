import { ServiceProcess } from '@im/testing';

jest.setTimeout(60_000);

describe('configuration validated at start', () => {
  it('exits non-zero and names every bad or missing variable at once', async () => {
    const service = await ServiceProcess.start(
      'channels',
      {
        DATABASE_URL: 'mysql://somewhere/im',
        KAFKA_BROKERS: '',
        GRPC_PORT: 'fifty',
        LOG_LEVEL: 'loud',
        KAFKA_SASL_MECHANISM: 'scram-sha-256',
        GRPC_AUTH_TOKENS: 'short',
        GRPC_RATE_LIMIT_PER_SECOND: '-1',
        KAFKA_SSL_CA_FILE: '/nonexistent/ca.pem',
      },
      { waitReady: false },
    );
    expect(await service.exited).not.toBe(0);
    const problems = [
      /DATABASE_URL: must be a postgres:\/\/ URL/,
      /KAFKA_BROKERS: must be a comma-separated list/,
      /GRPC_PORT: /,
      /LOG_LEVEL: /,
      /KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD are required/,
      /GRPC_AUTH_TOKENS: every token must be at least 16 characters/,
      /GRPC_RATE_LIMIT_PER_SECOND: /,
      /KAFKA_SSL_CA_FILE: no such file/,
    ];
    for (const problem of problems) expect(service.logs).toMatch(problem);
    expect(service.logs).toMatch(/^invalid configuration:/m);
  });
});
