/**
 * Finds the KubeMom sidecars' kubemom.v1 sockets under the kubelet's pods
 * directory:
 *
 *   <kubeletRoot>/pods/<podUID>/volumes/kubernetes.io~empty-dir/hook-sidecar-sockets/hook-sidecar-<i>/kubemom.sock
 *
 * (KubeVirt v1.6 and later: each sidecar mounts its own subdirectory) or
 *
 *   <kubeletRoot>/pods/<podUID>/volumes/kubernetes.io~empty-dir/hook-sidecar-sockets/kubemom.sock
 *
 * (up to v1.5: every sidecar mounts the whole emptyDir; v1.5.0
 * pkg/virt-controller/services/template.go), by watching (inotify through fs.watch, for a quick reaction) plus a periodic full
 * rescan (the source of truth: watches miss events when directories appear before
 * the watch is set, and inotify queues overflow).
 *
 * Those paths are longer than the 108-byte unix socket limit, so each socket is
 * reached through a short symlink of the shim's own (see ShortPaths).
 */
import { SOCKET_NAME } from '../api/kubemom-v1.js';
import { UNIX_SOCKET_PATH_MAX } from '../common/units.js';
import { type FSWatcher, lstatSync, mkdtempSync, readdirSync, rmSync, symlinkSync, unlinkSync, watch } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const HOOK_SOCKETS_VOLUME = path.join('volumes', 'kubernetes.io~empty-dir', 'hook-sidecar-sockets');
const HOOK_DIR_PATTERN = /^hook-sidecar-[0-9]+$/;
// A Kubernetes UID: hex digits and dashes (kubelet names pod dirs after it).
const POD_UID_PATTERN = /^[0-9a-fA-F-]{1,64}$/;

/** One sidecar socket found on disk. */
export interface FoundSocket {
  /** The full host path of the socket (the key). */
  socketPath: string;
  /** The pod UID taken from the path. */
  podUid: string;
  /** `hook-sidecar-<i>`, or `hook-sidecar-sockets` for the shared (v1.5) layout. */
  container: string;
  /** The socket file's inode: a new inode at the same path is a restarted sidecar. */
  inode: number;
}

/** Lists every sidecar socket under `<kubeletRoot>/pods`, skipping anything that is not a socket. */
export function scanSockets(kubeletRoot: string): FoundSocket[] {
  const podsDir = path.join(kubeletRoot, 'pods');
  const found: FoundSocket[] = [];
  for (const podUid of readdirOrEmpty(podsDir)) {
    if (!POD_UID_PATTERN.test(podUid)) continue;
    found.push(...scanPod(kubeletRoot, podUid));
  }
  return found;
}

/** The sockets of one pod. */
export function scanPod(kubeletRoot: string, podUid: string): FoundSocket[] {
  const socketsDir = path.join(kubeletRoot, 'pods', podUid, HOOK_SOCKETS_VOLUME);
  const found: FoundSocket[] = [];
  const candidates = readdirOrEmpty(socketsDir).filter((c) => HOOK_DIR_PATTERN.test(c)).map((c) => ({ container: c, dir: path.join(socketsDir, c) }));
  candidates.push({ container: path.basename(HOOK_SOCKETS_VOLUME), dir: socketsDir });
  for (const { container, dir } of candidates) {
    const socketPath = path.join(dir, SOCKET_NAME);
    try {
      const stat = lstatSync(socketPath);
      if (stat.isSocket()) found.push({ socketPath, podUid, container, inode: stat.ino });
    } catch {
      // No KubeMom socket in this sidecar's directory (another hook sidecar, or not yet).
    }
  }
  return found;
}

