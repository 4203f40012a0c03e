/**
 * Real memory pressure (a thrashing reader in a small memory cgroup) against the PSI
 * trigger and the shim's loop.
 */
import { expect } from 'chai';
import type { Policy } from '../../src/policy/types.js';
import { PsiTrigger, loadPsiAddon } from '../../src/shim/host/psi-trigger.js';
import { Shim } from '../../src/shim/shim.js';
import { GI, KubeletTree, MI, waitFor } from './kubelet-tree.js';
import { MemoryPressure, someStallUs } from './pressure.js';
import { TestSqueezePolicy } from './support.js';
import type { SimulatedAgent } from '../../testbed/simulated-agent.js';
import { EVENT_DEADLINE_MS } from '../support/deadline.js';

describe('memory pressure: PSI trigger and the loop', function () {
  let pressure: MemoryPressure;

  before(() => {
    pressure = new MemoryPressure();
    pressure.prepare();
  });
  after(async () => {
    await pressure.cleanup();
  });
  afterEach(async () => {
    await pressure.stop();
  });

  it('the native addon arms a real kernel PSI trigger that fires on real pressure', async () => {
    expect(loadPsiAddon()).to.not.be.instanceOf(Error);
    // A 2 s window is accepted without CAP_SYS_RESOURCE; shorter ones need it.
    const trigger = new PsiTrigger({ file: '/proc/pressure/memory', kind: 'some', stallUs: 20_000, windowUs: 2_000_000 });
    expect(trigger.start()).to.equal('kernel');
    const events: number[] = [];
    trigger.on('pressure', (at: number) => events.push(at));
    try {
      pressure.start(4);
      expect(await waitFor(() => events.length > 0)).to.equal(true);
    } finally {
      trigger.stop();
    }
  });

  it('the polling fallback applies the same rule to the PSI file', async () => {
    const trigger = new PsiTrigger({ file: '/proc/pressure/memory', kind: 'some', stallUs: 20_000, windowUs: 1_000_000, forcePolling: true });
    expect(trigger.start()).to.equal('polling');
    expect(trigger.fallbackReason).to.equal('polling forced');
    const events: number[] = [];
    trigger.on('pressure', (at: number) => events.push(at));
    try {
      // Quiet first: no event for a whole window (the previous test's stall has aged out).
      await waitFor(() => events.length === 0 || Date.now() - events[events.length - 1]! > 1200);
      const quiet = events.length;
      const started = Date.now();
      const stallBefore = someStallUs();
      pressure.start(3);
      expect(await waitFor(() => events.length > quiet)).to.equal(true);
      const firstAt = events[quiet]!;
      expect(firstAt).to.be.at.least(started);
      expect(someStallUs()).to.be.greaterThan(stallBefore);
      console.log(`      polling trigger fired ${firstAt - started} ms after the pressure started`);
    } finally {
      trigger.stop();
    }
  });

  it('pressure wakes the loop at once, squeezes the guests, and gives memory back when it ends', async () => {
    const tree = new KubeletTree();
    const vms: SimulatedAgent[] = [];
    for (let i = 0; i < 20; i++) vms.push(await tree.addVm(`vm-${i}`, { guestMemoryBytes: 2 * GI, guaranteedMemoryBytes: 768 * MI, balloonRateBytesPerSecond: 8 * GI }));
    const shim = new Shim(
      {
        kubeletRoot: tree.root,
        meminfoFile: '/proc/meminfo',
        psiFile: '/proc/pressure/memory',
        vmstatFile: '/proc/vmstat',
        procRoot: '/proc',
        // No periodic cycle during the test: a periodic cycle that saw the first microseconds
        // of stall would squeeze before the trigger fired, and the pressure cycle would then
        // have nothing left to send. The test drives the other cycles itself (runOnce).
        periodMs: 600_000,
        psiTrigger: { kind: 'some', stallUs: 20_000, windowUs: 1_000_000 },
      },
      new TestSqueezePolicy(0) as Policy<unknown>,
    );
    try {
      await shim.start();
      expect(await waitFor(() => shim.registry.all().filter((s) => s.state === 'live').length === 20)).to.equal(true);
      // Start from full balloons: a background stall between two manual cycles squeezes too,
      // so cycle until a quiet pair of samples has given every VM its whole memory.
      const everyVmAt = (bytes: number) => vms.every((v) => v.actual === bytes);
      const quiet = async (): Promise<boolean> => {
        for (const end = Date.now() + EVENT_DEADLINE_MS; Date.now() < end; ) {
          await shim.loop.runOnce();
          if (await waitFor(() => everyVmAt(2 * GI) && vms.every((v) => v.received.at(-1)?.reason === 'test-grow'), 20, 1000)) return true;
        }
        return false;
      };
      expect(await quiet(), 'balloons full before the pressure').to.equal(true);
      let pressureCount = 0;
      shim.psi!.on('pressure', () => pressureCount++);
      const pressureCycles = (): number => pressureCount;
      const before = pressureCycles();
      console.log(`      PSI trigger mode: ${shim.psi!.mode}${shim.psi!.fallbackReason ? ` (${shim.psi!.fallbackReason})` : ''}`);
      pressure.start(3);
      expect(await waitFor(() => pressureCycles() > before), 'a pressure cycle ran').to.equal(true);
      expect(await waitFor(() => vms.every((v) => v.received.some((r) => r.reason === 'test-host-pressure'))), 'every VM squeezed').to.equal(true);
      // The histogram is observed when the pressure cycle's last SetTarget has gone out.
      const latencyTotals = async (): Promise<{ sum: number; count: number }> => {
        const latency = await shim.metrics.pressureToLastSend.get();
        const value = (name: string) => latency.values.find((v) => v.metricName === name)?.value ?? 0;
        return { sum: value('kubemom_shim_pressure_to_last_set_target_seconds_sum'), count: value('kubemom_shim_pressure_to_last_set_target_seconds_count') };
      };
      let totals = await latencyTotals();
      for (const end = Date.now() + EVENT_DEADLINE_MS; totals.count === 0 && Date.now() < end; ) {
        await new Promise((r) => setTimeout(r, 50));
        totals = await latencyTotals();
      }
      const { sum, count } = totals;
      expect(count, 'a pressure cycle sent targets').to.be.greaterThan(0);
      // Reported, not asserted: how fast is for bench/shim-scale (a ratio against its baseline), not a test's stopwatch.
      console.log(`      pressure event to last SetTarget sent: mean ${((sum / count) * 1000).toFixed(2)} ms over ${count} events, 20 VMs`);
      expect(await waitFor(() => everyVmAt(768 * MI)), 'balloons inflated').to.equal(true);
      await pressure.finished();
      // No more stall: the next cycles give the memory back.
      expect(await quiet(), 'memory given back').to.equal(true);
    } finally {
      await shim.stop();
      await tree.close();
    }
  });
});
