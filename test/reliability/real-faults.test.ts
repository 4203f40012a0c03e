/**
 * Faults that need root: KSM writes the kernel refuses, on a real read-only bind mount of a copy of this machine's
 * KSM controls. The rest of the fault matrix: faults.test.ts.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Shim, type ShimOptions } from '../../src/shim/shim.js';
import type { Policy, PolicyInput } from '../../src/policy/types.js';
import { KubeletTree, waitFor } from '../shim/kubelet-tree.js';
import { metricValue, shimMetrics as metrics, testShimOptions } from '../shim/support.js';

describe('reliability: faults on real mounts', function () {
  let kubelet: KubeletTree;
  const shims: Shim<unknown>[] = [];
  const cleanups: Array<() => Promise<void> | void> = [];

  beforeEach(() => (kubelet = new KubeletTree()));
  afterEach(async () => {
    for (const s of shims.splice(0)) await s.stop();
    for (const c of cleanups.splice(0).reverse()) await c();
    await kubelet.close();
  });

  async function startShim(policy: Policy<unknown>, overrides: Partial<ShimOptions> = {}): Promise<Shim<unknown>> {
    const s = new Shim(testShimOptions(kubelet.root, overrides), policy);
    shims.push(s);
    await s.start();
    return s;
  }

  async function stopShim(s: Shim<unknown>): Promise<void> {
    shims.splice(shims.indexOf(s), 1);
    await s.stop();
  }

  it('KSM writes refused by the kernel (read-only mount, EROFS): counted, no crash, balloons still served, nothing written', async function () {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'km-ksm-ro-'));
    for (const f of readdirSync('/sys/kernel/mm/ksm')) {
      try {
        writeFileSync(path.join(dir, f), readFileSync(path.join('/sys/kernel/mm/ksm', f)));
      } catch {
        // unreadable control: leave it out
      }
    }
    const before = readFileSync(path.join(dir, 'run'), 'utf8');
    expect(spawnSync('mount', ['--bind', dir, dir]).status, 'bind mount').to.equal(0);
    cleanups.push(() => {
      spawnSync('umount', [dir]);
      rmSync(dir, { recursive: true, force: true });
    });
    expect(spawnSync('mount', ['-o', 'remount,ro,bind', dir]).status, 'read-only remount').to.equal(0);
    const agent = await kubelet.addVm('vm');
    const wantsKsm: Policy<null> = {
      name: 'test-ksm',
      initialState: () => null,
      evaluate: (input: PolicyInput) => ({
        decisions: { balloons: input.guests.map((g) => ({ guestId: g.id, targetBytes: g.guaranteedMemoryBytes, reason: 'test' })), ksm: { run: before.trim() === '1' ? 0 : 1, pages_to_scan: 321 } },
        state: null,
      }),
    };
    const s = await startShim(wantsKsm as Policy<unknown>, { ksmDir: dir });
    expect(await waitFor(() => agent.received.length > 0 && s.loop.cycles > 5)).to.equal(true);
    const text = await metrics(s.httpPort!);
    expect(metricValue(text, 'kubemom_ksm_write_errors_total{file="run"}')).to.be.at.least(1);
    expect(readFileSync(path.join(dir, 'run'), 'utf8')).to.equal(before);
    expect((await fetch(`http://127.0.0.1:${s.httpPort}/healthz`)).status).to.equal(200);
    await stopShim(s); // restoring on stop meets the same refusal: must not throw
  });
});
