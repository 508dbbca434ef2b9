import { authTokensOf, baseConfigSchema, ConfigError, isLoopbackHost, loadConfig, servicePorts, tracingModeOf } from './config';

const schema = baseConfigSchema.extend(servicePorts(50051, 9091).shape);
const minimal = { DATABASE_URL: 'postgres://db/im', KAFKA_BROKERS: 'k1:9092,k2:9092' };

const problems = (env: Record<string, string>) => {
  try {
    loadConfig(schema, { ...minimal, ...env });
    return [];
  } catch (e) {
    return (e as ConfigError).problems;
  }
};

describe('loadConfig', () => {
  it('applies the defaults of the runtime options: auth, rate limit and tracing off, 4 MiB messages', () => {
    const config = loadConfig(schema, minimal);
    expect(config).toMatchObject({ GRPC_MAX_MESSAGE_BYTES: 4 * 1024 * 1024, GRPC_RATE_LIMIT_PER_SECOND: 0, GRPC_PORT: 50051 });
    expect(authTokensOf(config)).toEqual([]);
    expect(tracingModeOf(config)).toBe('off');
  });

  it('listens on loopback unless told otherwise', () => {
    expect(loadConfig(schema, minimal)).toMatchObject({ GRPC_HOST: '127.0.0.1', HTTP_HOST: '127.0.0.1', GRPC_ALLOW_UNAUTHENTICATED: false });
    expect(['127.0.0.1', '127.1.2.3', '::1', 'localhost'].every(isLoopbackHost)).toBe(true);
    expect(['0.0.0.0', '::', '10.0.0.7', 'im-fanout'].some(isLoopbackHost)).toBe(false);
  });

  it('refuses gRPC on a non-loopback address without tokens, unless explicitly allowed', () => {
    expect(problems({ GRPC_HOST: '0.0.0.0' })).toEqual([
      expect.stringMatching(/^GRPC_HOST: 0\.0\.0\.0 takes calls from other machines while GRPC_AUTH_TOKENS is unset/),
    ]);
    expect(problems({ GRPC_HOST: '0.0.0.0', GRPC_AUTH_TOKENS: 'gateway:aaaaaaaaaaaaaaaa' })).toEqual([]);
    expect(problems({ GRPC_HOST: '0.0.0.0', GRPC_ALLOW_UNAUTHENTICATED: 'true' })).toEqual([]);
    expect(problems({ GRPC_HOST: '127.0.0.1' })).toEqual([]);
    // HTTP serves health and metrics only: any address is fine.
    expect(problems({ HTTP_HOST: '0.0.0.0' })).toEqual([]);
  });

  it('takes the gRPC TLS files in pairs that make sense, and a client CA as authentication beyond loopback', () => {
    const present = __filename; // any file that exists
    expect(problems({ GRPC_TLS_CERT_FILE: present })).toEqual(['GRPC_TLS_CERT_FILE and GRPC_TLS_KEY_FILE: set both (TLS) or neither (plaintext)']);
    expect(problems({ GRPC_TLS_CLIENT_CA_FILE: present })).toEqual([
      expect.stringMatching(/^GRPC_TLS_CLIENT_CA_FILE: mutual TLS needs the server certificate too/),
    ]);
    expect(problems({ GRPC_TLS_CERT_FILE: present, GRPC_TLS_KEY_FILE: '/nonexistent/key.pem' })).toEqual([
      'GRPC_TLS_KEY_FILE: no such file: /nonexistent/key.pem',
    ]);
    expect(problems({ GRPC_TLS_CERT_FILE: present, GRPC_TLS_KEY_FILE: present })).toEqual([]);
    expect(problems({ GRPC_HOST: '0.0.0.0', GRPC_TLS_CERT_FILE: present, GRPC_TLS_KEY_FILE: present })).toEqual([expect.stringMatching(/^GRPC_HOST: /)]);
    expect(problems({ GRPC_HOST: '0.0.0.0', GRPC_TLS_CERT_FILE: present, GRPC_TLS_KEY_FILE: present, GRPC_TLS_CLIENT_CA_FILE: present })).toEqual([]);
  });

  it('reports schema problems and cross-variable problems together', () => {
    const error = (() => {
      try {
        loadConfig(schema, { ...minimal, GRPC_PORT: '0', KAFKA_SASL_USERNAME: 'im', TRACING: 'otlp' });
      } catch (e) {
        return e as ConfigError;
      }
    })();
    expect(error).toBeInstanceOf(ConfigError);
    expect(error!.problems).toEqual([
      expect.stringMatching(/^GRPC_PORT: /),
      expect.stringMatching(/^KAFKA_SASL_MECHANISM: required when KAFKA_SASL_USERNAME/),
      expect.stringMatching(/^OTEL_EXPORTER_OTLP_ENDPOINT: required when TRACING=otlp/),
    ]);
  });

  it('splits and trims the bearer tokens', () => {
    expect(authTokensOf(loadConfig(schema, { ...minimal, GRPC_AUTH_TOKENS: ' aaaaaaaaaaaaaaaa , bbbbbbbbbbbbbbbb,' })).map((t) => t.token)).toEqual([
      'aaaaaaaaaaaaaaaa',
      'bbbbbbbbbbbbbbbb',
    ]);
  });

  it('reads the scopes of each token; a bare token keeps every scope', () => {
    const tokens = authTokensOf(
      loadConfig(schema, { ...minimal, GRPC_AUTH_TOKENS: 'gateway:aaaaaaaaaaaaaaaa, admin+service:bbbbbbbbbbbbbbbb, cccccccccccccccc' }),
    );
    expect(tokens.map((t) => [t.token, [...t.scopes].sort()])).toEqual([
      ['aaaaaaaaaaaaaaaa', ['gateway']],
      ['bbbbbbbbbbbbbbbb', ['admin', 'service']],
      ['cccccccccccccccc', ['admin', 'gateway', 'service']],
    ]);
  });

  it('refuses an unknown scope and a short token behind a scope', () => {
    expect(() => loadConfig(schema, { ...minimal, GRPC_AUTH_TOKENS: 'root:aaaaaaaaaaaaaaaa' })).toThrow(
      /GRPC_AUTH_TOKENS: unknown scope "root" \(known: gateway, admin, service\)/,
    );
    expect(() => loadConfig(schema, { ...minimal, GRPC_AUTH_TOKENS: 'gateway:short' })).toThrow(/GRPC_AUTH_TOKENS: every token must be at least 16 characters/);
  });

  it('refuses a token list without any token, rather than silently turning authentication off', () => {
    expect(() => loadConfig(schema, { ...minimal, GRPC_AUTH_TOKENS: ' , ' })).toThrow(/GRPC_AUTH_TOKENS: set at least one token/);
    // Empty (e.g. an optional Secret key that is absent) means off, as unset does.
    expect(authTokensOf(loadConfig(schema, { ...minimal, GRPC_AUTH_TOKENS: '' }))).toEqual([]);
  });

  it('turns tracing on with an OTLP endpoint, or explicitly', () => {
    expect(tracingModeOf(loadConfig(schema, { ...minimal, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }))).toBe('otlp');
    expect(tracingModeOf(loadConfig(schema, { ...minimal, TRACING: 'console' }))).toBe('console');
    expect(tracingModeOf(loadConfig(schema, { ...minimal, TRACING: 'off', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }))).toBe('off');
  });
});
