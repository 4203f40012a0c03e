import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../../src/common/paths.js';
import { checkPolicy, compilePolicy } from '../../src/policy/lang/policy-file.js';
import { yamlPolicy } from '../../src/policy/lang/yaml-policy.js';
import { createPolicy } from '../../src/policy/registry.js';
import { momCpuTune, vmCpuTune } from '../../src/policy/mom/cputune.js';
import { decideIoPressure, IO_PRESSURE_DEFAULTS, throttleFor } from '../../src/balloon/io-pressure.js';
import type { GuestState, HostSample, IoRates, PolicyDecisions, PolicyInput } from '../../src/policy/types.js';

const Mi = 2 ** 20;
const NOW = 1_700_000_000_000;
const readText = (p: string): string => readFileSync(path.isAbsolute(p) ? p : path.join(packageRoot, p), 'utf8');

function host(ioSome10: number | undefined, ioSome60 = ioSome10 ?? 0): HostSample {
  const s: HostSample = {
    atMs: NOW, memTotalBytes: 32768 * Mi, memFreeBytes: 16384 * Mi, memAvailableBytes: 20000 * Mi, buffersBytes: 0, cachedBytes: 4096 * Mi,
    anonPagesBytes: 8192 * Mi, swapTotalBytes: 0, swapFreeBytes: 0,
  };
  if (ioSome10 !== undefined) s.ioPsi = { someAvg10: ioSome10, someAvg60: ioSome60, fullAvg10: 0, fullAvg60: 0, someTotalUs: 0, fullTotalUs: 0 };
  return s;
}

function guest(name: string, priority: number, opts: { optIn?: boolean; ioLimits?: IoRates } = {}): GuestState {
  return {
    id: `ns/${name}`, namespace: 'ns', name, uid: name, guestMemoryBytes: 1024 * Mi, guaranteedMemoryBytes: 512 * Mi, marginBytes: 0, priority, policy: 'default',
    phase: 'running', phaseSinceMs: NOW - 3_600_000, balloonActualBytes: 1024 * Mi,
    history: [{ atMs: NOW - 5000, freeBytes: 600 * Mi, availableBytes: 700 * Mi, totalBytes: 1000 * Mi, balloonActualBytes: 1024 * Mi }, { atMs: NOW, freeBytes: 600 * Mi, availableBytes: 700 * Mi, totalBytes: 1000 * Mi, balloonActualBytes: 1024 * Mi }],
    ioThrottle: opts.optIn ?? true, ioLimits: opts.ioLimits ?? {}, vcpus: 2, cpuLimitMillicores: 1000,
  };
}

function input(h: HostSample, guests: GuestState[]): PolicyInput {
  return { nowMs: NOW, host: { history: [h], cpuCount: 8, evictionHardBytes: 100 * Mi }, guests };
}

function io(d: PolicyDecisions): Record<string, IoRates> {
  return Object.fromEntries((d.io ?? []).map((x) => [x.guestId, x.limits]));
}

