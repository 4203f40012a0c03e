/**
 * What the demo asks of its guests, simulated (src/demo/simulated-guests.ts) or real TCG guests from the test bed
 * (testbed/demo-real-guests.ts, loaded only by `kubemom demo --real` from a source checkout).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { DemoPlan } from './plan.js';

/** What a set of demo guests (simulated or real) offers the demo. */
export interface DemoGuests {
  /** VM names, in display order. */
  readonly names: string[];
  /** Advances the guests to demo time `tMs` (drives their workloads). */
  step(tMs: number, dtMs: number): void;
  /** What the guests hold on the node now, bytes, with virt-launcher's and QEMU's overhead. */
  heldBytes(): number;
  /** The guest's need as the demo knows it (undefined: use the guest's own report). */
  needBytes(name: string): number | undefined;
  guestOoms(): number;
  /** Stops every VM and removes its directories. */
  stop(): Promise<void>;
}

export interface DemoGuestsContext {
  plan: DemoPlan;
  /** Aborted: stop starting guests (those started are still stopped by `stop`). */
  signal?: AbortSignal;
  root: string;
  kubeletRoot: string;
  /** Demo time now, ms (negative before the start). */
  clock: () => number;
}

/** The test bed's real guests (testbed/demo-real-guests.ts). */
export interface RealGuestsModule {
  startRealGuests(context: DemoGuestsContext, out: NodeJS.WritableStream): Promise<DemoGuests>;
}

/**
 * `--real` runs guests under the test bed (Debian packages, libvirtd, a guest image builder), which is a test harness,
 * not product: it lives in the repository's testbed/ folder, compiled next to dist/src, and the package and the image
 * do not ship it. It is loaded by path at run time, so src/ imports nothing outside src/ and an installation without
 * the test bed says what is missing.
 */
export async function loadRealGuests(): Promise<RealGuestsModule> {
  const url = new URL('../../testbed/demo-real-guests.js', import.meta.url);
  if (!existsSync(fileURLToPath(url))) {
    throw new Error('--real needs the test bed (testbed/ in a source checkout, built with npm run build); this installation has none');
  }
  return (await import(url.href)) as RealGuestsModule;
}
