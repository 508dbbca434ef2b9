// scripts/infra/up.sh against the real thing: the second run must reuse the broker the first one
// started (same process, nothing downloaded or formatted) and hand out the same addresses. The
// first run may have to fetch the Kafka jars and start the broker, hence the long timeout.
// The broker is left running: the rest of the test suite uses it.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

jest.setTimeout(15 * 60_000);

const ROOT = join(__dirname, '..', '..');
// The broker instance in use (the test command runs one of its own, KAFKA_INSTANCE=kafka-test).
const INSTANCE = process.env.KAFKA_INSTANCE ?? 'kafka';
const ENV_FILE = join(ROOT, '.cache', 'infra', INSTANCE === 'kafka' ? 'env' : `${INSTANCE}.env`);
const PID_FILE = join(ROOT, '.cache', INSTANCE, 'kafka.pid');
const LOCAL_BROKER = `127.0.0.1:${process.env.KAFKA_PORT ?? 19092}`;
// A broker given from outside (not the one up.sh runs here) is used as it is, and nothing is provisioned.
const externalBrokers = process.env.KAFKA_BROKERS && process.env.KAFKA_BROKERS !== LOCAL_BROKER ? process.env.KAFKA_BROKERS : undefined;

interface Run {
  stdout: string;
  stderr: string;
  addresses: Record<string, string>;
}

function up(env: NodeJS.ProcessEnv): Run {
  const result = spawnSync('bash', ['scripts/infra/up.sh'], { cwd: ROOT, env, encoding: 'utf8', timeout: 14 * 60_000 });
  if (result.status !== 0) {
    throw new Error(`up.sh exited ${result.status ?? result.signal}:\n${result.stderr}${result.stdout}`);
  }
  const addresses = Object.fromEntries(
    result.stdout
      .split('\n')
      .filter((line) => /^(KAFKA_BROKERS|DATABASE_URL)=/.test(line))
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );
  return { stdout: result.stdout, stderr: result.stderr, addresses };
}

const brokerPid = () => readFileSync(PID_FILE, 'utf8').trim();

function kafkaAnswers(brokers: string) {
  const check = spawnSync('node', ['scripts/infra/wait-kafka.js', '--brokers', brokers, '--timeout', '30'], { cwd: ROOT, encoding: 'utf8' });
  return { status: check.status, output: `${check.stdout}${check.stderr}` };
}

describe('scripts/infra/up.sh', () => {
  // Other suites may source the env file: it is put back as it was.
  let savedEnvFile: string | undefined;
  beforeAll(() => {
    savedEnvFile = existsSync(ENV_FILE) ? readFileSync(ENV_FILE, 'utf8') : undefined;
  });
  afterAll(() => {
    if (savedEnvFile !== undefined) writeFileSync(ENV_FILE, savedEnvFile, { mode: 0o600 });
  });

  if (externalBrokers) {
    it('uses the KAFKA_BROKERS it is given, provisions no broker, and prints the same addresses twice', () => {
      const env = { ...process.env, KAFKA_BROKERS: externalBrokers };
      const first = up(env);
      const second = up(env);
      expect(first.addresses.KAFKA_BROKERS).toBe(externalBrokers);
      expect(second.addresses).toEqual(first.addresses);
      expect(second.stderr).toContain('provisioning no broker');
      expect(second.stderr).not.toMatch(/started Kafka|fetching Apache Kafka/);
    });
    return;
  }

  it('reuses the running broker on its second run and prints the same addresses', () => {
    // Nothing given: up.sh provisions (or finds) everything itself.
    const env = { ...process.env };
    delete env.KAFKA_BROKERS;
    delete env.DATABASE_URL;

    const first = up(env);
    expect(first.addresses.KAFKA_BROKERS).toBe(LOCAL_BROKER);
    expect(first.addresses.DATABASE_URL).toMatch(/^postgres(ql)?:\/\/.+\/im$/);
    const pid = brokerPid();

    const second = up(env);
    expect(second.addresses).toEqual(first.addresses);
    expect(second.stderr).toContain(`reusing the running Kafka broker (pid ${pid})`);
    expect(brokerPid()).toBe(pid);
    // Nothing fetched, formatted or started the second time.
    expect(second.stderr).not.toMatch(/fetching Apache Kafka|formatted Kafka storage|started Kafka|initialising a Postgres/);
    // stdout carries the addresses only, so callers can parse it.
    expect(second.stdout.trim().split('\n')).toEqual([`KAFKA_BROKERS=${first.addresses.KAFKA_BROKERS}`, `DATABASE_URL=${first.addresses.DATABASE_URL}`]);

    const envFile = readFileSync(ENV_FILE, 'utf8');
    expect(envFile).toContain(`export KAFKA_BROKERS='${first.addresses.KAFKA_BROKERS}'`);
    expect(envFile).toContain(`export DATABASE_URL='${first.addresses.DATABASE_URL}'`);

    const answer = kafkaAnswers(first.addresses.KAFKA_BROKERS);
    expect(answer).toEqual({ status: 0, output: expect.stringContaining('1 broker(s)') });
  });
});
