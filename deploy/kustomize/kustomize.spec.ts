// Renders every overlay and every tests/ combination with `kubectl kustomize`, validates each object
// against the Kubernetes OpenAPI schemas (the kubernetes-models package: compiled validators, no
// network), then checks the policies operators rely on.
import { baseConfigSchema, LIVENESS_SERVICE, loadConfig, servicePorts } from '@im/service-kit';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { APPS, deployment, environmentOf, idOf, K8sObject, KUSTOMIZE, ofKind, podSpecOf, render, workloads } from './rendered';

const COMPONENTS = ['network-policies', 'hpa', 'pdb', 'prometheus-scrape', 'prometheus-operator', 'grpc-mtls'];
const OVERLAYS = ['overlays/local', 'overlays/production'];
const TESTS = readdirSync(join(KUSTOMIZE, 'tests')).map((name) => `tests/${name}`);
const TARGETS = [...OVERLAYS, ...TESTS];
const CREDENTIAL = /PASSWORD|TOKEN|SECRET|CREDENTIAL|PRIVATE_KEY/i;
const PRE_STOP_SLEEP_S = 5;

/** The environment as the pod sees it: files a Secret mounts (GRPC_TLS_*_FILE) exist there, so one that exists here stands in. */
const asMounted = (env: Record<string, string>) =>
  Object.fromEntries(Object.entries(env).map(([name, value]) => [name, /^GRPC_TLS_.*_FILE$/.test(name) ? __filename : value]));

/**
 * The model class of an object: core and built-in groups from kubernetes-models (`apps/v1` +
 * `Deployment` → kubernetes-models/apps/v1/Deployment), the Prometheus Operator's CRDs from its package.
 */
function modelOf(o: K8sObject): new (data: K8sObject) => { validate(): void } {
  const pkg = o.apiVersion.startsWith('monitoring.coreos.com/') ? '@kubernetes-models/prometheus-operator' : 'kubernetes-models';
  const module = require(`${pkg}/${o.apiVersion}/${o.kind}`);
  return module[o.kind];
}

interface SchemaError {
  instancePath: string;
  message?: string;
}
function schemaErrors(o: K8sObject, Model = modelOf(o)): SchemaError[] {
  try {
    new Model(o).validate();
    return [];
  } catch (error) {
    const errors = (error as { errors?: SchemaError[] }).errors;
    if (!errors) throw error;
    return errors;
  }
}

/**
 * Kubernetes' OpenAPI schemas do not forbid unknown fields, so a typo (`readinesProbe`) would pass
 * validation and be dropped by the API server. A field is known to the schema when replacing its
 * value with one no schema accepts (a symbol) makes validation fail at that field's path.
 */
