/**
 * The noisy pod: a plain process (no VM, no KubeMom) in its own pod cgroup beside the VM
 * pods, whose anonymous memory the run grows and frees on command. It is what a batch job
 * or a memory-hungry container does to a node's VMs.
 *
 * The process is a small Node program on stdin/stdout: `hold N` makes it hold N MiB (every
 * page written, so every page is resident and charged), `free` drops all of it (large
 * buffers are unmapped at once after a collection); each command is answered `held N`.
 */
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Cgroup, CgroupTree } from './cgroup-tree.js';

const PROGRAM = `
const chunks = [];
const MiB = 1048576;
require('node:readline').createInterface({ input: process.stdin }).on('line', (line) => {
  const [cmd, arg] = line.trim().split(' ');
  if (cmd === 'hold') {
    const want = Number(arg);
    while (chunks.length < want) chunks.push(Buffer.allocUnsafeSlow(MiB).fill(1));
    while (chunks.length > want) chunks.pop();
  } else if (cmd === 'free') {
    chunks.length = 0;
  }
  globalThis.gc();
  process.stdout.write('held ' + chunks.length + '\\n');
});
`;

export class NoisyPod {
  private readonly lines: AsyncIterator<string>;
  private queue: Promise<unknown> = Promise.resolve();
  heldMiB = 0;

  private constructor(readonly child: ChildProcess) {
    this.lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  }

  /** Starts the process inside `cgroup` (before its first allocation). */
  static start(tree: CgroupTree, cgroup: Cgroup): NoisyPod {
    const child = tree.spawnIn(cgroup, process.execPath, ['--expose-gc', '-e', PROGRAM], { stdio: ['pipe', 'pipe', 'inherit'] });
    return new NoisyPod(child);
  }

  /** Holds `mib` MiB in total; resolves once it does. */
  hold(mib: number): Promise<number> {
    return this.send(`hold ${mib}`);
  }

  free(): Promise<number> {
    return this.send('free');
  }

  private send(command: string): Promise<number> {
    const result = this.queue.then(async () => {
      if (this.child.exitCode !== null || this.child.signalCode !== null) throw new Error(`the noisy pod's process has ended (${this.child.signalCode ?? this.child.exitCode})`);
      this.child.stdin!.write(`${command}\n`);
      const next = await this.lines.next();
      if (next.done) throw new Error(`the noisy pod's process ended during "${command}" (${this.child.signalCode ?? this.child.exitCode ?? 'killed'})`);
      this.heldMiB = Number(next.value.split(' ')[1]);
      return this.heldMiB;
    });
    this.queue = result.catch(() => undefined);
    return result;
  }

  /** Ends the process and waits for it. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGKILL');
    await exited;
  }
}
