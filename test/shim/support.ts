/** Test support for the shim: a real node-exporter, agent host processes, test policies. */
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Policy, PolicyInput } from '../../src/policy/types.js';
import type { ShimOptions } from '../../src/shim/shim.js';
import type { SimulatedAgentOptions } from '../../testbed/simulated-agent.js';
import type { AgentHostReport } from '../../testbed/simulated-agent-host.js';
import { EVENT_DEADLINE_MS } from '../support/deadline.js';

/**
 * Shim options for tests: this machine's /proc, fast periods and short deadlines,
 * metrics on a free loopback port; `overrides` replace any of them.
 */
export function testShimOptions(kubeletRoot: string, overrides: Partial<ShimOptions> = {}): ShimOptions {
  return {
    kubeletRoot,
    meminfoFile: '/proc/meminfo',
    psiFile: '/proc/pressure/memory',
    vmstatFile: '/proc/vmstat',
    procRoot: '/proc',
    periodMs: 200,
    rescanMs: 300,
    session: { describeDeadlineMs: 300, setTargetDeadlineMs: 300, initialBackoffMs: 300, maxBackoffMs: 1000 },
    listen: { host: '127.0.0.1', port: 0 },
    ...overrides,
  };
}

/** The least `kubemom shim` flags for shimOptionsFromFlags: no node-exporter, KSM, metrics or PSI trigger. */
export const MINIMAL_SHIM_FLAGS = {
  kubeletRoot: '/k', nodeExporterUrl: '', scrapeTimeout: '1s', ksmDir: '', procRoot: '/proc', psiTrigger: 'off', metricsAddress: '', policy: 'observe',
  period: '5s', rescan: '5s', describeDeadline: '2s', setTargetDeadline: '1s',
};

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

/** A real prometheus-node-exporter on loopback, with the ksmd collector. */
export class NodeExporterProcess {
  private child: ChildProcess | undefined;
  constructor(readonly port: number) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}/metrics`;
  }

  async start(): Promise<void> {
    this.child = spawn('prometheus-node-exporter', [`--web.listen-address=127.0.0.1:${this.port}`, '--collector.ksmd', '--no-collector.systemd'], {
      stdio: 'ignore',
    });
    const end = Date.now() + EVENT_DEADLINE_MS;
    while (Date.now() < end) {
      try {
        const res = await fetch(this.url, { signal: AbortSignal.timeout(1000) });
        await res.text();
        if (res.ok) return;
      } catch {
        // Not listening yet.
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`node-exporter did not start within ${EVENT_DEADLINE_MS / 1000} s`);
  }

  /** SIGSTOP / SIGCONT: a node-exporter that hangs (connections accepted by the kernel, never answered). */
  freeze(frozen: boolean): void {
    this.child?.kill(frozen ? 'SIGSTOP' : 'SIGCONT');
  }

  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null) return;
    child.kill('SIGCONT');
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  }
}

/** SimulatedAgents in a child process (killable for real). */
export class AgentHostProcess {
  private child: ChildProcess | undefined;

  async start(configs: SimulatedAgentOptions[]): Promise<void> {
    const file = path.join(os.tmpdir(), `kubemom-agents-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}.json`);
    writeFileSync(file, JSON.stringify(configs));
    const script = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'testbed', 'simulated-agent-host.js');
    const child = fork(script, [file], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], env: { ...process.env, KUBEMOM_LOG_LEVEL: 'warn' } });
    this.child = child;
    try {
      await new Promise<void>((resolve, reject) => {
        child.once('message', () => resolve());
        child.once('exit', (code) => reject(new Error(`agent host exited ${code}`)));
      });
    } finally {
      rmSync(file, { force: true });
    }
  }

  async received(): Promise<AgentHostReport> {
    const child = this.child!;
    return new Promise((resolve) => {
      child.once('message', (m) => resolve(m as AgentHostReport));
      child.send({ cmd: 'received' });
    });
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** SIGKILL: the agents die mid-stream and leave their sockets behind. */
  async kill(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
  }

  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => child.kill('SIGKILL'), 3000);
      child.once('exit', () => {
        clearTimeout(force);
        resolve();
      });
      child.send({ cmd: 'stop' });
    });
  }
}

/**
 * Test policy (not a product policy): squeezes every guest to its guaranteed
 * memory while the host is "under pressure", else gives it all its memory back.
 * Pressure is: memory stall time grew since the previous host sample, or
 * MemAvailable under `availableBelowBytes`.
 */
export class TestSqueezePolicy implements Policy<null> {
  readonly name = 'test-squeeze';
  evaluations = 0;
  constructor(public availableBelowBytes = 0) {}

  initialState(): null {
    return null;
  }

  evaluate(input: PolicyInput): { decisions: { balloons: Array<{ guestId: string; targetBytes: number; reason: string }>; ksm: Record<string, never> }; state: null } {
    this.evaluations++;
    const history = input.host.history;
    const now = history[history.length - 1]!;
    const before = history[history.length - 2];
    const stalled = before?.psi && now.psi ? now.psi.someTotalUs > before.psi.someTotalUs : false;
    const pressure = stalled || now.memAvailableBytes < this.availableBelowBytes;
    return {
      decisions: {
        balloons: input.guests.map((g) => ({
          guestId: g.id,
          targetBytes: pressure ? g.guaranteedMemoryBytes : g.guestMemoryBytes,
          reason: pressure ? 'test-host-pressure' : 'test-grow',
        })),
        ksm: {},
      },
      state: null,
    };
  }
}

/** Test policy that always throws. */
export const testThrowingPolicy: Policy<null> = {
  name: 'test-throws',
  initialState: () => null,
  evaluate: () => {
    throw new Error('test policy failure');
  },
};
