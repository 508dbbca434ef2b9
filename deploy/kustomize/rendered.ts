// Rendering the kustomizations and reading the result, shared by the manifest and pod tests.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';

/* eslint-disable @typescript-eslint/no-explicit-any */
export type K8sObject = Record<string, any>;

export const KUSTOMIZE = __dirname;

/** The services as the manifests must expose them: ports and the grpc.health.v1 service the probes ask for. */
export const APPS: Record<string, { grpc: number; http: number; grpcService: string }> = {
  channels: { grpc: 50051, http: 9091, grpcService: 'im.v1.ChannelService' },
  subscriptions: { grpc: 50052, http: 9092, grpcService: 'im.v1.SubscriptionService' },
  fanout: { grpc: 50053, http: 9093, grpcService: 'im.v1.MessageService' },
  conversations: { grpc: 50054, http: 9094, grpcService: 'im.v1.ConversationService' },
};

const rendered = new Map<string, K8sObject[]>();

/** `kubectl kustomize deploy/kustomize/<target>`, parsed; cached per target. */
export function render(target: string): K8sObject[] {
  let objects = rendered.get(target);
  if (!objects) {
    let yaml: string;
    try {
      yaml = execFileSync('kubectl', ['kustomize', join(KUSTOMIZE, target)], {
        encoding: 'utf8',
        maxBuffer: 16 * 1024 * 1024,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    } catch (error) {
      const e = error as NodeJS.ErrnoException & { stderr?: string };
      if (e.code === 'ENOENT') throw new Error('kubectl (with its built-in kustomize, v1.27 or later) is required to render deploy/kustomize');
      throw new Error(`kubectl kustomize ${target} failed: ${e.stderr ?? e.message}`);
    }
    objects = parseAllDocuments(yaml).map((doc) => {
      if (doc.errors.length > 0) throw new Error(`${target}: ${doc.errors[0].message}`);
      return doc.toJS() as K8sObject;
    });
    rendered.set(target, objects);
  }
  return objects;
}

export const ofKind = (objects: K8sObject[], kind: string) => objects.filter((o) => o.kind === kind);
export const idOf = (o: K8sObject) => `${o.kind}/${o.metadata?.name}`;
export const workloads = (objects: K8sObject[]) => [...ofKind(objects, 'Deployment'), ...ofKind(objects, 'Job')];
export const podSpecOf = (o: K8sObject) => o.spec.template.spec;
export const deployment = (objects: K8sObject[], name: string) => {
  const found = ofKind(objects, 'Deployment').find((d) => d.metadata.name === name);
  if (!found) throw new Error(`Deployment ${name} not rendered`);
  return found;
};

/**
 * What a container's process sees: the ConfigMaps it loads, then its own env. Variables from Secrets
 * take `secrets(name, key)` when it returns a value; optional ones are left out otherwise, required
 * ones get a placeholder.
 */
export function environmentOf(
  objects: K8sObject[],
  container: K8sObject,
  secrets: (name: string, key: string) => string | undefined = () => undefined,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const source of container.envFrom ?? []) {
    const map = ofKind(objects, 'ConfigMap').find((c) => c.metadata.name === source.configMapRef?.name);
    if (!map) throw new Error(`ConfigMap ${source.configMapRef?.name} is referenced but not rendered`);
    Object.assign(env, map.data);
  }
  for (const variable of container.env ?? []) {
    const ref = variable.valueFrom?.secretKeyRef;
    if (!ref) {
      env[variable.name] = variable.value;
      continue;
    }
    const value = secrets(ref.name, ref.key);
    if (value !== undefined) env[variable.name] = value;
    else if (!ref.optional) env[variable.name] = 'from-a-secret-of-the-cluster';
  }
  return env;
}

/** The decoded value of a Secret the overlay generates itself (only the local overlay does). */
export function generatedSecret(objects: K8sObject[], name: string, key: string): string | undefined {
  const secret = ofKind(objects, 'Secret').find((s) => s.metadata.name === name);
  const data = secret?.data?.[key];
  return data === undefined ? undefined : Buffer.from(data, 'base64').toString('utf8');
}
