/**
 * The shipped PrometheusRule, checked and evaluated by Prometheus' own promtool (Debian's
 * `prometheus` package): `promtool check rules` on its rule groups, and `promtool test
 * rules` on test/deploy/prometheusrule.tests.yaml, which must test every alert firing and
 * staying quiet, and every recording rule recording a value and recording nothing.
 */
import { expect } from 'chai';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { packageRoot } from '../../src/common/paths.js';
import { promtool } from '../../testbed/prometheus-server.js';
import { parseManifests } from './support.js';

interface Rule { alert?: string; record?: string; expr: string }
interface UnitTests {
  rule_files: string[];
  tests: Array<{
    name: string;
    alert_rule_test?: Array<{ alertname: string; exp_alerts: unknown[] }>;
    promql_expr_test?: Array<{ expr: string; exp_samples: unknown[] }>;
  }>;
}

const manifest = parseManifests(readFileSync(path.join(packageRoot, 'manifests', 'base', 'prometheusrule.yaml'), 'utf8'), 'prometheusrule.yaml')[0] as unknown as { spec: { groups: Array<{ name: string; rules: Rule[] }> } };
const rules = manifest.spec.groups.flatMap((g) => g.rules);
const testsFile = path.join(packageRoot, 'test', 'deploy', 'prometheusrule.tests.yaml');
const unitTests = parse(readFileSync(testsFile, 'utf8')) as UnitTests;

describe('PrometheusRule evaluated by promtool', function () {
  this.timeout(60_000);
  let dir: string;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'kubemom-rules-'));
    // What the Prometheus Operator hands Prometheus: the CR's spec.groups as a rule file.
    await writeFile(path.join(dir, 'rules.yaml'), stringify({ groups: manifest.spec.groups }));
    await copyFile(testsFile, path.join(dir, 'tests.yaml'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('promtool check rules accepts every rule group', async () => {
    const { stdout } = await promtool(['check', 'rules', 'rules.yaml'], dir);
    expect(stdout).to.include(`SUCCESS: ${rules.length} rules found`);
  });

  it('promtool check rules refuses a broken rule (the check is real)', async () => {
    await writeFile(path.join(dir, 'broken.yaml'), stringify({ groups: [{ name: 'x', rules: [{ alert: 'Broken', expr: 'sum by (node (kubemom_ksm_backoff)' }] }] }));
    let failure = '';
    await promtool(['check', 'rules', 'broken.yaml'], dir).catch((err: Error) => (failure = err.message));
    expect(failure).to.match(/broken\.yaml.*parse error/s);
  });

  it('every alert has a test where it fires and one where it stays quiet', () => {
    const alerts = rules.filter((r) => r.alert).map((r) => r.alert!);
    expect(alerts.length).to.be.greaterThan(10);
    const cases = unitTests.tests.flatMap((t) => t.alert_rule_test ?? []);
    for (const alert of alerts) {
      expect(cases.some((c) => c.alertname === alert && c.exp_alerts.length > 0), `${alert} fires`).to.equal(true);
      expect(cases.some((c) => c.alertname === alert && c.exp_alerts.length === 0), `${alert} stays quiet`).to.equal(true);
    }
    for (const c of cases) expect(alerts, `tests name unknown alert ${c.alertname}`).to.include(c.alertname);
  });

  it('every recording rule has a test where it records a value and one where it records nothing', () => {
    const records = rules.filter((r) => r.record).map((r) => r.record!);
    expect(records).to.include('instance:kubemom_memory_utilization:avg1m');
    const cases = unitTests.tests.flatMap((t) => t.promql_expr_test ?? []);
    const about = (record: string) => cases.filter((c) => c.expr === record || c.expr.startsWith(`${record}{`));
    for (const record of records) {
      expect(about(record).some((c) => c.exp_samples.length > 0), `${record} records`).to.equal(true);
      expect(about(record).some((c) => c.exp_samples.length === 0), `${record} records nothing`).to.equal(true);
    }
  });

  it('promtool test rules passes every unit test', async () => {
    expect(unitTests.rule_files).to.deep.equal(['rules.yaml']);
    const { stdout } = await promtool(['test', 'rules', 'tests.yaml'], dir);
    expect(stdout).to.include('SUCCESS');
  });

  it('promtool test rules fails when an expectation is wrong (the tests are real)', async () => {
    const wrong = readFileSync(testsFile, 'utf8').replace('Only 100MiB of available memory', 'Only 200MiB of available memory');
    await writeFile(path.join(dir, 'wrong.yaml'), wrong);
    let failure = '';
    await promtool(['test', 'rules', 'wrong.yaml'], dir).catch((err: Error) => (failure = err.message));
    expect(failure).to.match(/FAILED[\s\S]*KubeMomNodeNearEviction/);
  });
});
