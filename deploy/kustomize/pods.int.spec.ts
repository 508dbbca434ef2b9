// The pods of the local overlay, run as the kubelet would run them, on the real broker and database:
// the image's entrypoint with the container's environment (ConfigMap, literal env, the Secret as a
// file), then the exact grpc.health.v1 request of the manifest's probes, the metrics endpoint, and
// SIGTERM as at pod deletion. Only addresses differ: the test's broker, database and free ports.
import { eventually, freePort, grpcClient, REPO_ROOT, testEnv } from '@im/testing';
import { ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { APPS, deployment, environmentOf, generatedSecret, K8sObject, ofKind, podSpecOf, render } from './rendered';

const ENTRYPOINT = join(REPO_ROOT, 'scripts/infra/container-entrypoint.sh');
const OVERLAY = 'overlays/local';

jest.setTimeout(120_000);

let secretsDir: string;
beforeAll(() => (secretsDir = mkdtempSync(join(tmpdir(), 'pod-secrets-'))));
afterAll(() => rmSync(secretsDir, { recursive: true, force: true }));

/**
 * The container's environment from the rendered manifests. PGPASSWORD comes from the overlay's
 * Secret through PGPASSWORD_FILE, the way a mounted Secret reaches the entrypoint.
 */
function podEnvironment(objects: K8sObject[], container: K8sObject, ports: { grpc: number; http: number }) {
  const env = environmentOf(objects, container, (name, key) => generatedSecret(objects, name, key));
  const password = env.PGPASSWORD;
  delete env.PGPASSWORD;
  const file = join(secretsDir, `${container.name}-pgpassword`);
  writeFileSync(file, password, { mode: 0o600 });
  const { kafkaBrokers, databaseUrl } = testEnv();
  return {
    ...env,
    PGPASSWORD_FILE: file,
    KAFKA_BROKERS: kafkaBrokers,
    DATABASE_URL: databaseUrl,
    GRPC_HOST: '127.0.0.1',
    HTTP_HOST: '127.0.0.1',
    GRPC_PORT: String(ports.grpc),
    HTTP_PORT: String(ports.http),
    PATH: process.env.PATH ?? '/usr/bin:/bin',
  };
}

function output(child: ChildProcess): () => string {
  const chunks: string[] = [];
  child.stdout?.on('data', (d) => chunks.push(String(d)));
  child.stderr?.on('data', (d) => chunks.push(String(d)));
  return () => chunks.join('');
}

it('the migration Job migrates every schema with its own command and environment', async () => {
  const objects = render(OVERLAY);
  const [job] = ofKind(objects, 'Job');
  const [container] = podSpecOf(job).containers;
  const env = podEnvironment(objects, container, { grpc: 0, http: 0 });
  const { stdout } = await new Promise<{ stdout: string }>((resolve, reject) =>
    execFile('sh', [ENTRYPOINT, ...container.args], { cwd: REPO_ROOT, env }, (error, out, err) =>
      error ? reject(new Error(`${error.message}\n${err}`)) : resolve({ stdout: out }),
    ),
  );
  for (const schema of Object.keys(APPS)) expect(stdout).toMatch(new RegExp(`^${schema}: (applied|up to date)`, 'm'));
});

describe.each(Object.keys(APPS))('the %s pod', (name) => {
  let child: ChildProcess;
  let logs: () => string;
  let exited: Promise<number | null>;
  let ports: { grpc: number; http: number };
  let container: K8sObject;
  let grace: number;

  beforeAll(async () => {
    const objects = render(OVERLAY);
    const pod = podSpecOf(deployment(objects, name));
    [container] = pod.containers;
    grace = pod.terminationGracePeriodSeconds;
    ports = { grpc: await freePort(), http: await freePort() };
    // No arguments: the image's entrypoint starts the service its build chose (IM_APP).
    child = spawn('sh', [ENTRYPOINT], {
      cwd: REPO_ROOT,
      env: { ...podEnvironment(objects, container, ports), IM_APP: name },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    logs = output(child);
    exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  });

  afterAll(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });

  it('passes its startup, readiness and liveness probes: grpc.health.v1 answers SERVING for the probed service', async () => {
    const service = container.startupProbe.grpc.service;
    expect(container.readinessProbe.grpc.service).toBe(service);
    const health = grpcClient('Health', `127.0.0.1:${ports.grpc}`);
    try {
      const budgetMs = container.startupProbe.periodSeconds * container.startupProbe.failureThreshold * 1000;
      await eventually(
        async () => {
          if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}:\n${logs()}`);
          return (await health.check({ service }).catch(() => undefined))?.status === 'SERVING';
        },
        `${name} to answer SERVING for ${service}`,
        budgetMs,
        200,
      );
      expect(await health.check({ service: container.livenessProbe.grpc.service })).toEqual({ status: 'SERVING' });
    } finally {
      health.close();
    }
  });

  it('serves its metrics where the scrape annotations point', async () => {
    const scraped = deployment(render('tests/prometheus-scrape'), name).spec.template;
    const annotations = scraped.metadata.annotations;
    const httpPort = scraped.spec.containers[0].ports.find((p: K8sObject) => p.name === 'http').containerPort;
    expect(annotations['prometheus.io/port']).toBe(String(httpPort));
    // The pod's port httpPort is this process' ports.http.
    const metrics = await (await fetch(`http://127.0.0.1:${ports.http}${annotations['prometheus.io/path']}`)).text();
    expect(metrics).toContain('# TYPE im_grpc_requests_total counter');
    expect(metrics).toContain('# TYPE im_outbox_backlog gauge');
    expect((await fetch(`http://127.0.0.1:${ports.http}/health/live`)).status).toBe(200);
  });

  it('drains and exits cleanly on SIGTERM before the grace period runs out', async () => {
    child.kill('SIGTERM');
    // The kubelet sends SIGKILL after terminationGracePeriodSeconds; a clean exit must come first.
    const code = await Promise.race([exited, new Promise<'killed'>((resolve) => setTimeout(() => resolve('killed'), grace * 1000).unref())]);
    expect({ code, logs: code === 0 ? '' : logs() }).toEqual({ code: 0, logs: '' });
  });
});

describe('a pod with gateway authentication on (Secret im-grpc-auth present)', () => {
  // The kubelet's native gRPC probes carry no credentials: grpc.health.v1 must answer without a token.
  it('still passes its probes', async () => {
    const objects = render(OVERLAY);
    const [container] = podSpecOf(deployment(objects, 'channels')).containers;
    const ports = { grpc: await freePort(), http: await freePort() };
    const tokens = join(secretsDir, 'grpc-auth-tokens');
    writeFileSync(tokens, 'probe-test-token-1,probe-test-token-2', { mode: 0o600 });
    const env = { ...podEnvironment(objects, container, ports), GRPC_AUTH_TOKENS_FILE: tokens, IM_APP: 'channels' };
    const child = spawn('sh', [ENTRYPOINT], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const logs = output(child);
    const exited = new Promise((resolve) => child.on('exit', resolve));
    const health = grpcClient('Health', `127.0.0.1:${ports.grpc}`);
    try {
      await eventually(
        async () => {
          if (child.exitCode !== null) throw new Error(`channels exited with ${child.exitCode}:\n${logs()}`);
          return (await health.check({ service: container.readinessProbe.grpc.service }).catch(() => undefined))?.status === 'SERVING';
        },
        'channels to answer SERVING to an unauthenticated probe',
        60_000,
        200,
      );
    } finally {
      health.close();
      child.kill('SIGTERM');
      await exited;
    }
  });
});
