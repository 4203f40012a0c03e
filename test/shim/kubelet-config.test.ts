/**
 * The kubelet's config file as the shim reads it (--kubelet-config): the fields it takes, the kubelet's own
 * defaulting rules, errors naming file:line:col and the field, unknown fields reported, flags overriding the
 * file, and the real `kubemom shim` refusing a bad file with exit 2.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadKubeletConfig, shimOptionsFromFlags } from '../../src/cli/shim-command.js';
import { InputError } from '../../src/common/errors.js';
import { packageRoot } from '../../src/common/paths.js';
import { MINIMAL_SHIM_FLAGS } from './support.js';
import { kubepodsUnder, parseKubeletConfig } from '../../src/shim/host/kubelet-config.js';

const MiB = 2 ** 20;
const GiB = 2 ** 30;

/** A kubeadm-style config (systemd driver), as /var/lib/kubelet/config.yaml looks on such a node. */
const KUBEADM = `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  anonymous:
    enabled: false
cgroupDriver: systemd
clusterDNS:
- 10.96.0.10
evictionHard:
  memory.available: 500Mi
  nodefs.available: 10%
evictionSoft:
  memory.available: 1.5Gi
evictionSoftGracePeriod:
  memory.available: 1m30s
systemReserved:
  cpu: 500m
  memory: 1Gi
kubeReserved:
  memory: 512Mi
enforceNodeAllocatable:
- pods
rotateCertificates: true
`;

function expectFieldError(text: string, where: RegExp, problem: RegExp): void {
  try {
    parseKubeletConfig('/etc/k/config.yaml', text);
  } catch (error) {
    expect(error).to.be.instanceOf(InputError);
    expect((error as InputError).field).to.match(where);
    expect((error as InputError).problem).to.match(problem);
    return;
  }
  expect.fail(`no error for: ${text}`);
}

