/**
 * `kubemom demo --real`: real TCG guests from the test bed (libvirt + QEMU, the
 * sidecar's OnDefineDomain output defined as is), each with the kubemom.v1 agent in
 * its sidecar. The sidecar's hook directory is linked into the demo's kubelet tree
 * (`pods/<uid>/volumes/kubernetes.io~empty-dir/hook-sidecar-sockets/hook-sidecar-0`)
 * where the shim finds it. The burst is real: the guest agent allocates memory
 * (tmpfs) in small steps and frees it when the burst ends. What a guest holds on the
 * demo node is its QEMU's resident memory (VmRSS), read from /proc.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { AgentService } from '../src/agent/service.js';
import { HOOK_SOCKETS_VOLUME } from '../src/shim/discovery.js';
import { Testbed } from './testbed.js';
import type { TestVm } from './test-vm.js';
import type { DemoGuests, DemoGuestsContext } from '../src/demo/guests.js';
import { burstShareAt } from '../src/demo/plan.js';

const MiB = 2 ** 20;
/** The guest agent allocates in steps this big, so a guest under a balloon grows gradually. */
const ALLOC_STEP_MIB = 16;

function qemuRssBytes(vm: TestVm): number {
  try {
    const pid = readFileSync(`/run/libvirt/qemu/${vm.domainName}.pid`, 'utf8').trim();
    const match = /^VmRSS:\s+([0-9]+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

export async function startRealGuests(context: DemoGuestsContext, out: NodeJS.WritableStream): Promise<DemoGuests> {
  const { plan } = context;
  out.write('Setting up the test bed (libvirt, the guest kernel) and booting the TCG guests...\n');
  // The demo handles signals itself: it stops its shim and sidecars, then the guests and the test bed.
  const bed = await Testbed.setup({ handleSignals: false });
  const vms: TestVm[] = [];
  const held = new Map<TestVm, number>();
  const busy = new Set<TestVm>();
  const stop = async (): Promise<void> => {
    await Promise.all(vms.map((vm) => vm.destroy()));
    await bed.teardown();
  };
  try {
    for (const g of plan.guests) {
      if (context.signal?.aborted) break;
      const podUid = randomUUID();
      const agent = new AgentService({ podUid });
      const vm = await bed.startVm({
        name: g.config.name,
        namespace: g.config.namespace,
        memoryMiB: Math.round(g.config.memoryBytes / MiB),
        requestMiB: Math.round(g.config.guaranteedBytes / MiB),
        annotations: { 'kubemom.io/stats-period': String(plan.statsPeriodSeconds), 'kubemom.io/priority': String(g.config.priority) },
        sidecar: { services: [agent.service], onVmConfig: (c) => agent.onVmConfig(c), onStop: () => agent.stop() },
      });
      vms.push(vm);
      held.set(vm, 0);
      const socketsDir = path.join(context.kubeletRoot, 'pods', podUid, HOOK_SOCKETS_VOLUME);
      mkdirSync(socketsDir, { recursive: true });
      symlinkSync(vm.hooksDir, path.join(socketsDir, 'hook-sidecar-0'));
    }
  } catch (error) {
    await stop();
    throw error;
  }
  const drive = (vm: TestVm, wantMiB: number): void => {
    const have = held.get(vm) ?? 0;
    if (busy.has(vm) || have === wantMiB) return;
    busy.add(vm);
    const command = wantMiB === 0 ? vm.console.free() : vm.console.alloc(Math.min(ALLOC_STEP_MIB, wantMiB - have));
    command.then(
      (total) => held.set(vm, total),
      () => undefined,
    ).finally(() => busy.delete(vm));
  };
  return {
    names: vms.map((vm) => vm.vmi.name),
    step(tMs: number) {
      plan.guests.forEach((g, i) => {
        const vm = vms[i];
        if (!vm || !g.bursts) return;
        const want = Math.floor((burstShareAt(plan.timeline, tMs) * g.burstFraction * g.config.memoryBytes) / MiB / ALLOC_STEP_MIB) * ALLOC_STEP_MIB;
        // Grows in steps; frees everything once the burst is over.
        drive(vm, want < (held.get(vm) ?? 0) ? (want === 0 ? 0 : held.get(vm)!) : want);
      });
    },
    heldBytes: () => vms.reduce((sum, vm) => sum + plan.node.vmOverheadBytes + qemuRssBytes(vm), 0),
    needBytes: () => undefined,
    guestOoms: () =>
      vms.reduce((sum, vm) => {
        try {
          return sum + (readFileSync(vm.consoleLogPath, 'utf8').match(/Out of memory/g)?.length ?? 0);
        } catch {
          return sum;
        }
      }, 0),
    stop,
  };
}
