/**
 * The tiny test guest: Debian's cloud kernel (downloaded once with apt-get, unpacked
 * with dpkg -x, never installed) and a busybox initramfs running the guest agent.
 * Both are cached under the cache directory; the initramfs is rebuilt whenever its
 * inputs (scripts, busybox, kernel) change, which takes well under a second.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { logger } from '../src/common/log.js';
import { packageRoot } from '../src/common/paths.js';
import { run } from './exec.js';
import { AGENT_SCRIPT, GUEST_MODULE_DIRS, GUEST_MODULES, INIT_SCRIPT } from './guest-scripts.js';

export interface GuestImage {
  /** Kernel release, e.g. 6.1.0-56-cloud-amd64. */
  kernelRelease: string;
  kernelPath: string;
  initrdPath: string;
  /** Kernel command line the agent expects (serial console on ttyS0). */
  cmdline: string;
}

/** KUBEMOM_TESTBED_CACHE, else `.cache/testbed` in the package (git-ignored). */
export function testbedCacheDir(): string {
  return process.env.KUBEMOM_TESTBED_CACHE ?? path.join(packageRoot, '.cache', 'testbed');
}

const KERNEL_META_PACKAGE = 'linux-image-cloud-amd64';
const BUSYBOX = '/bin/busybox';
export const GUEST_CMDLINE = 'console=ttyS0 quiet panic=0';

interface KernelCache {
  release: string;
  vmlinuz: string;
  modulesDir: string;
}

/** Builds `dir` in a sibling temporary directory and renames it into place, so readers never see half of it. */
function buildAtomically(dir: string, build: (tmp: string) => Promise<void>): Promise<void> {
  const tmp = mkdtempSync(`${dir}.tmp-`);
  return build(tmp).then(
    () => {
      try {
        renameSync(tmp, dir);
      } catch (error) {
        // Another process finished first: its copy is as good as ours.
        rmSync(tmp, { recursive: true, force: true });
        if (!existsSync(dir)) throw error;
      }
    },
    (error: unknown) => {
      rmSync(tmp, { recursive: true, force: true });
      throw error;
    },
  );
}

async function downloadKernel(dir: string): Promise<void> {
  const log = logger('testbed');
  await buildAtomically(dir, async (tmp) => {
    const debs = path.join(tmp, 'debs');
    mkdirSync(debs);
    await run('apt-get', ['download', KERNEL_META_PACKAGE], { cwd: debs, timeoutMs: 300_000 });
    const meta = readdirSync(debs).find((f) => f.endsWith('.deb'))!;
    // The meta package depends on exactly one versioned image package, e.g. "linux-image-6.1.0-56-cloud-amd64 (= 6.1.192-2)".
    const depends = (await run('dpkg-deb', ['-f', path.join(debs, meta), 'Depends'])).stdout.trim();
    const match = /^(linux-image-[^\s,(]+)\s*(?:\(=\s*([^)\s]+)\))?/.exec(depends);
    if (!match) throw new Error(`cannot read the kernel package from ${meta}'s Depends: "${depends}"`);
    const versioned = match[2] ? `${match[1]}=${match[2]}` : match[1]!;
    log.info({ package: versioned }, 'downloading the test guest kernel');
    await run('apt-get', ['download', versioned], { cwd: debs, timeoutMs: 600_000 });
    const image = readdirSync(debs).find((f) => f.startsWith(`${match[1]}_`))!;
    const unpacked = path.join(tmp, 'unpacked');
    await run('dpkg', ['-x', path.join(debs, image), unpacked], { timeoutMs: 300_000 });
    const vmlinuz = readdirSync(path.join(unpacked, 'boot')).find((f) => f.startsWith('vmlinuz-'));
    if (!vmlinuz) throw new Error(`${image} has no boot/vmlinuz-*`);
    const release = vmlinuz.slice('vmlinuz-'.length);
    // Keep only what the guest needs: the kernel and the virtio modules (the package is 100 MB unpacked).
    copyFileSync(path.join(unpacked, 'boot', vmlinuz), path.join(tmp, 'vmlinuz'));
    mkdirSync(path.join(tmp, 'modules'));
    const kernelTree = path.join(unpacked, 'lib', 'modules', release, 'kernel');
    for (const name of GUEST_MODULES) {
      copyFileSync(path.join(kernelTree, GUEST_MODULE_DIRS[name] ?? 'drivers/virtio', `${name}.ko`), path.join(tmp, 'modules', `${name}.ko`));
    }
    writeFileSync(path.join(tmp, 'release'), `${release}\n`);
    rmSync(debs, { recursive: true, force: true });
    rmSync(unpacked, { recursive: true, force: true });
    chmodSync(tmp, 0o755);
  });
}

