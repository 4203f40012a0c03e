/**
 * The alerts (PrometheusRule) and the Grafana dashboard query only metrics the shim exports, with
 * labels those metrics have; every query parses as PromQL (Prometheus' own lezer grammar); the alerts
 * the admin needs exist; docs/deploy.md explains every metric and every alert.
 */
import { expect } from 'chai';
import { parser } from '@prometheus-io/lezer-promql';
import type { SyntaxNode } from '@lezer/common';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../../src/common/paths.js';
import { ShimMetrics } from '../../src/shim/metrics.js';
import { parseManifests } from './support.js';

/** Labels Prometheus adds to every scraped series (ServiceMonitor targets plus the `node` relabeling). */
const TARGET_LABELS = ['node', 'instance', 'job', 'pod', 'namespace', 'service', 'endpoint', 'container'];

/** Every series name the shim's registry exposes, with the labels it carries. */
function exportedSeries(): Map<string, Set<string>> {
  const series = new Map<string, Set<string>>();
  const metrics = new ShimMetrics({ processMetrics: true });
  for (const metric of metrics.registry.getMetricsAsArray()) {
    const m = metric as unknown as { name: string; labelNames?: string[]; constructor: { name: string } };
    const labels = new Set([...(m.labelNames ?? []), ...TARGET_LABELS]);
    const kind = m.constructor.name;
    if (kind === 'Histogram') {
      series.set(`${m.name}_bucket`, new Set([...labels, 'le']));
      series.set(`${m.name}_sum`, labels);
      series.set(`${m.name}_count`, labels);
    } else if (kind === 'Summary') {
      series.set(m.name, new Set([...labels, 'quantile']));
      series.set(`${m.name}_sum`, labels);
      series.set(`${m.name}_count`, labels);
    } else {
      series.set(m.name, labels);
    }
  }
  return series;
}

interface SelectorUse {
  metric: string;
  labels: string[];
}

/** Parses a PromQL expression; throws at the first syntax error; returns its vector selectors. */
function selectors(expr: string): SelectorUse[] {
  const tree = parser.parse(expr);
  const found: SelectorUse[] = [];
  const cursor = tree.cursor();
  do {
    if (cursor.type.isError) throw new Error(`PromQL syntax error at ${cursor.from} in: ${expr}`);
    if (cursor.name === 'VectorSelector') {
      const node: SyntaxNode = cursor.node;
      const identifier = node.getChild('Identifier');
      if (!identifier) throw new Error(`selector without a metric name in: ${expr}`);
      const labels: string[] = [];
      const matchers = node.getChild('LabelMatchers');
      if (matchers) {
        const inner = matchers.cursor();
        do if (inner.name === 'LabelName') labels.push(expr.slice(inner.from, inner.to));
        while (inner.next() && inner.from < matchers.to);
      }
      found.push({ metric: expr.slice(identifier.from, identifier.to), labels });
    }
  } while (cursor.next());
  return found;
}