function unknownFields(o: K8sObject): string[] {
  const Model = modelOf(o);
  const unknown: string[] = [];
  const visit = (value: unknown, path: string[], set: (v: unknown) => void) => {
    // apiVersion and kind chose the schema itself.
    if (path.length === 1 && (path[0] === 'apiVersion' || path[0] === 'kind')) return;
    if (path.length > 0) {
      set(Symbol('probe'));
      const pointer = '/' + path.join('/');
      const known = schemaErrors(o, Model).some((e) => e.instancePath === pointer || e.instancePath.startsWith(pointer + '/'));
      set(value);
      if (!known) {
        unknown.push(pointer);
        return;
      }
    }
    if (Array.isArray(value)) value.forEach((item, i) => visit(item, [...path, String(i)], (v) => (value[i] = v)));
    else if (value && typeof value === 'object') {
      for (const key of Object.keys(value)) {
        const parent = value as Record<string, unknown>;
        visit(parent[key], [...path, key.replace(/~/g, '~0').replace(/\//g, '~1')], (v) => (parent[key] = v));
      }
    }
  };
  visit(o, [], () => undefined);
  return unknown;
}

describe.each(TARGETS)('kubectl kustomize %s', (target) => {
  const objects = () => render(target);

  it('renders objects the Kubernetes schemas accept, with no unknown fields', () => {
    expect(objects().length).toBeGreaterThan(0);
    for (const o of objects()) {
      expect({ object: idOf(o), errors: schemaErrors(o) }).toEqual({ object: idOf(o), errors: [] });
      expect({ object: idOf(o), unknown: unknownFields(o) }).toEqual({ object: idOf(o), unknown: [] });
    }
  });

  it('has a Deployment, Service and ServiceAccount per service, and the migration Job', () => {
    for (const [name, ports] of Object.entries(APPS)) {
      const d = deployment(objects(), name);
      const service = ofKind(objects(), 'Service').find((s) => s.metadata.name === name);
      const account = ofKind(objects(), 'ServiceAccount').find((s) => s.metadata.name === name);
      expect(service?.spec.selector).toEqual(d.spec.selector.matchLabels);
      expect(service?.spec.ports.map((p: K8sObject) => p.port)).toEqual([ports.grpc, ports.http]);
      expect(account?.automountServiceAccountToken).toBe(false);
      expect(podSpecOf(d).serviceAccountName).toBe(name);
    }
    const jobs = ofKind(objects(), 'Job');
    expect(jobs).toHaveLength(1);
    expect(podSpecOf(jobs[0]).containers[0].args).toEqual(['node', 'dist/out-tsc/scripts/migrate.js']);
    expect(podSpecOf(jobs[0]).restartPolicy).toBe('Never');
  });

  it('hardens every pod and container, with requests and limits', () => {
    for (const w of workloads(objects())) {
      const pod = podSpecOf(w);
      expect({ w: idOf(w), automount: pod.automountServiceAccountToken }).toEqual({ w: idOf(w), automount: false });
      expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
      expect(Number.isInteger(pod.securityContext.runAsUser) && pod.securityContext.runAsUser > 0).toBe(true);
      expect(Number.isInteger(pod.securityContext.runAsGroup) && pod.securityContext.runAsGroup > 0).toBe(true);
      expect(pod.hostNetwork ?? false).toBe(false);
      for (const c of [...(pod.initContainers ?? []), ...pod.containers]) {
        const where = `${idOf(w)}/${c.name}`;
        expect({ where, securityContext: c.securityContext }).toEqual({
          where,
          securityContext: expect.objectContaining({
            allowPrivilegeEscalation: false,
            readOnlyRootFilesystem: true,
            capabilities: { drop: ['ALL'] },
          }),
        });
        expect(c.securityContext.privileged ?? false).toBe(false);
        const names = (c.env ?? []).map((v: K8sObject) => v.name);
        expect({ where, duplicates: names.filter((n: string, i: number) => names.indexOf(n) !== i) }).toEqual({ where, duplicates: [] });
        for (const kind of ['requests', 'limits']) {
          expect({ where, kind, cpu: !!c.resources?.[kind]?.cpu, memory: !!c.resources?.[kind]?.memory }).toEqual({ where, kind, cpu: true, memory: true });
        }
        // A read-only root needs a writable /tmp.
        const tmp = c.volumeMounts?.find((m: K8sObject) => m.mountPath === '/tmp');
        expect({ where, tmp: pod.volumes?.find((v: K8sObject) => v.name === tmp?.name)?.emptyDir !== undefined }).toEqual({ where, tmp: true });
      }
    }
  });

  it.each(Object.entries(APPS))('probes %s natively over grpc.health.v1 and drains before it is killed', (name, ports) => {
    const d = deployment(objects(), name);
    const [container] = podSpecOf(d).containers;
    const env = asMounted(environmentOf(objects(), container));
    // With TLS on gRPC (grpc-mtls) the probes use the HTTP port, whose /health answers the same.
    if (!env.GRPC_TLS_CERT_FILE) {
      for (const probe of ['startupProbe', 'readinessProbe']) {
        expect({ probe, grpc: container[probe]?.grpc }).toEqual({ probe, grpc: { port: ports.grpc, service: ports.grpcService } });
      }
      // Liveness checks the process only: a dependency outage makes pods unready, never restarted.
      expect(container.livenessProbe.grpc).toEqual({ port: ports.grpc, service: LIVENESS_SERVICE });
    }
    expect(container.ports).toEqual([
      { name: 'grpc', containerPort: ports.grpc },
      { name: 'http', containerPort: ports.http },
    ]);
    expect(container.lifecycle.preStop.exec.command).toEqual(['sleep', String(PRE_STOP_SLEEP_S)]);
    const drainSeconds = loadConfig(baseConfigSchema.extend(servicePorts(ports.grpc, ports.http).shape), env).SHUTDOWN_TIMEOUT_MS / 1000;
    expect(podSpecOf(d).terminationGracePeriodSeconds).toBeGreaterThan(PRE_STOP_SLEEP_S + drainSeconds);
  });

  it.each(Object.entries(APPS))('gives %s a configuration its config schema accepts, without migrating on start', (name, ports) => {
    const [container] = podSpecOf(deployment(objects(), name)).containers;
    const env = asMounted(environmentOf(objects(), container));
    const config = loadConfig(baseConfigSchema.extend(servicePorts(ports.grpc, ports.http).shape), env);
    expect(config.MIGRATE_ON_START).toBe(false);
    expect(config.GRPC_PORT).toBe(ports.grpc);
    expect(config.HTTP_PORT).toBe(ports.http);
    expect(new URL(config.DATABASE_URL).password).toBe('');
    // Every optional setting from the environment of the runtime is wired, Secrets by reference only.
    const names = (container.env ?? []).map((v: K8sObject) => v.name);
    expect(names).toEqual(expect.arrayContaining(['PGPASSWORD', 'GRPC_AUTH_TOKENS', 'KAFKA_SASL_USERNAME', 'KAFKA_SASL_PASSWORD']));
    // Pods listen beyond loopback, so their gRPC tokens are required: no Secret, no pod.
    const tokens = (container.env ?? []).find((v: K8sObject) => v.name === 'GRPC_AUTH_TOKENS');
    expect(tokens.valueFrom.secretKeyRef).toEqual({ name: 'im-grpc-auth', key: 'tokens' });
    expect(config.GRPC_HOST).toBe('0.0.0.0');
  });

  it('keeps credentials out of the manifests: Secret references only', () => {
    for (const w of workloads(objects())) {
      for (const c of podSpecOf(w).containers) {
        for (const variable of c.env ?? []) {
          if (CREDENTIAL.test(variable.name)) {
            expect({ variable: variable.name, value: variable.value, ref: !!variable.valueFrom?.secretKeyRef }).toEqual({
              variable: variable.name,
              value: undefined,
              ref: true,
            });
          }
        }
      }
    }
    for (const map of ofKind(objects(), 'ConfigMap')) {
      for (const [key, value] of Object.entries<string>(map.data ?? {})) {
        expect({ key, credential: CREDENTIAL.test(key) }).toEqual({ key, credential: false });
        if (/^[a-z]+:\/\//.test(value)) expect({ key, password: new URL(value).password }).toEqual({ key, password: '' });
      }
    }
    const secrets = ofKind(objects(), 'Secret');
    if (target === 'overlays/local') {
      // The local overlay's example generator, with values nobody could mistake for real ones.
      expect(secrets.map((s) => s.metadata.name).sort()).toEqual(['im-grpc-auth', 'im-postgres']);
      for (const secret of secrets)
        for (const value of Object.values<string>(secret.data)) expect(Buffer.from(value, 'base64').toString()).toMatch(/^local-only-/);
    } else {
      expect(secrets).toEqual([]);
    }
  });

  it('runs one pod per replica of the Deployments with MIGRATE_ON_START=false and leaves migrations to the Job', () => {
    for (const d of ofKind(objects(), 'Deployment')) {
      const env = environmentOf(objects(), podSpecOf(d).containers[0]);
      expect({ d: idOf(d), migrate: env.MIGRATE_ON_START }).toEqual({ d: idOf(d), migrate: 'false' });
    }
  });
});

describe('components', () => {
  const added = (target: string) => {
    const base = new Set(
      render('tests/all')
        .filter((o) => !COMPONENT_KINDS.has(o.kind))
        .map(idOf),
    );
    return render(target).filter((o) => !base.has(idOf(o)));
  };
  const COMPONENT_KINDS = new Set(['NetworkPolicy', 'HorizontalPodAutoscaler', 'PodDisruptionBudget', 'ServiceMonitor', 'PrometheusRule']);

  it('has a test kustomization per component, and one with all of them', () => {
    expect(TESTS.sort()).toEqual([...COMPONENTS.map((c) => `tests/${c}`), 'tests/all'].sort());
  });

  it('network-policies: denies all traffic by default, then allows gateways, Prometheus, DNS, Kafka and Postgres', () => {
    const policies = ofKind(added('tests/network-policies'), 'NetworkPolicy');
    const deny = policies.find((p) => p.metadata.name === 'default-deny-all');
    expect(deny?.spec).toEqual({ podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
    const ingressPorts = policies.flatMap((p) => (p.spec.ingress ?? []).flatMap((rule: K8sObject) => rule.ports.map((port: K8sObject) => port.port)));
    expect(ingressPorts.sort()).toEqual(['grpc', 'http']);
    const egressPorts = policies.flatMap((p) => (p.spec.egress ?? []).flatMap((rule: K8sObject) => rule.ports.map((port: K8sObject) => port.port)));
    expect(egressPorts).toEqual(expect.arrayContaining([53, 9092, 5432]));
    // Every allow-rule names its peers by port: nothing is opened wholesale.
    for (const p of policies) for (const rule of [...(p.spec.ingress ?? []), ...(p.spec.egress ?? [])]) expect(rule.ports?.length).toBeGreaterThan(0);
  });

  it('network-policies: each allow-rule selects the pods it is meant for', () => {
    const objects = render('tests/network-policies');
    const selects = (policy: K8sObject, o: K8sObject) =>
      Object.entries<string>(policy.spec.podSelector.matchLabels ?? {}).every(([k, v]) => o.spec.template.metadata.labels?.[k] === v);
    const policy = (name: string) => {
      const found = ofKind(objects, 'NetworkPolicy').find((p) => p.metadata.name === name);
      if (!found) throw new Error(`NetworkPolicy ${name} not rendered`);
      return found;
    };
    for (const name of ['allow-grpc-from-gateways', 'allow-metrics-from-prometheus']) {
      expect({
        name,
        selected: ofKind(objects, 'Deployment')
          .filter((d) => selects(policy(name), d))
          .map((d) => d.metadata.name)
          .sort(),
      }).toEqual({
        name,
        selected: Object.keys(APPS).sort(),
      });
    }
    // Egress (DNS, Kafka, Postgres) for the services and the migration Job alike.
    for (const name of ['allow-dns', 'allow-egress-kafka-postgres']) {
      for (const w of workloads(objects)) expect({ name, w: idOf(w), selected: selects(policy(name), w) }).toEqual({ name, w: idOf(w), selected: true });
    }
  });

  it.each(['tests/hpa', 'overlays/production'])('%s: never scales past the partition count, where extra replicas would sit idle in the groups', (target) => {
    const objects = render(target);
    for (const h of ofKind(objects, 'HorizontalPodAutoscaler')) {
      const env = environmentOf(objects, podSpecOf(deployment(objects, h.spec.scaleTargetRef.name)).containers[0]);
      const partitions = Number(env.KAFKA_TOPIC_PARTITIONS);
      expect({ hpa: h.metadata.name, fits: h.spec.minReplicas <= h.spec.maxReplicas && h.spec.maxReplicas <= partitions }).toEqual({
        hpa: h.metadata.name,
        fits: true,
      });
    }
  });

  it.each(['tests/hpa', 'tests/all', 'overlays/production'])('%s: the autoscaler alone owns the replica count of the Deployments it scales', (target) => {
    const objects = render(target);
    for (const h of ofKind(objects, 'HorizontalPodAutoscaler')) {
      const d = deployment(objects, h.spec.scaleTargetRef.name);
      expect({ d: idOf(d), replicas: d.spec.replicas }).toEqual({ d: idOf(d), replicas: undefined });
    }
  });

  it('hpa: scales each Deployment on CPU with autoscaling/v2', () => {
    const hpas = ofKind(added('tests/hpa'), 'HorizontalPodAutoscaler');
    expect(hpas.map((h) => h.spec.scaleTargetRef.name).sort()).toEqual(Object.keys(APPS).sort());
    for (const h of hpas) {
      expect(h.apiVersion).toBe('autoscaling/v2');
      expect(h.spec.metrics).toEqual([
        { type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: expect.any(Number) } } },
      ]);
      expect(h.spec.minReplicas).toBeGreaterThanOrEqual(2);
    }
  });

  it('pdb: one PodDisruptionBudget per service, selecting its pods', () => {
    const objects = render('tests/pdb');
    const pdbs = ofKind(objects, 'PodDisruptionBudget');
    expect(pdbs.map((p) => p.metadata.name).sort()).toEqual(Object.keys(APPS).sort());
    for (const p of pdbs) expect(p.spec.selector.matchLabels).toEqual(deployment(objects, p.metadata.name).spec.selector.matchLabels);
  });

  it("prometheus-operator: a ServiceMonitor on every Service's metrics port, and the alert rules as a PrometheusRule", () => {
    const objects = render('tests/prometheus-operator');
    const [monitor] = ofKind(objects, 'ServiceMonitor');
    const selected = ofKind(objects, 'Service').filter((svc) =>
      Object.entries<string>(monitor.spec.selector.matchLabels).every(([k, v]) => svc.metadata.labels?.[k] === v),
    );
    expect(selected.map((svc) => svc.metadata.name).sort()).toEqual(Object.keys(APPS).sort());
    const [endpoint] = monitor.spec.endpoints;
    for (const svc of selected) {
      const port = svc.spec.ports.find((p: K8sObject) => p.name === endpoint.port);
      expect({ service: svc.metadata.name, port: port?.port }).toEqual({ service: svc.metadata.name, port: APPS[svc.metadata.name].http });
      // The job label the dashboard and alerts group by is the service name.
      expect(svc.metadata.labels[monitor.spec.jobLabel]).toBe(svc.metadata.name);
    }
    expect(endpoint.path).toBe('/metrics');
    const [rule] = ofKind(objects, 'PrometheusRule');
    const alerts = parse(readFileSync(join(KUSTOMIZE, '..', 'prometheus', 'alerts.yaml'), 'utf8'));
    expect(rule.spec.groups).toEqual(alerts.groups);
  });

  it('prometheus-scrape: annotates each service pod with its metrics port', () => {
    const objects = render('tests/prometheus-scrape');
    for (const [name, ports] of Object.entries(APPS)) {
      expect(deployment(objects, name).spec.template.metadata.annotations).toEqual({
        'prometheus.io/scrape': 'true',
        'prometheus.io/port': String(ports.http),
        'prometheus.io/path': '/metrics',
      });
    }
  });

  it('grpc-mtls: every service serves mutual TLS from the im-grpc-tls Secret, probed over HTTP', () => {
    const objects = render('tests/grpc-mtls');
    for (const [name, ports] of Object.entries(APPS)) {
      const pod = deployment(objects, name).spec.template.spec;
      const [container] = pod.containers;
      const env = environmentOf(objects, container);
      const mount = container.volumeMounts.find((m: K8sObject) => pod.volumes.find((v: K8sObject) => v.name === m.name)?.secret?.secretName === 'im-grpc-tls');
      expect(mount).toMatchObject({ readOnly: true });
      // Keys of a kubernetes.io/tls Secret, ca.crt as cert-manager writes it.
      expect([env.GRPC_TLS_CERT_FILE, env.GRPC_TLS_KEY_FILE, env.GRPC_TLS_CLIENT_CA_FILE]).toEqual(
        ['tls.crt', 'tls.key', 'ca.crt'].map((key) => `${mount.mountPath}/${key}`),
      );
      // The kubelet's gRPC probe cannot do TLS: all three probes use the HTTP port.
      expect(container.ports.find((p: K8sObject) => p.name === 'http').containerPort).toBe(ports.http);
      expect([container.startupProbe, container.readinessProbe, container.livenessProbe].map((probe) => probe.grpc ?? probe.httpGet)).toEqual([
        { path: '/health/ready', port: 'http' },
        { path: '/health/ready', port: 'http' },
        { path: '/health/live', port: 'http' },
      ]);
    }
  });
});

describe('overlays', () => {
  it('production: every component, more replicas, pinned images, and a migration Job named for the release', () => {
    const objects = render('overlays/production');
    const kinds = new Set(objects.map((o) => o.kind));
    for (const kind of ['NetworkPolicy', 'HorizontalPodAutoscaler', 'PodDisruptionBudget']) expect(kinds.has(kind)).toBe(true);
    for (const name of Object.keys(APPS)) {
      const d = deployment(objects, name);
      const hpa = ofKind(objects, 'HorizontalPodAutoscaler').find((h) => h.spec.scaleTargetRef.name === name);
      expect(hpa?.spec.minReplicas).toBeGreaterThanOrEqual(3);
      expect(hpa?.spec.minReplicas).toBeGreaterThan(deployment(render('overlays/local'), name).spec.replicas);
      expect(d.spec.template.spec.topologySpreadConstraints.map((t: K8sObject) => t.topologyKey)).toEqual([
        'topology.kubernetes.io/zone',
        'kubernetes.io/hostname',
      ]);
      expect(d.spec.template.metadata.annotations?.['prometheus.io/scrape']).toBe('true');
    }
    const images = workloads(objects).flatMap((w) => podSpecOf(w).containers.map((c: K8sObject) => c.image as string));
    const tags = new Set<string>();
    for (const image of images) {
      const pinned = /^[^:@]+(?::[^:@/]+)?(?::(?<tag>[\w][\w.-]*)|@sha256:[0-9a-f]{64})$/.exec(image);
      expect({ image, pinned: !!pinned && pinned.groups?.tag !== 'latest' }).toEqual({ image, pinned: true });
      if (pinned?.groups?.tag) tags.add(pinned.groups.tag);
    }
    expect(tags.size).toBe(1);
    const [release] = [...tags];
    expect(ofKind(objects, 'Job')[0].metadata.name).toBe(`im-migrate-${release.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}`);
  });

  it('local: one replica of each service on locally built images', () => {
    const objects = render('overlays/local');
    for (const name of Object.keys(APPS)) {
      const d = deployment(objects, name);
      expect(d.spec.replicas).toBe(1);
      expect(podSpecOf(d).containers[0].image).toBe(`im-backend/${name}:local`);
    }
  });

  it.each(OVERLAYS)('%s: `kubectl apply -l im-backend/phase=pre-deploy` applies the migration Job with everything it needs, and no service', (target) => {
    const objects = render(target);
    const phase = objects.filter((o) => o.metadata.labels?.['im-backend/phase'] === 'pre-deploy');
    const ids = new Set(phase.map(idOf));
    const [job] = ofKind(phase, 'Job');
    const pod = podSpecOf(job);
    expect(ids.has(`ServiceAccount/${pod.serviceAccountName}`)).toBe(true);
    for (const source of pod.containers[0].envFrom) expect(ids.has(`ConfigMap/${source.configMapRef.name}`)).toBe(true);
    expect(ofKind(phase, 'Namespace')).toHaveLength(1);
    expect(phase.map((o) => o.kind).sort()).toEqual(
      ['ConfigMap', 'Job', 'Namespace', 'ServiceAccount', ...(target === 'overlays/local' ? ['Secret'] : [])].sort(),
    );
  });

  it.each(OVERLAYS)('%s puts everything in its own restricted namespace', (target) => {
    const objects = render(target);
    const [namespace] = ofKind(objects, 'Namespace');
    expect(namespace.metadata.labels['pod-security.kubernetes.io/enforce']).toBe('restricted');
    for (const o of objects.filter((x) => x.kind !== 'Namespace'))
      expect({ o: idOf(o), ns: o.metadata.namespace }).toEqual({ o: idOf(o), ns: namespace.metadata.name });
  });
});

describe('schema validation', () => {
  it('rejects what the API server would reject, and catches misspelt fields', () => {
    const [d] = ofKind(render('overlays/local'), 'Deployment');
    const broken = structuredClone(d);
    broken.spec.template.spec.containers[0].readinessProbe.grpc.port = 'grpc';
    expect(schemaErrors(broken).map((e) => e.instancePath)).toContain('/spec/template/spec/containers/0/readinessProbe/grpc/port');
    const misspelt = structuredClone(d);
    misspelt.spec.template.spec.containers[0].readinesProbe = misspelt.spec.template.spec.containers[0].readinessProbe;
    expect(schemaErrors(misspelt)).toEqual([]);
    expect(unknownFields(misspelt)).toEqual(['/spec/template/spec/containers/0/readinesProbe']);
  });
});
