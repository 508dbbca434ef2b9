// Static checks of docker-compose.yml and the Dockerfile: no Docker engine is needed.
//
// compose-spec.schema.json is the Compose Specification's JSON schema (schema/compose-spec.json of
// the compose-spec/compose-spec project, Apache-2.0), vendored unchanged from the copy the npm
// package dclint@3.1.0 ships as schemas/compose.schema.json. To update it:
//   npm pack dclint@<version> && tar xzf dclint-<version>.tgz package/schemas/compose.schema.json
import Ajv from 'ajv';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';

/* eslint-disable @typescript-eslint/no-explicit-any */
type Doc = Record<string, any>;

const ROOT = join(__dirname, '..', '..');
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');
// merge: compose resolves YAML merge keys (<<), which the YAML 1.2 core schema leaves alone.
const compose: Doc = parse(read('docker-compose.yml'), { merge: true });
const schema: Doc = JSON.parse(readFileSync(join(__dirname, 'compose-spec.schema.json'), 'utf8'));

const APPS: Record<string, { grpc: number; http: number }> = {
  channels: { grpc: 50051, http: 9091 },
  subscriptions: { grpc: 50052, http: 9092 },
  fanout: { grpc: 50053, http: 9093 },
  conversations: { grpc: 50054, http: 9094 },
};

function validator() {
  // The schema declares draft-07 by an https URL Ajv does not register; the keywords are draft-07.
  const ajv = new Ajv({ allErrors: true, strict: false, validateSchema: false });
  return ajv.compile(schema);
}