describe('policy io output: the declarative language', () => {
  const file = 'examples/io-pressure.yaml';
  const run = (i: PolicyInput): PolicyDecisions => {
    const p = yamlPolicy(compilePolicy(file, readText(file)));
    return p.evaluate(i, p.initialState()).decisions;
  };

  it('throttles opted-in VMs by priority under IO pressure, never the others', () => {
    const d = run(input(host(30, 10), [guest('low', 0), guest('mid', 50), guest('high', 100), guest('out', 0, { optIn: false })]));
    expect(io(d)).to.deep.equal({
      'ns/low': { total_bytes_sec: Math.trunc(50 * Mi * 0.25), total_iops_sec: 125 },
      'ns/mid': { total_bytes_sec: 50 * Mi, total_iops_sec: 500 },
      'ns/high': { total_bytes_sec: 100 * Mi, total_iops_sec: 1000 },
    });
  });
  it('holds between the levels and lifts when the pressure has ended', () => {
    const throttled = { total_bytes_sec: 50 * Mi, total_iops_sec: 500 };
    expect(io(run(input(host(10, 10), [guest('mid', 50, { ioLimits: throttled })])))).to.deep.equal({});
    expect(io(run(input(host(1, 2), [guest('mid', 50, { ioLimits: throttled })])))).to.deep.equal({ 'ns/mid': {} });
  });
  it('a rule reading host.io_psi_* is skipped on a node without IO PSI', () => {
    expect(run(input(host(undefined), [guest('mid', 50)])).io).to.equal(undefined);
  });
  it('rejects io outputs in Host scope and names the accepted ones in VM scope', () => {
    const errors = checkPolicy('bad.yaml', 'scope: Host\nrules:\n  - {output: io.total_bytes_sec, target: 1}\n---\nscope: VM\nrules:\n  - {output: io.bps, target: 1}\n');
    expect(errors.map((e) => e.message).join('\n')).to.match(/accepted in scope Host: ksm\.run/).and.match(/accepted in scope VM: memory\.balloon, io\.total_bytes_sec, io\.read_bytes_sec/);
  });
});

describe('policy io output: mom (05-iotune) and default', () => {
  it('mom: limits set to the policy maximum when enabled, unlimited otherwise; only opted-in VMs', () => {
    const guests = [guest('a', 50), guest('b', 50, { optIn: false })];
    const on = createPolicy('mom', { ioTuneEnabled: true, ioTotalBytesSec: 20 * Mi, ioReadIopsSec: 300 }, readText);
    expect(on.evaluate(input(host(0), guests), on.initialState()).decisions.io).to.deep.equal([{ guestId: 'ns/a', limits: { total_bytes_sec: 20 * Mi, read_iops_sec: 300 }, reason: 'iotune-max' }]);
    const off = createPolicy('mom', { ioTotalBytesSec: 20 * Mi }, readText);
    const throttled = [guest('a', 50, { ioLimits: { total_bytes_sec: Mi } }), guest('b', 50, { optIn: false })];
    expect(off.evaluate(input(host(0), throttled), off.initialState()).decisions.io).to.deep.equal([{ guestId: 'ns/a', limits: {}, reason: 'iotune-off' }]);
    // Unchanged values are not decided again (as KSM's).
    expect(off.evaluate(input(host(0), guests), off.initialState()).decisions.io).to.equal(undefined);
    expect(() => createPolicy('mom', { ioTotalBytesSec: -1 }, readText)).to.throw('parameters.ioTotalBytesSec: is -1; accepted: a whole number >= 0 (0 is unlimited)');
  });
  it('policies/mom.yaml decides IO exactly as the built-in mom', () => {
    const guests = [guest('a', 50), guest('b', 10, { optIn: false }), guest('c', 90, { ioLimits: { total_iops_sec: 5 } })];
    for (const params of [{} as Record<string, number | boolean>, { ioTuneEnabled: true, ioTotalBytesSec: 20 * Mi, ioWriteIopsSec: 300 }, { ioTuneEnabled: true, ioTotalIopsSec: 7, ioReadIopsSec: 9 }]) {
      const a = createPolicy('mom', params, readText);
      const b = createPolicy('policies/mom.yaml', params, readText);
      expect(b.evaluate(input(host(0), guests), b.initialState()).decisions.io).to.deep.equal(a.evaluate(input(host(0), guests), a.initialState()).decisions.io);
    }
  });
  it('default: throttles at IO PSI >= 20 by priority, holds, lifts under 5, and only sends changes', () => {
    const p = IO_PRESSURE_DEFAULTS;
    expect(decideIoPressure(host(25, 3), [guest('a', 25), guest('b', 75, { optIn: false })], p)).to.deep.equal([{ guestId: 'ns/a', limits: throttleFor(25, p), reason: 'io-pressure' }]);
    expect(throttleFor(25, p)).to.deep.equal({ total_bytes_sec: Math.round(50 * Mi / 2), total_iops_sec: 250 });
    expect(decideIoPressure(host(25), [guest('a', 25, { ioLimits: throttleFor(25, p) })], p)).to.deep.equal([]);
    expect(decideIoPressure(host(10, 3), [guest('a', 25, { ioLimits: throttleFor(25, p) })], p)).to.deep.equal([]);
    expect(decideIoPressure(host(2, 6), [guest('a', 25, { ioLimits: throttleFor(25, p) })], p)).to.deep.equal([]);
    expect(decideIoPressure(host(2, 3), [guest('a', 25, { ioLimits: throttleFor(25, p) })], p)).to.deep.equal([{ guestId: 'ns/a', limits: {}, reason: 'io-calm' }]);
    expect(decideIoPressure(host(undefined), [guest('a', 25, { ioLimits: throttleFor(25, p) })], p)).to.deep.equal([]);
    const d = createPolicy('default', { ioThrottleBytesSec: Mi, ioThrottleIopsSec: 0 }, readText);
    expect(io(d.evaluate(input(host(40), [guest('a', 50)]), d.initialState()).decisions)).to.deep.equal({ 'ns/a': { total_bytes_sec: Mi } });
  });
});

