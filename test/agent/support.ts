/**
 * Helpers for the agent's real-VM tests: a test VM with the kubemom.v1 agent wired
 * into its sidecar, and a WatchStats reader to wait for samples.
 */
import * as grpc from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import type { WireStatsSample } from '../../src/api/kubemom-v1.js';
import { AgentClient } from '../../src/api/client.js';
import { AgentService } from '../../src/agent/service.js';
import type { GuardConfig } from '../../src/agent/guard.js';
import type { Testbed } from '../../testbed/testbed.js';
import type { StartTestVmOptions, TestVm } from '../../testbed/test-vm.js';
import { EVENT_DEADLINE_MS } from '../support/deadline.js';

export const MiB = 2 ** 20;

/** How long a wait on a real TCG guest's sample may take before the test fails (a boot included). */
export const REAL_GUEST_EVENT_DEADLINE_MS = 2 * EVENT_DEADLINE_MS;
export type Sample = WireStatsSample;

export interface AgentVm {
  vm: TestVm;
  service: AgentService;
  client: AgentClient;
  watcher: SampleWatcher;
  close(): Promise<void>;
}

export async function startAgentVm(bed: Testbed, options: StartTestVmOptions, guard?: Partial<GuardConfig>): Promise<AgentVm> {
  const service = new AgentService({ podUid: '00000000-0000-4000-8000-000000000000', ...(guard ? { guard } : {}) });
  const vm = await bed.startVm({
    ...options,
    sidecar: { services: [service.service], onVmConfig: (c) => service.onVmConfig(c), onStop: () => service.stop() },
  });
  const client = new AgentClient(vm.sidecar.server.socketPath);
  const watcher = new SampleWatcher(client);
  return {
    vm,
    service,
    client,
    watcher,
    async close() {
      watcher.close();
      client.close();
      await vm.destroy();
    },
  };
}

/** Reads WatchStats and keeps every sample; reconnects if the stream ends. */
export class SampleWatcher {
  readonly samples: Sample[] = [];
  private call: grpc.ClientReadableStream<Sample> | undefined;
  private closed = false;
  private waiters = new Set<() => void>();

  constructor(private readonly client: AgentClient) {
    this.open();
  }

  private open(): void {
    if (this.closed) return;
    const call = this.client.watchStats();
    this.call = call;
    call.on('data', (s: Sample) => {
      this.samples.push(s);
      for (const w of [...this.waiters]) w();
    });
    call.on('error', () => undefined);
    call.on('end', () => setTimeout(() => this.open(), 200));
  }

  get latest(): Sample | undefined {
    return this.samples[this.samples.length - 1];
  }

  /**
   * Resolves with the first sample (from now on, or already seen when `includePast`) that matches. The deadline
   * only bounds a broken build: a TCG guest on a loaded 2-core machine is slow, and speed is bench/'s business.
   */
  waitFor(what: string, match: (s: Sample) => boolean, includePast = false): Promise<Sample> {
    const timeoutMs = REAL_GUEST_EVENT_DEADLINE_MS;
    const past = includePast ? this.samples.find(match) : undefined;
    if (past) return Promise.resolve(past);
    const from = this.samples.length;
    return new Promise<Sample>((resolve, reject) => {
      const check = (): void => {
        for (let i = from; i < this.samples.length; i++) {
          const s = this.samples[i]!;
          if (match(s)) {
            done();
            resolve(s);
            return;
          }
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no sample with ${what} within ${timeoutMs} ms; last: ${JSON.stringify(this.latest)}`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  /** Waits for a guest report taken after now (the guest reports once per period). */
  settle(): Promise<Sample> {
    const after = Math.floor(Date.now() / 1000);
    return this.waitFor('a guest report taken after now', (s) => s.guest !== null && s.guest['last_update_unix_seconds']! > after);
  }

  close(): void {
    this.closed = true;
    this.call?.cancel();
  }
}

/** QEMU's pid, from the file libvirt keeps for the domain. */
export function qemuPid(domainName: string): number {
  return Number(readFileSync(`/run/libvirt/qemu/${domainName}.pid`, 'utf8').trim());
}
