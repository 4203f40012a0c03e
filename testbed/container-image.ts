/**
 * The KubeMom container image on a machine with no container engine and no registry: built by
 * scripts/build-image.sh with buildah (vfs storage, chroot isolation) and run with `buildah run`,
 * the way testbed.md found to work (podman run does not work in this sandbox).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../src/common/paths.js';

/** Where buildah keeps images (under the git-ignored .cache/, so repeat builds reuse the bases). */
export interface ImageStore {
  /** Directory holding buildah's `root/` and `run/`. */
  storageDir: string;
}

export const DEFAULT_IMAGE_STORE: ImageStore = { storageDir: path.join(packageRoot, '.cache', 'image', 'storage') };

/** The parts of an image's OCI config the tests look at. */
export interface ImageConfig {
  User?: string;
  Entrypoint?: string[];
  Cmd?: string[];
  Env?: string[];
}

function globalArgs(store: ImageStore): string[] {
  return ['--storage-driver', 'vfs', '--root', path.join(store.storageDir, 'root'), '--runroot', path.join(store.storageDir, 'run')];
}

/** Runs buildah to completion; throws with its stderr when it fails. */
export function buildah(store: ImageStore, args: string[]): string {
  const result = spawnSync('buildah', [...globalArgs(store), ...args], { encoding: 'utf8', maxBuffer: 64 * 2 ** 20 });
  if (result.error) throw result.error;
  if (result.status !== 0) throw new Error(`buildah ${args.join(' ')} exited ${result.status}: ${result.stderr.trim()}`);
  return result.stdout;
}

/** Builds the image from the local bases (scripts/build-image.sh --local-bases); returns the build log. */
export function buildImageLocally(store: ImageStore, tag: string): string {
  const script = path.join(packageRoot, 'scripts', 'build-image.sh');
  const result = spawnSync('bash', [script, '--local-bases', '--storage', store.storageDir, '--tag', tag], {
    encoding: 'utf8',
    maxBuffer: 64 * 2 ** 20,
  });
  if (result.error) throw result.error;
  const log = `${result.stdout}\n${result.stderr}`;
  if (result.status !== 0) throw new Error(`build-image.sh exited ${result.status}:\n${log.slice(-4000)}`);
  return log;
}

/** The image's OCI config (user, entrypoint, command, environment). */
export function inspectImage(store: ImageStore, image: string): ImageConfig {
  const parsed = JSON.parse(buildah(store, ['inspect', '--type', 'image', image])) as { OCIv1: { config: ImageConfig } };
  return parsed.OCIv1.config;
}

/** A process started by `buildah run` in a working container of the image. */
export interface ImageRun {
  container: string;
  child: ChildProcess;
  /** Resolves with the exit code of `buildah run` (the command's own). */
  exited: Promise<number | null>;
  output(): string;
}

/**
 * Starts `command` in a new working container of `image`, with `mounts` (host path to container path)
 * bind-mounted and `env` set, as the image's user unless `user` (uid:gid) is given, with buildah's default
 * capabilities unless `dropAllCapabilities` (a non-root user gets none anyway). The command shares the
 * host's network (chroot isolation), so a server in it is reached on 127.0.0.1.
 */
export function runInImage(
  store: ImageStore,
  image: string,
  command: string[],
  options: { mounts?: Record<string, string>; env?: Record<string, string>; user?: string; dropAllCapabilities?: boolean } = {},
): ImageRun {
  const container = buildah(store, ['from', '--pull=never', image]).trim();
  const args = [...globalArgs(store), 'run', '--isolation', 'chroot'];
  if (options.user) args.push('--user', options.user);
  if (options.dropAllCapabilities) args.push('--cap-drop', 'all');
  for (const [host, inside] of Object.entries(options.mounts ?? {})) args.push('-v', `${host}:${inside}`);
  for (const [name, value] of Object.entries(options.env ?? {})) args.push('--env', `${name}=${value}`);
  args.push(container, '--', ...command);
  const child = spawn('buildah', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { container, child, exited, output: () => output };
}

/** Status fields of a process, from /proc/<pid>/status. */
export interface ProcessStatus {
  pid: number;
  uid: number;
  gid: number;
  capEff: bigint;
  name: string;
  /** Resident set size, bytes. */
  rssBytes: number;
}

function readStatus(pid: number): ProcessStatus | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (name: string) => new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(text)?.[1] ?? '';
    return {
      pid,
      uid: Number(field('Uid').split(/\s+/)[0]),
      gid: Number(field('Gid').split(/\s+/)[0]),
      capEff: BigInt(`0x${field('CapEff')}`),
      name: field('Name'),
      rssBytes: Number(field('VmRSS').replace(/\s*kB$/, '') || 0) * 1024,
    };
  } catch {
    return undefined; // the process ended while we looked
  }
}

/** Every live descendant of `root` (buildah run forks the chroot'ed command as a grandchild). */
export function descendants(root: number): ProcessStatus[] {
  const parents = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(entry)) continue;
    try {
      // /proc/<pid>/stat: "pid (comm) state ppid ..."; comm may hold spaces, so split after the last ')'.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      parents.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone
    }
  }
  const found: ProcessStatus[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const parent = queue.shift()!;
    for (const [pid, ppid] of parents) {
      if (ppid !== parent) continue;
      queue.push(pid);
      const status = readStatus(pid);
      if (status) found.push(status);
    }
  }
  return found;
}