describe('CPU tune: MOM formula and the KubeVirt mapping', () => {
  it("reproduces vdsm's expectations", () => {
    expect(momCpuTune({ cpuTuneEnabled: true, vcpuUserLimit: 50, hostCpuCount: 1, vcpuCount: 1 })).to.deep.equal({ quota: 50000, period: 100000 });
    expect(momCpuTune({ cpuTuneEnabled: true, vcpuUserLimit: 50, hostCpuCount: 120, vcpuCount: 100 })).to.deep.equal({ quota: 60000, period: 100000 });
    expect(momCpuTune({ cpuTuneEnabled: true, vcpuUserLimit: 10, hostCpuCount: 1, vcpuCount: 100 })).to.deep.equal({ quota: 1100, period: 1100000 });
    expect(momCpuTune({ cpuTuneEnabled: true, vcpuUserLimit: 100, hostCpuCount: 120, vcpuCount: 100 })).to.deep.equal({ quota: -1, period: 100000 });
  });
  it('maps the pod CPU limit to vcpu_user_limit: MOM would give the vCPUs the same cores, split per vCPU', () => {
    expect(vmCpuTune('x', 2, 1000, 8)).to.deep.equal({ guestId: 'x', vcpus: 2, vcpuUserLimit: 12.5, quota: 50000, period: 100000, kubernetesLimitCores: 1, momLimitCores: 1 });
    expect(vmCpuTune('x', 4, undefined, 8)).to.deep.equal({ guestId: 'x', vcpus: 4, vcpuUserLimit: 100, quota: -1, period: 100000 });
    // A tiny limit per vCPU: MOM stretches the period so the quota stays over 1 ms.
    const t = vmCpuTune('x', 16, 100, 8);
    expect(t.quota).to.be.above(1000);
    expect(t.momLimitCores).to.be.closeTo(0.1, 1e-9);
  });
  it('kubemom policy eval prints cpuTune for guests with vCPUs', () => {
    const state = JSON.stringify(input(host(0), [guest('a', 50)]));
    const r = spawnSync(process.execPath, [path.join(packageRoot, 'dist', 'src', 'cli', 'main.js'), 'policy', 'eval', '--policy', 'mom', '--state', '-'], { input: state, encoding: 'utf8', env: { ...process.env, KUBEMOM_LOG_LEVEL: 'silent' } });
    expect(r.status, r.stderr).to.equal(0);
    const out = JSON.parse(r.stdout) as { cpuTune: unknown[]; io?: unknown[] };
    expect(out.cpuTune).to.deep.equal([{ guestId: 'ns/a', vcpus: 2, vcpuUserLimit: 12.5, quota: 50000, period: 100000, kubernetesLimitCores: 1, momLimitCores: 1 }]);
    expect(out.io).to.equal(undefined);
  });
});
