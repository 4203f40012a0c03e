/**
 * Real guests as pods of a kubelet-style tree, with a real shim over them: each VM gets
 * its own pod UID, its agent reports it, and the tree links the pod's emptyDir
 * `hook-sidecar-sockets` to the VM's hook directory, as the kubelet lays it out.
 */
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AgentClient } from '../../src/api/client.js';
import { AgentService, type AgentServiceOptions } from '../../src/agent/service.js';
import { createPolicy } from '../../src/policy/registry.js';
import { Shim } from '../../src/shim/shim.js';
import { sharedTestbed } from '../../testbed/testbed.js';
import type { StartTestVmOptions, TestVm } from '../../testbed/test-vm.js';
import { SampleWatcher } from '../agent/support.js';

export const GiB = 2 ** 30;

export interface PodVm {
  podUid: string;
  vm: TestVm;
  service: AgentService;
  watcher: SampleWatcher;
  close(): Promise<void>;
}

/** A test bed VM whose sidecar's agent reports `podUid`. */
export async function startPodVm(options: StartTestVmOptions, podUid: string, agent: Omit<AgentServiceOptions, 'podUid'> = {}): Promise<PodVm> {
  const bed = await sharedTestbed();
  const service = new AgentService({ podUid, ...agent });
  const vm = await bed.startVm({ ...options, sidecar: { services: [service.service], onVmConfig: (c) => service.onVmConfig(c), onStop: () => service.stop() } });
  const client = new AgentClient(vm.sidecar.server.socketPath);
  const watcher = new SampleWatcher(client);
  return {
    podUid,
    vm,
    service,
    watcher,
    async close() {
      watcher.close();
      client.close();
      await vm.destroy();
    },
  };
}

/** The node's memory as the shim reads it: a meminfo file, replaced atomically. */
export function writeNodeMeminfo(file: string, totalBytes: number, availableBytes: number): void {
  const kb = (b: number) => `${Math.round(b / 1024)} kB`;
  const lines = [`MemTotal: ${kb(totalBytes)}`, `MemFree: ${kb(availableBytes)}`, `MemAvailable: ${kb(availableBytes)}`, 'Buffers: 0 kB', 'Cached: 0 kB', 'AnonPages: 0 kB', 'SwapTotal: 0 kB', 'SwapFree: 0 kB'];
  writeFileSync(`${file}.tmp`, `${lines.join('\n')}\n`);
  renameSync(`${file}.tmp`, file);
}

export interface ShimOverPods {
  shim: Shim<unknown>;
  root: string;
  meminfo: string;
  close(): Promise<void>;
}

/** A kubelet tree holding the VMs' pods, and a real shim (default policy) over it on a simulated node. */
export async function startShimOverPods(vms: readonly PodVm[]): Promise<ShimOverPods> {
  const root = mkdtempSync(path.join(os.tmpdir(), 'km-kubelet-'));
  for (const vm of vms) {
    const emptyDirs = path.join(root, 'pods', vm.podUid, 'volumes', 'kubernetes.io~empty-dir');
    mkdirSync(emptyDirs, { recursive: true });
    symlinkSync(vm.vm.hooksRoot, path.join(emptyDirs, 'hook-sidecar-sockets'));
  }
  const meminfo = path.join(root, 'simulated-node-meminfo');
  writeNodeMeminfo(meminfo, 4 * GiB, 3 * GiB);
  const shim = new Shim(
    { kubeletRoot: root, meminfoFile: meminfo, psiFile: '/proc/pressure/memory', vmstatFile: '/proc/vmstat', procRoot: '/proc', periodMs: 500, rescanMs: 500 },
    // The default policy gives memory back only after two minutes of calm, a step a minute: scaled down as the
    // demo scales it, so a give-back shows within a real guest's event deadline.
    createPolicy('default', { calmHoldMs: 5000, growIntervalMs: 2000 }, () => ''),
  );
  await shim.start();
  return {
    shim,
    root,
    meminfo,
    async close() {
      await shim.stop();
      rmSync(root, { recursive: true, force: true });
    },
  };
}
