/**
 * The Debian packages the test bed needs, installed with apt-get when missing.
 * The same names are listed in .ci/apt-packages.txt (a test checks both agree).
 */
import { CommandError, run } from './exec.js';
import { logger } from '../src/common/log.js';

/** What each package gives the test bed. */
export const TESTBED_PACKAGES: Readonly<Record<string, string>> = {
  'libvirt-daemon': 'libvirtd, the monolithic daemon (Debian 12 has no virtqemud)',
  'libvirt-daemon-driver-qemu': "libvirt's QEMU driver",
  'libvirt-daemon-system': 'the libvirt-qemu user, virtlogd and the default configuration',
  'libvirt-clients': 'virsh and virt-xml-validate',
  'libxml2-utils': 'xmllint, which virt-xml-validate runs',
  'qemu-system-x86': 'QEMU, run as TCG',
  'busybox-static': "the tiny guest's userland",
  cpio: "packs the tiny guest's initramfs",
};

/** The subset of `names` that dpkg does not report as installed. */
export async function missingPackages(names: readonly string[]): Promise<string[]> {
  let listing: string;
  try {
    listing = (await run('dpkg-query', ['-W', '-f', '${Package} ${Status}\\n', ...names])).stdout;
  } catch (error) {
    // dpkg-query exits 1 when some names are unknown; what it printed still counts.
    if (!(error instanceof CommandError)) throw error;
    listing = (await run('dpkg-query', ['-W', '-f', '${Package} ${Status}\\n'])).stdout;
  }
  const installed = new Set(
    listing
      .split('\n')
      .filter((line) => line.endsWith(' install ok installed'))
      .map((line) => line.split(' ')[0]!.replace(/:.*$/, '')),
  );
  return names.filter((name) => !installed.has(name));
}

/** Installs whatever of `names` is missing (root only). Runs `apt-get update` first only if needed. */
export async function ensurePackages(names: readonly string[] = Object.keys(TESTBED_PACKAGES)): Promise<void> {
  const missing = await missingPackages(names);
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) {
    throw new Error(`the test bed needs root to install missing Debian packages: ${missing.join(' ')}`);
  }
  const log = logger('testbed');
  log.info({ packages: missing }, 'installing missing Debian packages');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () => run('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...missing], { env, timeoutMs: 900_000 });
  try {
    await install();
  } catch {
    // Usually stale or absent package lists on a fresh machine.
    await run('apt-get', ['update', '-q'], { env, timeoutMs: 600_000 });
    await install();
  }
}