/** server.properties as up.sh writes it for the local broker (the heredoc in server_properties()). */
function localBrokerSettings(): Record<string, string> {
  const script = read('scripts/infra/up.sh');
  const body = /server_properties\(\) \{\n\s*cat <<EOF\n([\s\S]*?)\nEOF/.exec(script);
  if (!body) throw new Error('server_properties() heredoc not found in up.sh');
  return Object.fromEntries(
    body[1]
      .split('\n')
      .filter((line) => line.includes('=') && !line.startsWith('#'))
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );
}

describe('docker-compose.yml', () => {
  const services: Record<string, Doc> = compose.services;

  it('is valid against the Compose Specification schema', () => {
    const validate = validator();
    const valid = validate(compose);
    expect(validate.errors ?? []).toEqual([]);
    expect(valid).toBe(true);
  });

  it('is checked by the real specification, which rejects what compose rejects', () => {
    expect(schema.title).toBe('Compose Specification');
    expect(Object.keys(schema.definitions)).toEqual(expect.arrayContaining(['service', 'healthcheck', 'network', 'volume', 'secret', 'deployment']));
    const validate = validator();
    expect(validate({ services: { a: { image: 'x', depends_on: { b: { condition: 'service_ready' } } } } })).toBe(false);
    expect(validate({ services: { a: { image: 'x', helthcheck: {} } } })).toBe(false);
  });

  it('has the infrastructure, the migration job and the four services', () => {
    expect(Object.keys(services).sort()).toEqual(['kafka', 'migrate', 'postgres', ...Object.keys(APPS)].sort());
    expect(services.postgres.image).toBe('postgres:17');
  });

  it('gives every container a health check', () => {
    for (const [name, service] of Object.entries(services)) {
      const check = service.healthcheck;
      expect({ name, disabled: check?.disable === true }).toEqual({ name, disabled: false });
      expect({ name, test: Array.isArray(check?.test) && check.test.length > 1 }).toEqual({ name, test: true });
      expect(check.test[0]).toMatch(/^CMD(-SHELL)?$/);
    }
  });

  it.each(Object.entries(APPS))('%s starts after kafka and postgres are healthy and migrate has completed', (name) => {
    expect(services[name].depends_on).toEqual({
      kafka: { condition: 'service_healthy' },
      postgres: { condition: 'service_healthy' },
      migrate: { condition: 'service_completed_successfully' },
    });
  });

  it('migrates once Postgres is healthy, with the compiled migration script', () => {
    expect(services.migrate.depends_on).toEqual({ postgres: { condition: 'service_healthy' } });
    expect(services.migrate.command).toEqual(['node', 'dist/out-tsc/scripts/migrate.js']);
    expect(services.migrate.restart).toBe('no');
  });

  it.each(Object.entries(APPS))('%s listens for gRPC on %j and is health-checked on its HTTP port', (name, ports) => {
    const service = services[name];
    expect(service.environment.GRPC_PORT).toBe(String(ports.grpc));
    expect(service.environment.HTTP_PORT).toBe(String(ports.http));
    expect(service.ports).toEqual([`127.0.0.1:${ports.grpc}:${ports.grpc}`, `127.0.0.1:${ports.http}:${ports.http}`]);
    expect(service.healthcheck.test).toEqual(['CMD', 'node', 'scripts/infra/healthcheck.js', 'http', String(ports.http)]);
    expect(read('scripts/infra/healthcheck.js')).toContain('/health/ready');
  });

  it.each(Object.keys(APPS))('%s runs its own build output from the shared Dockerfile', (name) => {
    const service = services[name];
    expect(service.build).toEqual({ context: '.', args: { APP: name } });
    expect(service.command).toEqual(['node', `dist/out-tsc/apps/${name}/src/main.js`]);
  });

  it.each(['migrate', ...Object.keys(APPS)])('%s reaches Kafka and Postgres inside the compose network, with the password from a secret', (name) => {
    const env = services[name].environment;
    expect(env.KAFKA_BROKERS).toBe('kafka:9092');
    const url = new URL(env.DATABASE_URL);
    expect(url.protocol).toBe('postgresql:');
    expect(url.host).toBe('postgres:5432');
    expect(url.password).toBe('');
    expect(env.PGPASSWORD_FILE).toBe('/run/secrets/postgres_password');
    expect(services[name].secrets).toEqual(['postgres_password']);
  });

  it('never writes the database password into the file', () => {
    expect(compose.secrets.postgres_password).toEqual({ environment: 'POSTGRES_PASSWORD' });
    expect(services.postgres.environment.POSTGRES_PASSWORD).toBeUndefined();
    expect(services.postgres.environment.POSTGRES_PASSWORD_FILE).toBe('/run/secrets/postgres_password');
  });

  it.each(['migrate', ...Object.keys(APPS)])('%s runs hardened: read-only root, writable /tmp only, no capabilities, no privilege escalation', (name) => {
    const service = services[name];
    expect(service.read_only).toBe(true);
    expect(service.tmpfs).toEqual(['/tmp']);
    expect(service.cap_drop).toEqual(['ALL']);
    expect(service.security_opt).toEqual(['no-new-privileges:true']);
    expect(service.privileged ?? false).toBe(false);
  });

  it.each(Object.keys(APPS))('%s leaves migrations to the migrate service and has time to drain on stop', (name) => {
    const service = services[name];
    expect(service.environment.MIGRATE_ON_START).toBe('false');
    // stop_grace_period must exceed the drain on SIGTERM (SHUTDOWN_TIMEOUT_MS, default in config.ts).
    const drainMs = Number(/SHUTDOWN_TIMEOUT_MS: z[^\n]*\.default\(([\d_]+)\)/.exec(read('libs/service-kit/src/config.ts'))?.[1].replace(/_/g, ''));
    expect(drainMs).toBeGreaterThan(0);
    expect(Number(/^(\d+)s$/.exec(service.stop_grace_period)?.[1]) * 1000).toBeGreaterThan(drainMs);
  });

  it.each(['migrate', ...Object.keys(APPS)])('%s takes optional security and tracing settings from the shell, never from this file', (name) => {
    const env = services[name].environment;
    for (const variable of [
      'GRPC_AUTH_TOKENS',
      'KAFKA_SSL',
      'KAFKA_SASL_MECHANISM',
      'KAFKA_SASL_USERNAME',
      'KAFKA_SASL_PASSWORD',
      'OTEL_EXPORTER_OTLP_ENDPOINT',
    ]) {
      // A key without a value: compose passes the shell's value when set, and leaves it unset otherwise.
      expect({ variable, present: variable in env, value: env[variable] }).toEqual({ variable, present: true, value: null });
    }
  });

  it('runs Kafka as the same single-node KRaft broker as the local one', () => {
    const env: Record<string, unknown> = services.kafka.environment;
    const local = localBrokerSettings();
    // Addresses and paths differ by design; every other setting must match up.sh's broker.
    const differing = new Set(['listeners', 'advertised.listeners', 'controller.quorum.voters', 'log.dirs', 'listener.security.protocol.map']);
    for (const [key, value] of Object.entries(local)) {
      if (differing.has(key)) continue;
      const variable = `KAFKA_${key.toUpperCase().replace(/\./g, '_')}`;
      expect({ variable, value: String(env[variable]) }).toEqual({ variable, value });
    }
    expect(env.KAFKA_CONTROLLER_QUORUM_VOTERS).toBe('1@kafka:9093');
    expect(String(env.KAFKA_LISTENERS)).toContain('PLAINTEXT://:9092');
    expect(String(env.KAFKA_ADVERTISED_LISTENERS)).toContain('PLAINTEXT://kafka:9092');
  });

  it('runs the Kafka version the tests run', () => {
    const [, version] = read('scripts/infra/common.sh').match(/^KAFKA_VERSION=(\S+)$/m) ?? [];
    expect(version).toMatch(/^4\.\d+\.\d+$/);
    expect(services.kafka.image).toBe(`apache/kafka:${version}`);
  });
});

describe('Dockerfile', () => {
  const dockerfile = read('Dockerfile');
  const stages = [...dockerfile.matchAll(/^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/gim)].map((m) => ({ image: m[1], name: m[2] }));

  it('builds in one stage and runs from a separate, slim one', () => {
    // The image runs the Node.js major the tests run on (the project's `node` devDependency).
    const tested = JSON.parse(read('package.json')).devDependencies.node.split('.')[0];
    expect(dockerfile).toMatch(new RegExp(`^ARG NODE_IMAGE=node:${tested}-bookworm-slim$`, 'm'));
    expect(process.versions.node.split('.')[0]).toBe(tested);
    expect(stages.every((s) => s.image === '${NODE_IMAGE}')).toBe(true);
    expect(stages.map((s) => s.name)).toEqual(['build', 'prod-deps', 'runtime']);
    // From the lockfile exactly, in both dependency stages.
    expect(dockerfile).toMatch(/RUN npm ci --no-audit/);
    expect(dockerfile).toMatch(/RUN npm run build/);
    expect(dockerfile).toMatch(/npm ci --omit=dev --ignore-scripts/);
    expect(dockerfile).not.toMatch(/npm install/);
  });

  it('is one image per service: the build argument chooses the service, with a health check', () => {
    const runtime = dockerfile.slice(dockerfile.lastIndexOf('FROM '));
    expect(runtime).toMatch(/^ARG APP=channels$/m);
    expect(runtime).toMatch(/IM_APP=\$\{APP\}/);
    expect(runtime).toMatch(/^HEALTHCHECK .*CMD \["node", "scripts\/infra\/healthcheck\.js"\]$/m);
    expect(runtime).toMatch(/^ENTRYPOINT \["\/app\/scripts\/infra\/container-entrypoint\.sh"\]$/m);
    // No package manager left in the final image; only the build stages install anything.
    expect(runtime).toMatch(/rm -rf \/usr\/local\/lib\/node_modules\/npm/);
    expect(runtime).not.toMatch(/npm (ci|install)/);
  });

  it('ships the build output, production dependencies and the protos, and runs as a non-root user', () => {
    const runtime = dockerfile.slice(dockerfile.lastIndexOf('FROM '));
    expect(runtime).toMatch(/COPY --from=prod-deps \/src\/node_modules/);
    expect(runtime).toMatch(/COPY --from=build \/src\/dist/);
    expect(runtime).toMatch(/COPY --from=build \/src\/libs\/contracts\/proto/);
    expect(runtime).toMatch(/NODE_ENV=production/);
    // Numeric, so Kubernetes' runAsNonRoot can verify it (a name would need the image's passwd).
    expect(runtime).toMatch(/^USER 1000:1000$/m);
    expect(runtime.match(/^USER /gm)).toHaveLength(1);
    expect(runtime.indexOf('USER 1000:1000')).toBeGreaterThan(runtime.lastIndexOf('RUN '));
  });

  it('keeps dependencies, caches, build output and git out of the build context', () => {
    const ignored = read('.dockerignore')
      .split('\n')
      .map((l) => l.trim());
    expect(ignored).toEqual(expect.arrayContaining(['node_modules', '.cache', 'dist', '.git']));
  });
});

describe('container-entrypoint.sh', () => {
  const entrypoint = join(ROOT, 'scripts/infra/container-entrypoint.sh');
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'entrypoint-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const run = (env: Record<string, string>, ...command: string[]) =>
    execFileSync('sh', [entrypoint, ...command], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });

  it.each(['PGPASSWORD', 'KAFKA_SASL_PASSWORD', 'GRPC_AUTH_TOKENS'])(
    'reads %s from the file named by its _FILE variable, and drops the _FILE variable',
    (name) => {
      writeFileSync(join(dir, 'value'), 'from-the-file');
      const out = run({ [`${name}_FILE`]: join(dir, 'value') }, 'sh', '-c', `echo "$${name}|\${${name}_FILE:-unset}"`);
      expect(out.trim()).toBe('from-the-file|unset');
    },
  );

  it('refuses to start when a secret file is missing, naming the variable', () => {
    expect(() => run({ PGPASSWORD_FILE: join(dir, 'missing') }, 'true')).toThrow(/PGPASSWORD_FILE=.*is not readable/);
  });

  it('runs the service chosen at build time (IM_APP) when no command is given, and says so when none was', () => {
    expect(() => run({ IM_APP: 'no-such-service' })).toThrow(/dist\/out-tsc\/apps\/no-such-service\/src\/main\.js/);
    expect(() => run({})).toThrow(/IM_APP is not set/);
  });
});
