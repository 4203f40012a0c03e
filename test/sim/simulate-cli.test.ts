import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { packageRoot } from '../../src/common/paths.js';

const main = path.join(packageRoot, 'dist', 'src', 'cli', 'main.js');

function run(args: string[]) {
  return spawnSync(process.execPath, [main, 'simulate', ...args], { encoding: 'utf8', timeout: 60_000 });
}

describe('kubemom simulate (CLI)', () => {
  let dir: string;
  let scenario: string;
  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'kubemom-sim-'));
    scenario = path.join(dir, 's.yaml');
    writeFileSync(scenario, 'name: cli\ndurationSeconds: 120\nnode: { memory: 8Gi }\nguests:\n  - { name: vm, count: 3, memory: 2Gi, workload: { model: page-cache, fillSeconds: 30 } }\n');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('prints JSON with one result per policy, in the order given', () => {
    const r = run(['--scenario', scenario, '--policy', 'static', '--policy', 'mom', '--policy', 'autoballoon', '--json']);
    expect(r.status, r.stderr).to.equal(0);
    const out = JSON.parse(r.stdout);
    expect(out.scenario).to.equal('cli');
    expect(out.results.map((x: { policy: string }) => x.policy)).to.deep.equal(['static', 'mom', 'autoballoon']);
    expect(out.results[0]).to.include({ guests: 3, survived: true, overcommit: 0.75 });
    expect(out.results[1].policyRuns.evaluations).to.equal(13);
    expect(out.results[0].timeline.guests).to.have.length(3);
  });

  it('prints a summary table and writes an SVG plot', () => {
    const svg = path.join(dir, 'plot.svg');
    const r = run(['--scenario', scenario, '--policy', 'static', '--policy', 'autoballoon', '--plot', svg, '--seed', '5']);
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/^cli: 3 guests, 6\.0 GiB of guest memory on a 8\.0 GiB node \(overcommit 0\.75x\), seed 5/);
    expect(r.stdout).to.match(/\nstatic +survived/);
    expect(r.stdout).to.match(/\nautoballoon +survived/);
    const text = readFileSync(svg, 'utf8');
    expect(text).to.match(/^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    // Per run: node available memory, and per guest group its median balloon and need (a band shows the spread).
    expect(text.match(/<polyline/g)).to.have.length(2 * (1 + 2 * 1));
    expect(text).to.contain('vm (3 guests)').and.contain('node available memory');
  });

  it('writes a PNG plot', () => {
    const png = path.join(dir, 'plot.png');
    const r = run(['--scenario', scenario, '--policy', 'default', '--plot', png]);
    expect(r.status, r.stderr).to.equal(0);
    const bytes = readFileSync(png);
    expect(bytes.subarray(0, 8).toString('hex')).to.equal('89504e470d0a1a0a');
    // IHDR width: the SVG's 960 px.
    expect(bytes.readUInt32BE(16)).to.equal(960);
  });

  it('refuses a bad scenario naming the field, exit status 2', () => {
    const bad = path.join(dir, 'bad.yaml');
    writeFileSync(bad, 'name: bad\ndurationSeconds: 10\nnode: { memory: 8Gi }\nguests:\n  - { name: vm, memory: 2Gi, workload: { model: wave } }\n');
    const r = run(['--scenario', bad, '--policy', 'static']);
    expect(r.status).to.equal(2);
    expect(r.stderr).to.match(/guests\[0\]\.workload\.model: is "wave"; accepted: idle, steady/);
  });

  it('refuses an unknown policy, listing the known ones', () => {
    const r = run(['--scenario', scenario, '--policy', 'nope']);
    expect(r.status).to.equal(2);
    expect(r.stderr).to.match(/--policy: is "nope"; accepted: default, mom, observe, static, autoballoon, or a policy file/);
  });

  it('exits 1 when a run has a failure', () => {
    const tight = path.join(dir, 'tight.yaml');
    writeFileSync(tight, 'name: tight\ndurationSeconds: 60\nnode: { memory: 4Gi }\nguests:\n  - { name: vm, count: 3, memory: 2Gi, workload: { model: steady, level: 0.9 } }\n');
    const r = run(['--scenario', tight, '--policy', 'static']);
    expect(r.status).to.equal(1);
    expect(r.stdout).to.match(/FAILED/);
  });
});
