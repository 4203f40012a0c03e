/**
 * The shim with a real sidecar and a real TCG guest (test bed): the shim finds the
 * sidecar through a kubelet-style tree, and the default policy takes memory back
 * from the guest when the node is short, and gives it back when the node recovers.
 *
 * The node's memory is a meminfo file the test writes (a simulated node: this
 * machine's 24 GiB never run short), read by the real shim exactly as it reads
 * /proc/meminfo; everything between the shim and QEMU is real.
 */
import { expect } from 'chai';
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createPolicy } from '../../src/policy/registry.js';
import { Shim } from '../../src/shim/shim.js';
import { sharedTestbed } from '../../testbed/testbed.js';
import { MiB, startAgentVm, type AgentVm } from '../agent/support.js';
import { waitFor } from './kubelet-tree.js';

const GiB = 2 ** 30;
const POD_UID = '00000000-0000-4000-8000-000000000000'; // what startAgentVm's agent reports

function writeSimulatedNodeMeminfo(file: string, totalBytes: number, availableBytes: number): void {
  const kb = (b: number) => `${Math.round(b / 1024)} kB`;
  const lines = [`MemTotal: ${kb(totalBytes)}`, `MemFree: ${kb(availableBytes)}`, `MemAvailable: ${kb(availableBytes)}`, 'Buffers: 0 kB', 'Cached: 0 kB', 'AnonPages: 0 kB', 'SwapTotal: 0 kB', 'SwapFree: 0 kB'];
  writeFileSync(`${file}.tmp`, `${lines.join('\n')}\n`);
  // Renamed into place so the shim never reads half a file.
  renameSync(`${file}.tmp`, file);
}

describe('shim with a real sidecar and a real TCG guest', function () {
  this.timeout(240_000);
  let agentVm: AgentVm | undefined;
  let shim: Shim<unknown> | undefined;
  let root: string | undefined;

  before(async () => {
    const bed = await sharedTestbed();
    agentVm = await startAgentVm(bed, { name: 'shim-guest', memoryMiB: 512, requestMiB: 256, annotations: { 'kubemom.io/stats-period': '1' } });
    root = mkdtempSync(path.join(os.tmpdir(), 'km-kubelet-'));
    const emptyDirs = path.join(root, 'pods', POD_UID, 'volumes', 'kubernetes.io~empty-dir');
    mkdirSync(emptyDirs, { recursive: true });
    // The kubelet's emptyDir holds the hook sidecars' directories: here, the test VM's.
    symlinkSync(path.dirname(agentVm.vm.hooksDir), path.join(emptyDirs, 'hook-sidecar-sockets'));
  });

  after(async () => {
    await shim?.stop();
    await agentVm?.close();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('takes memory back from the guest when the node is short and gives it back when the guest needs it again', async () => {
    const meminfo = path.join(root!, 'simulated-node-meminfo');
    writeSimulatedNodeMeminfo(meminfo, 4 * GiB, 3 * GiB);
    shim = new Shim(
      {
        kubeletRoot: root!,
        meminfoFile: meminfo,
        psiFile: '/proc/pressure/memory',
        vmstatFile: '/proc/vmstat',
        procRoot: '/proc',
        periodMs: 500,
        rescanMs: 500,
      },
      // Give-back after two minutes of calm, a step a minute, scaled down (as the demo does) to show within a
      // real guest's event deadline.
      createPolicy('default', { calmHoldMs: 5000, growIntervalMs: 2000 }, () => ''),
    );
    await shim.start();
    const session = () => shim!.registry.all()[0];
    expect(await waitFor(() => session()?.state === 'live' && session()?.latest?.guest != null)).to.equal(true);
    const watcher = agentVm!.watcher;

    // The node falls under its reserve: the shim reclaims what the guest does not use.
    writeSimulatedNodeMeminfo(meminfo, 4 * GiB, 300 * MiB);
    const squeezed = await watcher.waitFor('balloon inflated by the shim', (s) => Number(s.balloon_actual_bytes) <= 448 * MiB);
    const actual = Number(squeezed.balloon_actual_bytes);
    expect(actual).to.be.at.least(256 * MiB); // never under the guaranteed memory
    const inGuest = await agentVm!.vm.console.meminfo();
    expect(inGuest.MemTotal).to.be.below(480 * MiB);
    const decisions = shim.loop.decisions.filter((d) => d.guestId === `${agentVm!.vm.vmi.namespace}/${agentVm!.vm.vmi.name}` && d.outcome === 'applied');
    expect(decisions.length).to.be.greaterThan(0);

    // The node recovers and the guest starts using memory: the shim gives it back. (The default policy keeps an
    // idle guest at what it uses plus headroom and a step, so a give-back needs a guest that needs it.)
    writeSimulatedNodeMeminfo(meminfo, 4 * GiB, 3.5 * GiB);
    expect(await agentVm!.vm.console.alloc(200)).to.equal(200);
    await watcher.waitFor('balloon deflated by the shim', (s) => Number(s.balloon_actual_bytes) >= actual + 64 * MiB);
    const gaveBack = shim.loop.decisions.filter((d) => d.guestId === `${agentVm!.vm.vmi.namespace}/${agentVm!.vm.vmi.name}` && d.outcome === 'applied' && d.targetBytes > actual);
    expect(gaveBack.length).to.be.greaterThan(0);
  });
});
