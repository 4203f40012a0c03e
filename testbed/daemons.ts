/**
 * libvirtd and virtlogd for the test bed, shared by every test bed process on the
 * machine. Whoever needs them takes a lease; the daemons are started when not
 * running, and stopped (with /dev/kvm's owner and mode restored) when the last
 * lease is released — but only if a test bed started them: daemons that were
 * already running are left alone.
 *
 * Shared state lives in /run/kubemom-testbed/state.json, guarded by a lock
 * directory (mkdir is atomic). Leases of processes that died are dropped.
 */
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, renameSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { logger } from '../src/common/log.js';
import { run } from './exec.js';
import { groupId } from './users.js';

export const LIBVIRT_SOCKET = '/run/libvirt/libvirt-sock';
export const VIRTLOGD_SOCKET = '/run/libvirt/virtlogd-sock';
const KVM_DEVICE = '/dev/kvm';
const STATE_DIR = '/run/kubemom-testbed';
const STATE_FILE = path.join(STATE_DIR, 'state.json');
const LOCK_DIR = path.join(STATE_DIR, 'lock');

interface DaemonSpec {
  name: 'libvirtd' | 'virtlogd';
  socket: string;
  pidFile: string;
}

const DAEMONS: readonly DaemonSpec[] = [
  // virtlogd first: libvirtd hands it every domain's console log.
  { name: 'virtlogd', socket: VIRTLOGD_SOCKET, pidFile: path.join(STATE_DIR, 'virtlogd.pid') },
  { name: 'libvirtd', socket: LIBVIRT_SOCKET, pidFile: path.join(STATE_DIR, 'libvirtd.pid') },
];

interface SharedState {
  /** PIDs of processes holding a lease, once per lease (a process may hold several). */
  leases: number[];
  /** Daemons a test bed started: name -> pid. */
  started: Partial<Record<DaemonSpec['name'], number>>;
  /** /dev/kvm as found before a test bed changed it. */
  kvm?: { uid: number; gid: number; mode: number };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** True when `pid` is still the daemon we started (not a recycled PID). */
function isDaemon(pid: number, name: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === name;
  } catch {
    return false;
  }
}

/** True when something accepts connections on the unix socket. */
export function socketAnswers(socketPath: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(socketPath);
    const done = (ok: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

async function withLock<T>(fn: () => Promise<T>): Promise<T> {
  mkdirSync(STATE_DIR, { recursive: true, mode: 0o700 });
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      mkdirSync(LOCK_DIR);
      writeFileSync(path.join(LOCK_DIR, 'pid'), String(process.pid));
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      // A holder that died leaves the lock behind: take it over.
      let holder = 0;
      try {
        holder = Number(readFileSync(path.join(LOCK_DIR, 'pid'), 'utf8'));
      } catch {
        // Being written right now, or its holder died between mkdir and write.
        const since = statSync(LOCK_DIR, { throwIfNoEntry: false })?.mtimeMs;
        if (since !== undefined && Date.now() - since > 5000) rmSync(LOCK_DIR, { recursive: true, force: true });
      }
      if (holder > 0 && !alive(holder)) rmSync(LOCK_DIR, { recursive: true, force: true });
      if (Date.now() > deadline) throw new Error(`timed out waiting for the test bed lock ${LOCK_DIR}`);
      await sleep(100);
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(path.join(LOCK_DIR, 'pid'), { force: true });
    rmdirSync(LOCK_DIR);
  }
}

function readState(): SharedState {
  try {
    const state = JSON.parse(readFileSync(STATE_FILE, 'utf8')) as SharedState;
    return { leases: state.leases.filter(alive), started: state.started ?? {}, ...(state.kvm ? { kvm: state.kvm } : {}) };
  } catch {
    return { leases: [], started: {} };
  }
}

function writeState(state: SharedState): void {
  writeFileSync(`${STATE_FILE}.tmp`, JSON.stringify(state));
  // Same directory, so the rename is atomic.
  renameSync(`${STATE_FILE}.tmp`, STATE_FILE);
}

async function waitForSocket(socketPath: string, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await socketAnswers(socketPath))) {
    if (Date.now() > deadline) throw new Error(`${what} did not open ${socketPath} within ${timeoutMs / 1000} s`);
    await sleep(100);
  }
}

