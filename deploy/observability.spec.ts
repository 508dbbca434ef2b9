// The Grafana dashboard and the Prometheus alert rules query only what the services expose: every
// metric and label they name is registered by ServiceMetrics (libs/service-kit/src/metrics.ts).
import { ServiceMetrics } from '@im/service-kit';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

/* eslint-disable @typescript-eslint/no-explicit-any */
type Doc = Record<string, any>;

const read = (path: string) => readFileSync(join(__dirname, path), 'utf8');
/** Labels Prometheus adds to every series of a target, and the histogram bucket label. */
const TARGET_LABELS = ['job', 'instance', 'pod', 'namespace', 'le'];
/** PromQL words that look like identifiers but are not metric names. */
const PROMQL_WORDS = new Set([
  ...[
    'sum',
    'max',
    'min',
    'avg',
    'count',
    'rate',
    'increase',
    'irate',
    'deriv',
    'delta',
    'histogram_quantile',
    'absent',
    'clamp_min',
    'clamp_max',
    'topk',
    'bottomk',
  ],
  ...['by', 'without', 'and', 'or', 'unless', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'offset'],
]);

interface Registered {
  names: Set<string>;
  labels: Set<string>;
}

async function registered(): Promise<Registered> {
  const metrics = new ServiceMetrics();
  const names = new Set<string>();
  const labels = new Set<string>(TARGET_LABELS);
  for (const metric of await metrics.registry.getMetricsAsJSON()) {
    names.add(metric.name);
    // A histogram is queried through its _bucket, _sum and _count series.
    if (String(metric.type) === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(metric.name + suffix);
    const labelNames: readonly string[] = (metrics.registry.getSingleMetric(metric.name) as any)?.labelNames ?? [];
    labelNames.forEach((l) => labels.add(l));
  }
  return { names, labels };
}

/** The metric names, matcher labels and grouping labels of a PromQL expression. */
function analyse(expr: string) {
  // Strings ("..."), Grafana variables ($job, $__rate_interval) and durations ([5m]) are not identifiers.
  const code = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\$\w+/g, '')
    .replace(/\[[^\]]*\]/g, '');
  const matcherLabels = [...code.matchAll(/[{,]\s*([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)/g)].map((m) => m[1]);
  const groupingLabels = [...code.matchAll(/\b(?:by|without|on|ignoring)\s*\(([^)]*)\)/g)].flatMap((m) =>
    m[1]
      .split(',')
      .map((l) => l.trim())
      .filter(Boolean),
  );
  const withoutLabels = code.replace(/\{[^}]*\}/g, '').replace(/\b(?:by|without|on|ignoring)\s*\([^)]*\)/g, '');
  const identifiers = [...withoutLabels.matchAll(/\b[a-zA-Z_:][\w:]*\b/g)].map((m) => m[0]).filter((w) => !PROMQL_WORDS.has(w));
  return { metrics: identifiers, labels: [...matcherLabels, ...groupingLabels] };
}

function balanced(expr: string): boolean {
  const pairs: Record<string, string> = { ')': '(', ']': '[', '}': '{' };
  const stack: string[] = [];
  for (const ch of expr.replace(/"(?:[^"\\]|\\.)*"/g, '""')) {
    if ('([{'.includes(ch)) stack.push(ch);
    else if (ch in pairs && stack.pop() !== pairs[ch]) return false;
  }
  return stack.length === 0;
}

function expectOnlyRegistered(known: Registered, where: string, expr: string) {
  const { metrics, labels } = analyse(expr);
  expect({ where, balanced: balanced(expr) }).toEqual({ where, balanced: true });
  expect({ where, namesAMetric: metrics.length > 0 }).toEqual({ where, namesAMetric: true });
  expect({ where, unknownMetrics: metrics.filter((m) => !known.names.has(m)) }).toEqual({ where, unknownMetrics: [] });
  expect({ where, unknownLabels: labels.filter((l) => !known.labels.has(l)) }).toEqual({ where, unknownLabels: [] });
}

describe('PromQL checks', () => {
  it('see metric names and labels, and reject what metrics.ts does not define', async () => {
    const known = await registered();
    expect([...known.names]).toEqual(expect.arrayContaining(['im_grpc_requests_total', 'im_grpc_request_duration_seconds_bucket', 'im_outbox_backlog']));
    expect(analyse('sum by (job, group) (rate(im_kafka_records_applied_total{job=~"$job", topic!="x"}[5m])) > 0')).toEqual({
      metrics: ['im_kafka_records_applied_total'],
      labels: ['job', 'topic', 'job', 'group'],
    });
    expect(analyse('histogram_quantile(0.99, sum by (le) (rate(im_grpc_request_duration_seconds_bucket[5m])))').metrics).toEqual([
      'im_grpc_request_duration_seconds_bucket',
    ]);
    expect(() => expectOnlyRegistered(known, 'typo', 'sum(rate(im_grpc_request_total[5m]))')).toThrow();
    expect(() => expectOnlyRegistered(known, 'label typo', 'sum by (grup) (im_kafka_consumer_lag)')).toThrow();
    expect(() => expectOnlyRegistered(known, 'unbalanced', 'sum(rate(im_grpc_requests_total[5m])')).toThrow();
  });
});

