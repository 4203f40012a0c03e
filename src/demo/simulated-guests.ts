/**
 * The demo's simulated guests: the simulator's guest model (src/sim/simulated-guest.ts)
 * with the simulator's workload models plus the demo's scripted burst, each behind a
 * real sidecar and a simulated QEMU (src/demo/demo-vm.ts).
 */
import path from 'node:path';
import { MEASURED_BALLOON_TIMINGS } from '../sim/balloon-dynamics.js';
import { SimulatedGuest } from '../sim/simulated-guest.js';
import type { DemoGuests, DemoGuestsContext } from './guests.js';
import { loadTemplates, startDemoVm, type DemoVm } from './demo-vm.js';
import { SimGuestQemuModel } from './guest-model.js';
import { plannedWorkload } from './plan.js';

const STEP_MS = 100;

export async function startSimulatedGuests(context: DemoGuestsContext): Promise<DemoGuests> {
  const { plan } = context;
  const horizon = plan.timeline.durationMs + plan.bootedBeforeMs;
  const guests = plan.guests.map((g) => new SimulatedGuest(g.config, plan.seed, horizon, MEASURED_BALLOON_TIMINGS, plannedWorkload(plan, g)));
  // The guests booted before the demo: run them up to its start (warm-up over, balloons where an overcommitted node keeps them, page cache filling the rest).
  for (const g of guests) g.balloon.setTarget(plan.initialBalloonBytes);
  for (let t = -plan.bootedBeforeMs; t < 0; t += STEP_MS) for (const g of guests) g.step(t, STEP_MS);
  const byName = new Map(guests.map((g) => [g.config.name, g]));
  const templates = loadTemplates();
  const vms: DemoVm[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(vms.map((vm) => vm.stop()));
  };
  try {
    for (const [i, g] of guests.entries()) {
      if (context.signal?.aborted) break;
      const c = g.config;
      vms.push(
        await startDemoVm(
          { namespace: c.namespace, name: c.name, memoryBytes: c.memoryBytes, guaranteedBytes: c.guaranteedBytes, priority: c.priority, statsPeriodSeconds: plan.statsPeriodSeconds },
          { kubeletRoot: context.kubeletRoot, launcherDir: path.join(context.root, `vm${i}`) },
          new SimGuestQemuModel(g),
          templates,
        ),
      );
    }
  } catch (error) {
    await stop();
    throw error;
  }
  let lastStepMs = 0;
  return {
    names: guests.map((g) => g.config.name),
    step(tMs: number) {
      // Fixed steps, as the simulator takes them, whatever the timer's jitter.
      while (lastStepMs + STEP_MS <= tMs) {
        lastStepMs += STEP_MS;
        for (const g of guests) g.step(lastStepMs, STEP_MS);
      }
    },
    heldBytes() {
      let held = 0;
      for (const g of guests) if (g.alive) held += plan.node.vmOverheadBytes + g.hostResidentBytes;
      return held;
    },
    needBytes: (name: string) => byName.get(name)?.needBytes,
    guestOoms: () => guests.reduce((sum, g) => sum + g.counters.guestOomKills, 0),
    stop,
  };
}