describe("the kubelet's config file", () => {
  it('takes the eviction thresholds, grace period, reservations, enforcement and driver', () => {
    const v = parseKubeletConfig('config.yaml', KUBEADM);
    expect(v).to.deep.equal({
      evictionHard: { kind: 'bytes', bytes: 500 * MiB },
      evictionSoft: { kind: 'bytes', bytes: 1.5 * GiB },
      evictionSoftGracePeriodMs: 90_000,
      systemReservedMemoryBytes: GiB,
      kubeReservedMemoryBytes: 512 * MiB,
      enforcePodsAllocatable: true,
      cgroupDriver: 'systemd',
      unknownFields: [],
    });
  });

  it("follows the kubelet's defaulting: an evictionHard without memory.available has none unless defaults are merged", () => {
    expect(parseKubeletConfig('c', 'evictionHard:\n  nodefs.available: 10%\n').evictionHard).to.equal(null);
    expect(parseKubeletConfig('c', 'evictionHard:\n  nodefs.available: 10%\nmergeDefaultEvictionSettings: true\n')).to.not.have.property('evictionHard');
    expect(parseKubeletConfig('c', 'evictionHard:\n  memory.available: "5%"\n').evictionHard).to.deep.equal({ kind: 'percent', percent: 5 });
    expect(parseKubeletConfig('c', 'enforceNodeAllocatable: [pods]\ncgroupsPerQOS: false\n').enforcePodsAllocatable).to.equal(false);
    expect(parseKubeletConfig('c', 'enforceNodeAllocatable: [none]\n').enforcePodsAllocatable).to.equal(false);
    expect(parseKubeletConfig('c', '')).to.deep.equal({ unknownFields: [] });
  });

  it('finds the pods cgroup under a non-root cgroupRoot for either driver', () => {
    expect(kubepodsUnder('/', 'systemd')).to.equal('kubepods.slice');
    expect(kubepodsUnder('/kubelet.slice', 'systemd')).to.equal('kubelet.slice/kubelet-kubepods.slice');
    expect(kubepodsUnder('/kubelet', 'cgroupfs')).to.equal('kubelet/kubepods');
    expect(parseKubeletConfig('c', 'cgroupRoot: /kubelet\n').kubepodsCgroup).to.equal('kubelet/kubepods');
    expect(parseKubeletConfig('c', 'cgroupRoot: /\ncgroupDriver: systemd\n').kubepodsCgroup).to.equal(undefined);
  });

  it('reports fields KubeletConfiguration does not have instead of failing', () => {
    expect(parseKubeletConfig('c', 'evictionHard: {memory.available: 100Mi}\nfancyNewThing: 3\nmaxPods: 250\n').unknownFields).to.deep.equal(['fancyNewThing']);
  });

  it('names the file, line, column and field of every bad value', () => {
    expectFieldError('evictionHard:\n  memory.available: lots\n', /^\/etc\/k\/config\.yaml:2:21: evictionHard\["memory\.available"\]$/, /"lots" is not accepted/);
    expectFieldError('evictionHard: 100Mi\n', /:1:15: evictionHard$/, /accepted: a mapping/);
    expectFieldError('cgroupDriver: sysd\n', /:1:15: cgroupDriver$/, /accepted: systemd, cgroupfs/);
    expectFieldError('enforceNodeAllocatable: [podz]\n', /enforceNodeAllocatable$/, /accepted: pods/);
    expectFieldError('enforceNodeAllocatable: pods\n', /enforceNodeAllocatable$/, /a list of strings/);
    expectFieldError('evictionSoft: {memory.available: 1Gi}\n', /evictionSoft\["memory\.available"\]$/, /grace period/);
    expectFieldError('evictionSoft: {memory.available: 1Gi}\nevictionSoftGracePeriod: {memory.available: soon}\n', /:2:45: evictionSoftGracePeriod\["memory\.available"\]$/, /Go duration/);
    expectFieldError('systemReserved: {memory: a lot}\n', /systemReserved\.memory$/, /Kubernetes quantity/);
    expectFieldError('kind: KubeProxyConfiguration\n', /kind$/, /accepted: KubeletConfiguration/);
    expectFieldError('cgroupsPerQOS: "yes"\n', /cgroupsPerQOS$/, /accepted: a boolean/);
    expectFieldError('cgroupRoot: /../../etc\n', /cgroupRoot$/, /a cgroup path/);
    expectFieldError('evictionHard:\n  memory.available: 1Gi\n  memory.available: 2Gi\n', /^\/etc\/k\/config\.yaml:3:\d+$/, /not valid YAML/);
    expectFieldError('- a list\n', /\(document\)$/, /not a mapping/);
  });

  it('is read from <kubelet-root>/config.yaml when present; an explicit file must exist', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'km-kubelet-'));
    try {
      expect(loadKubeletConfig({ kubeletRoot: dir })).to.equal(undefined);
      writeFileSync(path.join(dir, 'config.yaml'), KUBEADM);
      expect(loadKubeletConfig({ kubeletRoot: dir })?.values.cgroupDriver).to.equal('systemd');
      expect(loadKubeletConfig({ kubeletRoot: dir, kubeletConfig: '' })).to.equal(undefined);
      expect(() => loadKubeletConfig({ kubeletRoot: dir, kubeletConfig: path.join(dir, 'nope.yaml') })).to.throw(InputError, /--kubelet-config.*does not exist/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('is overridden by every flag given explicitly', () => {
    const flags = { ...MINIMAL_SHIM_FLAGS, cgroupRoot: '/sys/fs/cgroup' };
    const config = parseKubeletConfig('c', `${KUBEADM}cgroupRoot: /kubelet.slice\n`);
    const fromFile = shimOptionsFromFlags(flags, config);
    expect(fromFile).to.deep.include({
      evictionHard: { kind: 'bytes', bytes: 500 * MiB },
      evictionSoft: { kind: 'bytes', bytes: 1.5 * GiB },
      evictionSoftGracePeriodMs: 90_000,
      enforcePodsAllocatable: true,
      cgroupDriver: 'systemd',
      kubepodsCgroup: 'kubelet.slice/kubelet-kubepods.slice',
      // What the pods cgroup's limit is checked against at start: MemTotal less both reservations.
      kubeletReservedBytes: GiB + 512 * MiB,
    });
    const overridden = shimOptionsFromFlags(
      { ...flags, evictionHard: 'memory.available<1Gi', evictionSoft: 'memory.available<2Gi', evictionSoftGracePeriod: 'memory.available=10s', enforceNodeAllocatable: 'none', cgroupDriver: 'cgroupfs', kubepodsCgroup: 'kp' },
      config,
    );
    expect(overridden).to.deep.include({
      evictionHard: { kind: 'bytes', bytes: GiB },
      evictionSoft: { kind: 'bytes', bytes: 2 * GiB },
      evictionSoftGracePeriodMs: 10_000,
      enforcePodsAllocatable: false,
      cgroupDriver: 'cgroupfs',
      kubepodsCgroup: 'kp',
    });
    // No flag and no file: the kubelet's default hard threshold.
    expect(shimOptionsFromFlags(flags).evictionHard).to.deep.equal({ kind: 'bytes', bytes: 100 * MiB });
    // A file whose evictionHard has no memory.available: none.
    expect(shimOptionsFromFlags(flags, parseKubeletConfig('c', 'evictionHard: {nodefs.available: 10%}\n'))).to.not.have.property('evictionHard');
  });

  it('makes `kubemom shim` refuse a bad file with exit 2 and one line naming the field', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'km-kubelet-cli-'));
    try {
      mkdirSync(path.join(dir, 'kubelet'));
      const file = path.join(dir, 'config.yaml');
      writeFileSync(file, 'evictionHard:\n  memory.available: lots\n');
      const r = spawnSync(process.execPath, [path.join(packageRoot, 'dist', 'src', 'cli', 'main.js'), 'shim', '--kubelet-config', file, '--kubelet-root', path.join(dir, 'kubelet'), '--metrics-address', ''], {
        encoding: 'utf8',
        timeout: 60_000,
        env: { ...process.env, KUBEMOM_DEBUG: '' },
      });
      expect(r.status, r.stderr).to.equal(2);
      expect(r.stderr).to.contain(`${file}:2:21: evictionHard["memory.available"]`);
      expect(r.stderr).to.not.match(/\n\s+at /);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