function readdirOrEmpty(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/**
 * Short connectable addresses for long socket paths: a private directory (mode
 * 0700, from mkdtemp) holding one symlink per socket directory. The kernel limit
 * applies to the address string only; symlinks in it are followed as usual.
 */
export class ShortPaths {
  private readonly dir: string;
  private next = 0;
  private readonly links = new Map<string, string>();

  constructor(parent: string = os.tmpdir()) {
    this.dir = mkdtempSync(path.join(parent, 'kubemom-shim-'));
  }

  /** A `unix://` address for the socket: the path itself when short enough, else through a symlink. */
  address(socketPath: string): string {
    if (Buffer.byteLength(socketPath) <= UNIX_SOCKET_PATH_MAX) return `unix://${socketPath}`;
    let link = this.links.get(socketPath);
    if (!link) {
      link = path.join(this.dir, (this.next++).toString(36));
      symlinkSync(path.dirname(socketPath), link);
      this.links.set(socketPath, link);
    }
    const short = path.join(link, path.basename(socketPath));
    if (Buffer.byteLength(short) > UNIX_SOCKET_PATH_MAX) {
      throw new Error(`socket path through ${this.dir} is still ${Buffer.byteLength(short)} bytes; choose a shorter --link-dir`);
    }
    return `unix://${short}`;
  }

  /** Forgets a socket's symlink. */
  release(socketPath: string): void {
    const link = this.links.get(socketPath);
    if (!link) return;
    this.links.delete(socketPath);
    try {
      unlinkSync(link);
    } catch {
      // Already gone.
    }
  }

  /** Removes the private directory and every symlink in it. */
  close(): void {
    this.links.clear();
    rmSync(this.dir, { recursive: true, force: true });
  }

  get directory(): string {
    return this.dir;
  }
}

export interface DiscoveryEvents {
  /** A socket appeared, or reappeared with a new inode (a restarted sidecar). */
  onAppear(socket: FoundSocket): void;
  /** A socket is gone from disk. */
  onVanish(socketPath: string): void;
}

export interface DiscoveryOptions {
  kubeletRoot: string;
  /** Full rescan period; default 5000 ms. */
  rescanMs?: number;
  /** Delay that gathers a burst of inotify events into one pod scan; default 50 ms. */
  debounceMs?: number;
}

/**
 * Keeps the set of sidecar sockets current and reports changes. Watches the pods
 * directory and each pod's hook-sidecar directories; any event rescans that pod.
 */
export class SidecarDiscovery {
  private readonly known = new Map<string, FoundSocket>();
  private readonly watchers = new Map<string, FSWatcher>();
  private readonly pendingPods = new Set<string>();
  private rescanTimer: NodeJS.Timeout | undefined;
  private debounceTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** Number of full rescans done (for tests and metrics). */
  rescans = 0;

  constructor(
    private readonly options: DiscoveryOptions,
    private readonly events: DiscoveryEvents,
  ) {}

  /** Scans once (synchronously reporting what exists) and starts watching. */
  start(): void {
    this.fullScan();
    this.rescanTimer = setInterval(() => this.fullScan(), this.options.rescanMs ?? 5000);
    this.rescanTimer.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.rescanTimer) clearInterval(this.rescanTimer);
    if (this.debounceTimer) clearTimeout(this.debounceTimer);
    for (const watcher of this.watchers.values()) watcher.close();
    this.watchers.clear();
  }

  /** The sockets currently known. */
  sockets(): FoundSocket[] {
    return [...this.known.values()];
  }

  /** Rescans everything now and reconciles. */
  fullScan(): void {
    if (this.stopped) return;
    this.rescans++;
    const podsDir = path.join(this.options.kubeletRoot, 'pods');
    this.watchDir(podsDir, (name) => this.schedulePod(name));
    const seen = new Map<string, FoundSocket>();
    const pods = new Set<string>();
    for (const podUid of readdirOrEmpty(podsDir)) {
      if (!POD_UID_PATTERN.test(podUid)) continue;
      pods.add(podUid);
      this.watchPod(podUid);
      for (const socket of scanPod(this.options.kubeletRoot, podUid)) seen.set(socket.socketPath, socket);
    }
    this.reconcile(seen, () => true);
    // Drop the watchers of pods that are gone (their directories' inotify watches died with them).
    const podsPrefix = podsDir + path.sep;
    for (const [dir, watcher] of this.watchers) {
      if (!dir.startsWith(podsPrefix)) continue;
      const podUid = dir.slice(podsPrefix.length).split(path.sep, 1)[0]!;
      if (!pods.has(podUid)) {
        watcher.close();
        this.watchers.delete(dir);
      }
    }
  }

  private scanPods(podUids: string[]): void {
    const seen = new Map<string, FoundSocket>();
    for (const podUid of podUids) {
      this.watchPod(podUid);
      for (const socket of scanPod(this.options.kubeletRoot, podUid)) seen.set(socket.socketPath, socket);
    }
    const set = new Set(podUids);
    this.reconcile(seen, (s) => set.has(s.podUid));
  }

  /** Applies a scan result; `inScope` says which known sockets the scan covered. */
  private reconcile(seen: Map<string, FoundSocket>, inScope: (s: FoundSocket) => boolean): void {
    for (const [socketPath, old] of this.known) {
      if (!inScope(old)) continue;
      if (!seen.has(socketPath)) {
        this.known.delete(socketPath);
        this.events.onVanish(socketPath);
      }
    }
    for (const [socketPath, socket] of seen) {
      const old = this.known.get(socketPath);
      if (old && old.inode === socket.inode) continue;
      this.known.set(socketPath, socket);
      this.events.onAppear(socket);
    }
  }

  private watchPod(podUid: string): void {
    const socketsDir = path.join(this.options.kubeletRoot, 'pods', podUid, HOOK_SOCKETS_VOLUME);
    if (!this.watchDir(socketsDir, () => this.schedulePod(podUid))) return;
    for (const container of readdirOrEmpty(socketsDir)) {
      if (HOOK_DIR_PATTERN.test(container)) this.watchDir(path.join(socketsDir, container), () => this.schedulePod(podUid));
    }
  }

  /** Watches a directory once; false when it does not exist (yet). */
  private watchDir(dir: string, onEvent: (name: string) => void): boolean {
    if (this.watchers.has(dir)) return true;
    try {
      const watcher = watch(dir, { persistent: false }, (_event, name) => {
        if (typeof name === 'string') onEvent(name);
      });
      watcher.on('error', () => {
        // The directory went away; the periodic rescan reconciles.
        watcher.close();
        this.watchers.delete(dir);
      });
      this.watchers.set(dir, watcher);
      return true;
    } catch {
      return false;
    }
  }

  private schedulePod(podUid: string): void {
    if (this.stopped || !POD_UID_PATTERN.test(podUid)) return;
    this.pendingPods.add(podUid);
    if (this.debounceTimer) return;
    this.debounceTimer = setTimeout(() => {
      this.debounceTimer = undefined;
      const pods = [...this.pendingPods];
      this.pendingPods.clear();
      this.scanPods(pods);
    }, this.options.debounceMs ?? 50);
    this.debounceTimer.unref();
  }

  /** Number of directories watched (bounded by pods × sidecars). */
  get watchCount(): number {
    return this.watchers.size;
  }
}
