/**
 * A bare QEMU started as a child process with a QMP socket, for tests and benchmarks of the QMP
 * client. No guest runs: `-S` holds the (TCG) CPU before the firmware, which keeps it idle,
 * while the monitor, the virtio-balloon device and QOM are fully there.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { existsSync } from 'node:fs';

/** What QEMU to start. */
export interface QemuProcessOptions {
  /** Where QEMU creates its QMP socket (server=on, wait=off). */
  readonly socketPath: string;
  /**
   * "balloon": q35 under TCG, 128 MiB, a virtio-balloon-pci named `balloon0`, paused before boot.
   * "none": `-machine none`, the smallest QEMU that speaks QMP. Default "balloon".
   */
  readonly profile?: 'balloon' | 'none';
  /** How long to wait for the socket to accept connections, in ms. Default 10 000. */
  readonly readyTimeoutMs?: number;
}

const live = new Set<ChildProcess>();
// Never leave a QEMU behind, even when a test run aborts.
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/** Command-line arguments for a profile. */
export function qemuArgs(socketPath: string, profile: 'balloon' | 'none'): string[] {
  const common = ['-nodefaults', '-no-user-config', '-display', 'none', '-qmp', `unix:${socketPath},server=on,wait=off`];
  if (profile === 'none') return ['-machine', 'none', ...common];
  return ['-machine', 'q35', '-accel', 'tcg', '-m', '128', '-S', '-device', 'virtio-balloon-pci,id=balloon0', ...common];
}

/** A running QEMU child process. */
export class QemuProcess {
  private exited: Promise<void>;

  private constructor(
    readonly child: ChildProcess,
    readonly socketPath: string,
    private readonly stderr: { text: string },
  ) {
    this.exited = new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once('exit', () => resolve());
    });
  }

  /** Starts QEMU and resolves once its QMP socket accepts connections. */
  static async start(options: QemuProcessOptions): Promise<QemuProcess> {
    const child = spawn('qemu-system-x86_64', qemuArgs(options.socketPath, options.profile ?? 'balloon'), {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    live.add(child);
    const stderr = { text: '' };
    child.stderr?.on('data', (d: Buffer) => {
      // Bounded: only the start of QEMU's complaints matters.
      if (stderr.text.length < 8192) stderr.text += d.toString();
    });
    child.once('exit', () => live.delete(child));
    const qemu = new QemuProcess(child, options.socketPath, stderr);
    try {
      await qemu.waitReady(options.readyTimeoutMs ?? 10_000);
    } catch (err) {
      await qemu.kill();
      throw err;
    }
    return qemu;
  }

  get pid(): number {
    if (this.child.pid === undefined) throw new Error('QEMU has no pid');
    return this.child.pid;
  }

  /** Whether the process has exited. */
  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Freezes QEMU (SIGSTOP): the socket stays open, nothing answers. */
  freeze(): void {
    this.child.kill('SIGSTOP');
  }

  /** Thaws QEMU (SIGCONT). */
  thaw(): void {
    this.child.kill('SIGCONT');
  }

  /** Kills QEMU (default SIGKILL, which leaves the socket file behind) and waits for it to exit. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.running) {
      // A stopped process only dies of SIGKILL; SIGCONT lets other signals through as well.
      this.child.kill(signal);
      if (signal !== 'SIGKILL') this.child.kill('SIGCONT');
    }
    await this.exited;
  }

  private async waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (!this.running) throw new Error(`QEMU exited before its QMP socket was ready: ${this.stderr.text.trim()}`);
      // A stale socket file of an earlier QEMU may exist: only a successful connect means ready.
      if (existsSync(this.socketPath) && (await canConnect(this.socketPath))) return;
      if (Date.now() > deadline) throw new Error(`QEMU's QMP socket ${this.socketPath} not ready within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

/** Connects and disconnects at once; QEMU then serves the next client normally. */
function canConnect(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createConnection({ path: socketPath });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