describe('deploy/grafana/im-backend-dashboard.json', () => {
  const dashboard: Doc = JSON.parse(read('grafana/im-backend-dashboard.json'));
  const panels: Doc[] = dashboard.panels.filter((p: Doc) => p.type !== 'row');
  const exprs = panels.flatMap((p) => p.targets.map((t: Doc) => ({ where: `${p.title} ${t.refId}`, expr: t.expr as string })));

  it('is an importable dashboard: title, uid, schema version, unique panel ids laid out on the grid', () => {
    expect(dashboard).toMatchObject({ title: expect.any(String), uid: 'im-backend', schemaVersion: expect.any(Number) });
    const ids = dashboard.panels.map((p: Doc) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of dashboard.panels) {
      expect(p.gridPos.x + p.gridPos.w).toBeLessThanOrEqual(24);
      expect(p.gridPos.w).toBeGreaterThan(0);
    }
  });

  it('takes its data source and service from variables, so it works on any Prometheus', () => {
    const variables = dashboard.templating.list.map((v: Doc) => v.name);
    expect(variables).toEqual(['datasource', 'job']);
    for (const p of panels) {
      expect({ panel: p.title, ds: p.datasource.uid }).toEqual({ panel: p.title, ds: '${datasource}' });
      for (const t of p.targets) expect({ panel: p.title, filtered: t.expr.includes('job=~"$job"') }).toEqual({ panel: p.title, filtered: true });
    }
  });

  it('queries only metrics and labels that metrics.ts registers', async () => {
    const known = await registered();
    expect(exprs.length).toBeGreaterThan(10);
    for (const { where, expr } of exprs) expectOnlyRegistered(known, where, expr);
  });

  it('covers gRPC rate, latency and errors, consumer lag, DLQ counts, outbox backlog and projection progress', () => {
    const all = exprs.map((e) => e.expr).join('\n');
    for (const metric of [
      'im_grpc_requests_total',
      'im_grpc_request_duration_seconds_bucket',
      'im_kafka_consumer_lag',
      'im_kafka_dead_letters_total',
      'im_outbox_backlog',
      'im_outbox_published_total',
      'im_kafka_records_applied_total',
      'im_kafka_consumer_errors_total',
    ]) {
      expect({ metric, shown: all.includes(metric) }).toEqual({ metric, shown: true });
    }
    expect(all).toMatch(/histogram_quantile\(0\.99,/);
    expect(all).toMatch(/code=~"[^"]*INTERNAL/);
  });
});

describe('deploy/prometheus/alerts.yaml', () => {
  const rules: Doc = parse(read('prometheus/alerts.yaml'));
  const alerts: Doc[] = rules.groups.flatMap((g: Doc) => g.rules);

  it('is a Prometheus rule file: named groups of alerts with severity, summary and description', () => {
    expect(rules.groups.length).toBeGreaterThan(0);
    for (const group of rules.groups) expect(group).toEqual({ name: expect.stringMatching(/^im-backend-/), rules: expect.any(Array) });
    const names = alerts.map((a) => a.alert);
    expect(new Set(names).size).toBe(names.length);
    for (const a of alerts) {
      expect(a.alert).toMatch(/^Im[A-Z][A-Za-z]+$/);
      expect(['warning', 'critical']).toContain(a.labels.severity);
      expect(a.annotations).toEqual({ summary: expect.any(String), description: expect.any(String), runbook_url: `docs/runbooks.md#${a.alert.toLowerCase()}` });
      if (a.for !== undefined) expect(a.for).toMatch(/^\d+[smh]$/);
      expect(Object.keys(a).every((k) => ['alert', 'expr', 'for', 'labels', 'annotations', 'keep_firing_for'].includes(k))).toBe(true);
    }
  });

  it('links every alert to its section of the runbooks, and has no section without an alert', () => {
    const sections = [...readFileSync(join(__dirname, '..', 'docs', 'runbooks.md'), 'utf8').matchAll(/^### (\S+)$/gm)].map((m) => m[1]);
    expect(sections.sort()).toEqual(alerts.map((a) => a.alert).sort());
  });

  it('names in every expression a metric from metrics.ts, and only labels it registers', async () => {
    const known = await registered();
    for (const a of alerts) expectOnlyRegistered(known, a.alert, a.expr);
  });

  it('alerts on server errors, latency, lag, failing or stalled consumers, dead letters and the outbox', () => {
    const all = alerts.map((a) => a.expr).join('\n');
    for (const metric of [
      'im_grpc_requests_total',
      'im_grpc_request_duration_seconds_bucket',
      'im_kafka_consumer_lag',
      'im_kafka_consumer_errors_total',
      'im_kafka_records_applied_total',
      'im_kafka_dead_letters_total',
      'im_outbox_backlog',
      'im_outbox_published_total',
    ]) {
      expect({ metric, alerted: all.includes(metric) }).toEqual({ metric, alerted: true });
    }
  });
});