/** Dashboard template variables: `label_values(<selector>, <label>)`. */
function templateSelector(query: string): { selector: string; label: string } {
  const match = /^label_values\((.+),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$/.exec(query.trim());
  if (!match) throw new Error(`template query "${query}": only label_values(selector, label) is used`);
  return { selector: match[1]!, label: match[2]! };
}

const rule = parseManifests(readFileSync(path.join(packageRoot, 'manifests', 'base', 'prometheusrule.yaml'), 'utf8'), 'prometheusrule.yaml')[0] as any;
const allRules: { alert?: string; record?: string; expr: string; labels: { severity: string }; annotations: Record<string, string> }[] = rule.spec.groups.flatMap((g: any) => g.rules);
const alerts = allRules.filter((r) => r.alert !== undefined) as Array<(typeof allRules)[number] & { alert: string }>;
const records = allRules.filter((r) => r.record !== undefined) as Array<(typeof allRules)[number] & { record: string }>;

/**
 * Series the descheduler's recording rules read besides the shim's: kube-state-metrics' allocatable
 * (kube_node_status_allocatable{node,resource,unit}) and node-exporter's MemAvailable (instance is the node).
 */
const EXTERNAL_SERIES: Record<string, string[]> = {
  kube_node_status_allocatable: ['node', 'resource', 'unit', 'job', 'instance', 'namespace', 'pod', 'service', 'endpoint', 'container'],
  node_memory_MemAvailable_bytes: ['instance', 'job', 'node', 'namespace', 'pod', 'service', 'endpoint', 'container'],
};
const dashboard = JSON.parse(readFileSync(path.join(packageRoot, 'manifests', 'base', 'dashboards', 'kubemom.json'), 'utf8'));
const panelQueries: { panel: string; expr: string }[] = dashboard.panels.flatMap((p: any) => (p.targets ?? []).map((t: any) => ({ panel: p.title, expr: t.expr })));

describe('monitoring: alerts and dashboard', () => {
  const series = exportedSeries();

  function checkQuery(where: string, expr: string): void {
    const uses = selectors(expr);
    expect(uses, `${where}: ${expr}`).to.not.be.empty;
    for (const use of uses) {
      const labels = series.get(use.metric);
      expect(labels, `${where}: ${use.metric} is not exported by the shim`).to.not.equal(undefined);
      for (const label of use.labels) expect([...labels!], `${where}: ${use.metric} has no label "${label}"`).to.include(label);
    }
  }

  it('recording rules parse and use only the shim\'s metrics, allocatable, MemAvailable and earlier records', () => {
    expect(records.map((r) => r.record)).to.include('instance:kubemom_memory_utilization:avg1m');
    for (const [name, labels] of Object.entries(EXTERNAL_SERIES)) series.set(name, new Set(labels));
    for (const r of records) {
      checkQuery(`record ${r.record}`, r.expr);
      series.set(r.record, new Set(['node', 'instance']));
    }
    for (const name of Object.keys(EXTERNAL_SERIES)) series.delete(name);
  });

  it('alert expressions parse and use only the shim\'s metrics and their labels', () => {
    expect(alerts.length).to.be.greaterThan(5);
    for (const a of alerts) checkQuery(`alert ${a.alert}`, a.expr);
  });

  it('dashboard queries and template variables parse and use only the shim\'s metrics and their labels', () => {
    expect(panelQueries.length).to.be.greaterThan(20);
    for (const q of panelQueries) checkQuery(`panel "${q.panel}"`, q.expr.replace(/\$[a-z]+/g, 'x'));
    for (const v of dashboard.templating.list.filter((t: any) => t.type === 'query')) {
      const { selector, label } = templateSelector(v.query.query);
      checkQuery(`variable ${v.name}`, selector.replace(/\$[a-z]+/g, 'x'));
      expect([...series.get(selectors(selector)[0]!.metric)!]).to.include(label);
    }
  });

  it('the check itself refuses unknown metrics, unknown labels and bad PromQL', () => {
    expect(() => checkQuery('t', 'kubemom_no_such_metric > 0')).to.throw(/kubemom_no_such_metric is not exported/);
    expect(() => checkQuery('t', 'kubemom_ksm_backoff{colour="red"} == 1')).to.throw(/has no label "colour"/);
    expect(() => selectors('sum by (node (kubemom_ksm_backoff)')).to.throw(/syntax error/);
  });

  it('the dashboard has unique panel ids, panels on the 24-column grid without overlaps, one datasource variable', () => {
    const panels: { id: number; type: string; datasource?: { uid: string }; gridPos: { x: number; y: number; w: number; h: number } }[] = dashboard.panels;
    expect(new Set(panels.map((p) => p.id)).size).to.equal(panels.length);
    for (const p of panels) {
      expect(p.gridPos.x + p.gridPos.w, `panel ${p.id}`).to.be.at.most(24);
      if (p.type !== 'row') expect(p.datasource?.uid, `panel ${p.id}`).to.equal('${datasource}');
    }
    for (const [i, a] of panels.entries()) {
      for (const b of panels.slice(i + 1)) {
        const apart = a.gridPos.x + a.gridPos.w <= b.gridPos.x || b.gridPos.x + b.gridPos.w <= a.gridPos.x || a.gridPos.y + a.gridPos.h <= b.gridPos.y || b.gridPos.y + b.gridPos.h <= a.gridPos.y;
        expect(apart, `panels ${a.id} and ${b.id} overlap`).to.equal(true);
      }
    }
    expect(dashboard.templating.list.filter((t: any) => t.type === 'datasource').map((t: any) => t.name)).to.deep.equal(['datasource']);
  });

  it('has the alerts an admin needs, each with a severity and a summary', () => {
    const names = alerts.map((a) => a.alert);
    for (const required of ['KubeMomNodeMemoryPressure', 'KubeMomSidecarStale', 'KubeMomKsmFightingAnotherWriter', 'KubeMomReclaimFailing']) {
      expect(names).to.include(required);
    }
    expect(new Set(names).size).to.equal(names.length);
    for (const a of alerts) {
      expect(['critical', 'warning', 'info'], a.alert).to.include(a.labels.severity);
      expect(a.annotations.summary, a.alert).to.be.a('string').and.not.be.empty;
    }
  });

  it('docs/deploy.md explains every alert, recording rule and metric the shim exports', () => {
    const doc = readFileSync(path.join(packageRoot, 'docs', 'deploy.md'), 'utf8');
    for (const a of alerts) expect(doc, a.alert).to.include(`\`${a.alert}\``);
    for (const r of records) expect(doc, r.record).to.include(`\`${r.record}\``);
    const metrics = new ShimMetrics({ processMetrics: false });
    for (const metric of metrics.registry.getMetricsAsArray()) {
      const name = (metric as unknown as { name: string }).name;
      expect(doc, name).to.include(`\`${name}\``);
    }
  });
});
