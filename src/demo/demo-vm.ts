/**
 * One demo VM, wired as on a KubeVirt node: a real KubeMom sidecar (hook server and
 * kubemom.v1 agent) on its hook directory in a kubelet-style pods tree, told its VM
 * through a real OnDefineDomain call (virt-launcher's hook manager re-implemented in
 * src/kubevirt-sim/hook-manager.ts) with a KubeVirt-style VMI and domain, and a simulated
 * QEMU (a real QMP server) at the QMP socket path the sidecar injected into the domain.
 *
 * Paths: the pod's emptyDir lives at
 *   <kubelet root>/pods/<pod uid>/volumes/kubernetes.io~empty-dir/hook-sidecar-sockets/hook-sidecar-0/
 * where the shim finds it; virt-launcher and the sidecar see that same directory at a
 * short path (in a pod, a mount; here, a symlink `<root>/vm<i>/hook-sidecar-0`), which
 * keeps the QMP socket path under the 108-byte unix socket limit.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { AgentService } from '../agent/service.js';
import { packageRoot } from '../common/paths.js';
import { runSidecar, type RunningSidecar } from '../hook-sidecar/sidecar.js';
import { domainDisks } from '../hook-sidecar/domain-facts.js';
import { parseDomain } from '../hook-sidecar/domain-rewrite.js';
import { HOOK_SOCKETS_VOLUME } from '../shim/discovery.js';
import { discoverHooks, onDefineDomain, shutdownHooks, type DiscoveredHook } from '../kubevirt-sim/hook-manager.js';
import { SimulatedQemu, type SimulatedGuestModel } from '../kubevirt-sim/simulated-qemu.js';
import { qmpSocketInDomain, SIDECAR_CONTAINER } from '../kubevirt-sim/launcher.js';
import { MiB } from '../common/units.js';

export interface DemoVmSpec {
  namespace: string;
  name: string;
  memoryBytes: number;
  /** The pod's memory request: KubeMom's default guaranteed memory. */
  guaranteedBytes: number;
  priority: number;
  statsPeriodSeconds: number;
}

export interface DemoVm {
  spec: DemoVmSpec;
  podUid: string;
  vmiUid: string;
  /** The pod directory in the kubelet tree. */
  podDir: string;
  /** virt-launcher's hooks root for this VM (holds the short view of the hook directory). */
  launcherDir: string;
  qmpSocketPath: string;
  domainXml: string;
  sidecar: RunningSidecar;
  qemu: SimulatedQemu;
  /** Stops QEMU, sends Shutdown (as virt-launcher does after QEMU exits), stops the sidecar, removes the directories. */
  stop(): Promise<void>;
}

/** A KubeVirt-style VMI for the spec, from the bundled fixture (fixtures/kubevirt-vmi.json). */
export function demoVmi(spec: DemoVmSpec, uid: string, template: string): Record<string, unknown> {
  const vmi = JSON.parse(template) as {
    metadata: { name: string; namespace: string; uid: string; annotations: Record<string, string> };
    spec: { domain: { resources: { requests: { memory: string } }; memory: { guest: string }; firmware?: { uuid: string } } };
  };
  vmi.metadata.name = spec.name;
  vmi.metadata.namespace = spec.namespace;
  vmi.metadata.uid = uid;
  vmi.metadata.annotations = {
    ...vmi.metadata.annotations,
    'kubemom.io/stats-period': String(spec.statsPeriodSeconds),
    'kubemom.io/priority': String(spec.priority),
  };
  vmi.spec.domain.resources.requests.memory = `${Math.round(spec.guaranteedBytes / MiB)}Mi`;
  vmi.spec.domain.memory.guest = `${Math.round(spec.memoryBytes / MiB)}Mi`;
  if (vmi.spec.domain.firmware) vmi.spec.domain.firmware.uuid = uid;
  return vmi as unknown as Record<string, unknown>;
}

/** The domain virt-launcher would generate, from the bundled fixture (fixtures/kubevirt-domain.xml). */
export function demoDomain(spec: DemoVmSpec, uid: string, template: string): string {
  return template
    .replace(/<name>[^<]*<\/name>/, `<name>${spec.namespace}_${spec.name}</name>`)
    .replace(/<memory unit="b">[0-9]+<\/memory>/, `<memory unit="b">${spec.memoryBytes}</memory>`)
    .replace(/(<entry name="uuid">)[^<]*(<\/entry>)/, `$1${uid}$2`);
}

export interface DemoVmPaths {
  kubeletRoot: string;
  /** Short directory for virt-launcher's view. */
  launcherDir: string;
}

/** The fixtures the demo builds its VMIs and domains from. */
export function loadTemplates(): { vmi: string; domain: string } {
  return {
    vmi: readFileSync(path.join(packageRoot, 'fixtures', 'kubevirt-vmi.json'), 'utf8'),
    domain: readFileSync(path.join(packageRoot, 'fixtures', 'kubevirt-domain.xml'), 'utf8'),
  };
}

/** Starts one VM: sidecar, OnDefineDomain, simulated QEMU behind the injected QMP socket. */
export async function startDemoVm(spec: DemoVmSpec, paths: DemoVmPaths, guest: SimulatedGuestModel, templates: { vmi: string; domain: string }): Promise<DemoVm> {
  const podUid = randomUUID();
  const vmiUid = randomUUID();
  const podDir = path.join(paths.kubeletRoot, 'pods', podUid);
  const emptyDir = path.join(podDir, HOOK_SOCKETS_VOLUME, SIDECAR_CONTAINER);
  mkdirSync(emptyDir, { recursive: true });
  mkdirSync(paths.launcherDir, { recursive: true });
  const hooksDir = path.join(paths.launcherDir, SIDECAR_CONTAINER);
  symlinkSync(emptyDir, hooksDir);

  const agent = new AgentService({ podUid });
  let sidecar: RunningSidecar | undefined;
  let hooks: DiscoveredHook[] = [];
  let qemu: SimulatedQemu | undefined;
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      await qemu?.stop();
      if (hooks.length > 0) await shutdownHooks(hooks);
      await sidecar?.stop('demo VM stopped');
      rmSync(paths.launcherDir, { recursive: true, force: true });
      rmSync(podDir, { recursive: true, force: true });
    })();
    return stopped;
  };
  try {
    sidecar = await runSidecar({
      hooksDir,
      qemuHooksDir: hooksDir,
      services: [agent.service],
      onVmConfig: (config) => agent.onVmConfig(config),
      onStop: () => agent.stop(),
    });
    hooks = await discoverHooks(paths.launcherDir, 1);
    const vmiJson = JSON.stringify(demoVmi(spec, vmiUid, templates.vmi));
    const domainXml = await onDefineDomain(hooks, demoDomain(spec, vmiUid, templates.domain), vmiJson);
    const qmpSocketPath = qmpSocketInDomain(domainXml);
    if (!qmpSocketPath) throw new Error(`the sidecar's domain for ${spec.namespace}/${spec.name} has no QMP side monitor`);
    mkdirSync(path.dirname(qmpSocketPath), { recursive: true });
    // The domain's disks, so the agent finds and can throttle them as on a real QEMU.
    const disks = domainDisks(parseDomain(domainXml).domain).map((d) => ({ id: d.alias }));
    qemu = new SimulatedQemu(qmpSocketPath, guest, Date.now, disks);
    await qemu.start();
    return { spec, podUid, vmiUid, podDir, launcherDir: paths.launcherDir, qmpSocketPath, domainXml, sidecar, qemu, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
