/**
 * The test bed: everything needed to run real KubeVirt-style guests here, set up
 * once per process. Used by the tests (mocha root hooks) and by the demo's real mode.
 *
 *   const bed = await Testbed.setup();          // packages, guest image, libvirtd + virtlogd
 *   const vm = await bed.startVm({ name: 'x' }); // sidecar-rewritten domain, booted
 *   await vm.console.alloc(200);
 *   await bed.teardown();                       // destroys leftover VMs, stops daemons it started
 */
import { existsSync } from 'node:fs';
import { logger } from '../src/common/log.js';
import { acquireLibvirt, type DaemonLease } from './daemons.js';
import { run } from './exec.js';
import { ensureGuestImage, type GuestImage } from './guest-image.js';
import { ensurePackages } from './packages.js';
import {
  startTestVm,
  VM_DIR_PREFIX,
  type StartExternalSidecarVmOptions,
  type ExternalSidecarTestVm,
  type StartTestVmOptions,
  type TestVm,
} from './test-vm.js';
import * as virsh from './virsh.js';

export interface TestbedSetupOptions {
  /** Install missing Debian packages with apt-get (default true). */
  installPackages?: boolean;
  /**
   * Tear down and exit on SIGINT, SIGTERM and SIGHUP (default true). A program that
   * handles signals itself (the demo) passes false and calls teardown() on its way out.
   */
  handleSignals?: boolean;
}

const SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
/** Exit status after a signal: 128 + its number, as a shell reports it. */
const SIGNAL_EXIT: Record<string, number> = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 };

export class Testbed {
  private readonly vms = new Set<TestVm | ExternalSidecarTestVm>();
  private tornDown = false;

  private readonly onSignal = (signal: NodeJS.Signals): void => {
    // An interrupted run must still leave no VM, daemon or /dev/kvm change behind.
    logger('testbed').warn({ signal }, 'interrupted: tearing the test bed down');
    void this.teardown()
      .catch((error: unknown) => logger('testbed').error({ err: error }, 'teardown after a signal failed'))
      .finally(() => process.exit(SIGNAL_EXIT[signal] ?? 1));
  };

  private constructor(
    readonly image: GuestImage,
    private readonly lease: DaemonLease,
    private readonly handleSignals: boolean,
  ) {
    if (handleSignals) for (const signal of SIGNALS) process.once(signal, this.onSignal);
  }

  /** Installs what is missing, builds or reuses the guest image, starts the daemons. */
  static async setup(options: TestbedSetupOptions = {}): Promise<Testbed> {
    const log = logger('testbed');
    const started = Date.now();
    if (options.installPackages ?? true) await ensurePackages();
    const image = await ensureGuestImage();
    const lease = await acquireLibvirt();
    try {
      // The first connection waits for libvirt's QEMU capability probe (about 12 s on a fresh daemon).
      await run('virsh', ['-q', '-c', virsh.LIBVIRT_URI, 'version'], { timeoutMs: 120_000 });
      await removeStaleDomains();
    } catch (error) {
      await lease.release();
      throw error;
    }
    log.info({ ms: Date.now() - started, kernel: image.kernelRelease, daemonsStartedByTestbed: lease.startedByTestbed }, 'test bed ready');
    return new Testbed(image, lease, options.handleSignals ?? true);
  }

  /**
   * Starts a test guest through the sidecar's OnDefineDomain; teardown() destroys it if the
   * caller does not. With `externalSidecar`, the sidecar is a process the caller started.
   */
  async startVm(options: StartExternalSidecarVmOptions): Promise<ExternalSidecarTestVm>;
  async startVm(options: StartTestVmOptions): Promise<TestVm>;
  async startVm(options: StartTestVmOptions | StartExternalSidecarVmOptions): Promise<TestVm | ExternalSidecarTestVm> {
    if (this.tornDown) throw new Error('the test bed has been torn down');
    const vm = await startTestVm(this.image, options);
    this.vms.add(vm);
    const destroy = vm.destroy;
    vm.destroy = async () => {
      this.vms.delete(vm);
      await destroy();
    };
    return vm;
  }

  /** Destroys the VMs still running, then releases the daemons (stopping those a test bed started). */
  async teardown(): Promise<void> {
    if (this.tornDown) return;
    this.tornDown = true;
    if (this.handleSignals) for (const signal of SIGNALS) process.off(signal, this.onSignal);
    const errors: unknown[] = [];
    for (const vm of [...this.vms]) await vm.destroy().catch((error: unknown) => errors.push(error));
    await this.lease.release().catch((error: unknown) => errors.push(error));
    if (errors.length > 0) throw new AggregateError(errors, 'test bed teardown failed');
  }
}

/**
 * Domains a crashed test bed process left behind: their scratch directory (which
 * holds their kernel) is gone. Live VMs of other processes keep theirs.
 */
async function removeStaleDomains(): Promise<void> {
  const { stdout } = await run('virsh', ['-q', '-c', virsh.LIBVIRT_URI, 'list', '--all', '--name']);
  for (const name of stdout.split('\n').map((n) => n.trim()).filter(Boolean)) {
    const xml = await virsh.dumpXml(name).catch(() => '');
    const kernel = /<kernel>([^<]+)<\/kernel>/.exec(xml)?.[1];
    if (!kernel?.startsWith(VM_DIR_PREFIX) || existsSync(kernel)) continue;
    logger('testbed').warn({ domain: name }, 'removing a test domain left by a crashed run');
    await virsh.removeDomain(name);
  }
}

let shared: Promise<Testbed> | undefined;

/** The process-wide test bed, set up on first use. */
export function sharedTestbed(): Promise<Testbed> {
  shared ??= Testbed.setup();
  return shared;
}

/** Tears down the process-wide test bed if it was set up (mocha root afterAll hook). */
export async function teardownSharedTestbed(): Promise<void> {
  if (!shared) return;
  const pending = shared;
  shared = undefined;
  const bed = await pending.catch(() => undefined);
  await bed?.teardown();
}

/** Mocha root hooks: register with `new Mocha({ rootHooks: testbedRootHooks })`. */
export const testbedRootHooks = {
  // Typed structurally so product code does not depend on mocha's types.
  async afterAll(this: { timeout(ms: number): unknown }): Promise<void> {
    this.timeout(120_000);
    await teardownSharedTestbed();
  },
};
