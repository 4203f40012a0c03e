/** Test support: a kubelet-style pods tree in a temp dir, populated with SimulatedAgents. */
import { mkdtempSync, rmSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { SOCKET_NAME } from '../../src/api/kubemom-v1.js';
import { HOOK_SOCKETS_VOLUME } from '../../src/shim/discovery.js';
import { SimulatedAgent, type SimulatedAgentOptions } from '../../testbed/simulated-agent.js';
import { EVENT_DEADLINE_MS } from '../support/deadline.js';

export const GI = 2 ** 30;
export const MI = 2 ** 20;

export class KubeletTree {
  readonly root = mkdtempSync(path.join(os.tmpdir(), 'kubemom-kubelet-'));
  readonly agents: SimulatedAgent[] = [];

  /** The socket path of sidecar `index` in pod `podUid`. */
  socketPath(podUid: string, index = 0): string {
    return path.join(this.root, 'pods', podUid, HOOK_SOCKETS_VOLUME, `hook-sidecar-${index}`, SOCKET_NAME);
  }

  /** Starts a SimulatedAgent in a new pod directory. */
  async addVm(name: string, overrides: Partial<SimulatedAgentOptions> = {}, podUid = randomUUID()): Promise<SimulatedAgent> {
    const agent = new SimulatedAgent({
      socketPath: this.socketPath(podUid),
      namespace: 'default',
      name,
      uid: randomUUID(),
      podUid,
      guestMemoryBytes: 2 * GI,
      guaranteedMemoryBytes: 512 * MI,
      statsPeriodMs: 200,
      ...overrides,
    });
    await agent.start();
    this.agents.push(agent);
    return agent;
  }

  async close(): Promise<void> {
    await Promise.all(this.agents.map((a) => a.stop()));
    rmSync(this.root, { recursive: true, force: true });
  }
}

/**
 * Polls `check` until it holds; returns whether it held before the generous event deadline (a test asserts the
 * result, so a broken build fails instead of hanging).
 */
export async function waitFor(check: () => boolean, stepMs = 20, deadlineMs = EVENT_DEADLINE_MS): Promise<boolean> {
  const end = Date.now() + deadlineMs;
  while (Date.now() < end) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, stepMs));
  }
  return check();
}