async function startDaemon(spec: DaemonSpec): Promise<number> {
  rmSync(spec.pidFile, { force: true });
  // --daemon forks into the background and writes the PID file; the parent exits.
  await run(spec.name, ['--daemon', '--pid-file', spec.pidFile], { timeoutMs: 30_000 });
  await waitForSocket(spec.socket, spec.name, 30_000);
  const pid = Number(readFileSync(spec.pidFile, 'utf8').trim());
  if (!(pid > 0)) throw new Error(`${spec.name} wrote no PID to ${spec.pidFile}`);
  return pid;
}

async function stopDaemon(name: string, pid: number): Promise<void> {
  if (!isDaemon(pid, name)) return;
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + 15_000;
  while (isDaemon(pid, name)) {
    if (Date.now() > deadline) {
      process.kill(pid, 'SIGKILL');
      break;
    }
    await sleep(100);
  }
}

/**
 * libvirt re-probes QEMU on every lookup while /dev/kvm is root-only, which makes
 * define take tens of seconds; the kvm group with 0660 (Debian's udev rule) fixes it.
 */
function openKvm(state: SharedState): void {
  if (!existsSync(KVM_DEVICE) || state.kvm) return;
  const kvmGid = groupId('kvm');
  const stat = statSync(KVM_DEVICE);
  const mode = stat.mode & 0o7777;
  if (kvmGid === undefined || (stat.gid === kvmGid && (mode & 0o060) === 0o060)) return;
  state.kvm = { uid: stat.uid, gid: stat.gid, mode };
  chownSync(KVM_DEVICE, stat.uid, kvmGid);
  chmodSync(KVM_DEVICE, mode | 0o060);
}

function restoreKvm(state: SharedState): void {
  if (!state.kvm) return;
  chownSync(KVM_DEVICE, state.kvm.uid, state.kvm.gid);
  chmodSync(KVM_DEVICE, state.kvm.mode);
  delete state.kvm;
}

export interface DaemonLease {
  /** Names of the daemons some test bed started (and the last lease will stop). */
  startedByTestbed: string[];
  /** Releases the lease; the last one stops the daemons a test bed started. Idempotent. */
  release(): Promise<void>;
}

/** Makes sure libvirtd and virtlogd run and answer, and holds them until release(). */
export async function acquireLibvirt(): Promise<DaemonLease> {
  const log = logger('testbed');
  const startedByTestbed = await withLock(async () => {
    const state = readState();
    state.leases.push(process.pid);
    writeState(state);
    try {
      openKvm(state);
      for (const spec of DAEMONS) {
        if (await socketAnswers(spec.socket)) continue;
        const previous = state.started[spec.name];
        if (previous !== undefined) await stopDaemon(spec.name, previous); // hung: restart it
        log.info({ daemon: spec.name }, 'starting');
        state.started[spec.name] = await startDaemon(spec);
      }
    } finally {
      writeState(state);
    }
    return Object.keys(state.started);
  });
  let released: Promise<void> | undefined;
  return {
    startedByTestbed,
    release() {
      released ??= withLock(async () => {
        const state = readState();
        // One entry per lease, not per process: a process may hold several (the shared
        // test bed and the demo's own), and releasing one must leave the others standing.
        const mine = state.leases.indexOf(process.pid);
        if (mine >= 0) state.leases.splice(mine, 1);
        if (state.leases.length === 0) {
          // libvirtd before virtlogd, the reverse of the start order.
          for (const spec of [...DAEMONS].reverse()) {
            const pid = state.started[spec.name];
            if (pid === undefined) continue;
            log.info({ daemon: spec.name, pid }, 'stopping');
            await stopDaemon(spec.name, pid);
            delete state.started[spec.name];
          }
          restoreKvm(state);
        }
        writeState(state);
      });
      return released;
    },
  };
}