async function ensureKernel(cacheDir: string): Promise<KernelCache> {
  // The module list is part of the name: a cache made for fewer modules is never taken for this one.
  const dir = path.join(cacheDir, `kernel-${createHash('sha256').update(GUEST_MODULES.join(',')).digest('hex').slice(0, 8)}`);
  if (!existsSync(path.join(dir, 'release'))) await downloadKernel(dir);
  return {
    release: readFileSync(path.join(dir, 'release'), 'utf8').trim(),
    vmlinuz: path.join(dir, 'vmlinuz'),
    modulesDir: path.join(dir, 'modules'),
  };
}

/** A hash of everything the initramfs is made of. */
function initrdKey(kernel: KernelCache): string {
  const hash = createHash('sha256');
  hash.update(INIT_SCRIPT).update(AGENT_SCRIPT).update(kernel.release);
  hash.update(readFileSync(BUSYBOX));
  return hash.digest('hex').slice(0, 16);
}

async function buildInitrd(dir: string, kernel: KernelCache): Promise<void> {
  await buildAtomically(dir, async (tmp) => {
    const root = path.join(tmp, 'root');
    for (const sub of ['bin', 'lib/modules', 'proc', 'sys', 'dev', 'tmp', 'hog']) mkdirSync(path.join(root, sub), { recursive: true });
    copyFileSync(BUSYBOX, path.join(root, 'bin', 'busybox'));
    chmodSync(path.join(root, 'bin', 'busybox'), 0o755);
    // Before /init runs `busybox --install`, it needs a shell at the path its #! names.
    symlinkSync('busybox', path.join(root, 'bin', 'sh'));
    writeFileSync(path.join(root, 'init'), INIT_SCRIPT, { mode: 0o755 });
    writeFileSync(path.join(root, 'bin', 'km-agent'), AGENT_SCRIPT, { mode: 0o755 });
    for (const name of GUEST_MODULES) {
      copyFileSync(path.join(kernel.modulesDir, `${name}.ko`), path.join(root, 'lib', 'modules', `${name}.ko`));
    }
    const files = listTree(root).join('\n') + '\n';
    const archive = await runBuffer('cpio', ['--quiet', '-o', '-H', 'newc', '--owner', '0:0'], root, files);
    writeFileSync(path.join(tmp, 'initrd.cpio'), archive);
    rmSync(root, { recursive: true, force: true });
    // mkdtemp made it 0700; QEMU reads the image as its own user.
    chmodSync(tmp, 0o755);
  });
}

/** Paths relative to `root`, parents before children, as cpio wants them. */
function listTree(root: string, rel = '.'): string[] {
  const out = [rel];
  const full = path.join(root, rel);
  if (lstatSync(full).isDirectory()) {
    for (const entry of readdirSync(full).sort()) out.push(...listTree(root, path.join(rel, entry)));
  }
  return out;
}

/** Like run(), but returns stdout as bytes (cpio's archive is binary). */
async function runBuffer(file: string, args: string[], cwd: string, input: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(Buffer.concat(out)) : reject(new Error(`${file} failed (exit ${code}): ${err}`))));
    child.stdin.end(input);
  });
}

/**
 * The kernel and initramfs, downloading and building what the cache lacks.
 * Safe to call from several processes at once.
 */
export async function ensureGuestImage(cacheDir = testbedCacheDir()): Promise<GuestImage> {
  mkdirSync(cacheDir, { recursive: true });
  const kernel = await ensureKernel(cacheDir);
  const initrdDir = path.join(cacheDir, `initrd-${initrdKey(kernel)}`);
  if (!existsSync(path.join(initrdDir, 'initrd.cpio'))) {
    logger('testbed').info({ dir: initrdDir }, 'building the test guest initramfs');
    await buildInitrd(initrdDir, kernel);
  }
  return {
    kernelRelease: kernel.release,
    kernelPath: kernel.vmlinuz,
    initrdPath: path.join(initrdDir, 'initrd.cpio'),
    cmdline: GUEST_CMDLINE,
  };
}
