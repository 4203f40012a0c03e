/**
 * The fault matrix on real parts: the shim (in-process and as `kubemom shim`), real gRPC
 * SimulatedAgent sidecars (in this process and in a child process that can be frozen or
 * killed), the real default policy. Refused KSM writes on a real read-only mount (root): real-faults.test.ts.
 *
 * The host's memory is the one thing modelled here (a meminfo file the test writes, read
 * through the shim's --proc-root layout): a 24 GiB test machine cannot be made "suddenly
 * short of memory" for real without putting the test run itself at risk. Real memory
 * pressure is exercised in test/shim/real-pressure.test.ts.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Shim, type ShimOptions } from '../../src/shim/shim.js';
import { defaultPolicy } from '../../src/balloon/default-policy.js';
import type { Policy, PolicyInput } from '../../src/policy/types.js';
import { packageRoot } from '../../src/common/paths.js';
import { SimulatedAgent, type SimulatedAgentOptions } from '../../testbed/simulated-agent.js';
import { cliPath } from '../support/sidecar-process.js';
import { GI, KubeletTree, MI, waitFor } from '../shim/kubelet-tree.js';
import { AgentHostProcess, freePort, metricValue, shimMetrics as metrics, TestSqueezePolicy, testShimOptions } from '../shim/support.js';
import { ModelledHost } from '../shim/modelled-host.js';
import { EVENT_DEADLINE_MS } from '../support/deadline.js';

describe('reliability: fault matrix', function () {
  let kubelet: KubeletTree;
  const shims: Shim<unknown>[] = [];
  const cleanups: Array<() => Promise<void> | void> = [];

  beforeEach(() => (kubelet = new KubeletTree()));
  afterEach(async () => {
    for (const s of shims.splice(0)) await s.stop();
    for (const c of cleanups.splice(0).reverse()) await c();
    await kubelet.close();
  });

  function baseOptions(overrides: Partial<ShimOptions> = {}): ShimOptions {
    return testShimOptions(kubelet.root, overrides);
  }

  async function startShim(policy: Policy<unknown>, overrides: Partial<ShimOptions> = {}): Promise<Shim<unknown>> {
    const s = new Shim(baseOptions(overrides), policy);
    shims.push(s);
    await s.start();
    return s;
  }

  async function stopShim(s: Shim<unknown>): Promise<void> {
    shims.splice(shims.indexOf(s), 1);
    await s.stop();
  }

  it('a frozen sidecar process (SIGSTOP) misses its deadlines alone: every other sidecar is served each cycle, the loop keeps its period', async () => {
    const podUid = randomUUID();
    const config: SimulatedAgentOptions = {
      socketPath: kubelet.socketPath(podUid), namespace: 'default', name: 'frozen', uid: randomUUID(), podUid,
      guestMemoryBytes: 2 * GI, guaranteedMemoryBytes: 512 * MI, statsPeriodMs: 200,
    };
    const host = new AgentHostProcess();
    await host.start([config]);
    cleanups.push(async () => {
      if (host.pid) process.kill(host.pid, 'SIGCONT');
      await host.kill();
    });
    const others = await Promise.all(Array.from({ length: 8 }, (_, i) => kubelet.addVm(`vm-${i}`, { usedBytes: (300 + 50 * i) * MI })));
    // Alternate between squeezing and growing so that every cycle sends every VM a new target.
    let squeeze = false;
    const flipping: Policy<null> = {
      name: 'test-flip',
      initialState: () => null,
      evaluate: (input: PolicyInput) => {
        squeeze = !squeeze;
        return {
          decisions: { balloons: input.guests.map((g) => ({ guestId: g.id, targetBytes: squeeze ? g.guaranteedMemoryBytes : g.guestMemoryBytes, reason: 'test-flip' })), ksm: {} },
          state: null,
        };
      },
    };
    // A deadline ten times the suite's usual one: on a loaded 2-core machine a live in-process sidecar may
    // answer late, and this test is about the frozen one not holding the others back, not about latency.
    const s = await startShim(flipping as Policy<unknown>, { session: { describeDeadlineMs: 3000, setTargetDeadlineMs: 3000, initialBackoffMs: 300, maxBackoffMs: 1000 } });
    expect(await waitFor(() => s.registry.all().filter((x) => x.state === 'live').length === 9)).to.equal(true);
    process.kill(host.pid!, 'SIGSTOP');
    const frozenAt = Date.now();
    const counts = others.map((a) => a.received.length);
    const cycles = s.loop.cycles;
    // Events, not a stopwatch: the frozen sidecar goes stale, and meanwhile the loop goes on cycling and serving
    // every other sidecar (how fast it cycles under load is measured in bench/shim-scale).
    const frozen = s.registry.all().find((x) => x.found.podUid === podUid)!;
    expect(await waitFor(() => frozen.state === 'stale'), 'the frozen sidecar is marked stale').to.equal(true);
    const served = (): boolean => s.loop.cycles - cycles >= 10 && others.every((a, i) => a.received.length - counts[i]! >= 8);
    expect(await waitFor(served), `cycles ${s.loop.cycles - cycles}, served ${others.map((a, i) => a.received.length - counts[i]!).join()}`).to.equal(true);
    // No SetTarget to a live sidecar failed or missed its deadline (a call still in flight when the next cycle
    // comes is skipped, not failed: how often that happens is load, measured in bench/shim-scale).
    const late = s.loop.decisions.filter((d) => d.atMs >= frozenAt && d.guestId !== 'default/frozen' && (d.outcome === 'deadline' || d.outcome === 'error'));
    expect(late.map((d) => `${d.guestId}:${JSON.stringify(d.outcome)}`)).to.deep.equal([]);
    // Thawed, it is taken back.
    process.kill(host.pid!, 'SIGCONT');
    expect(await waitFor(() => s.registry.all().some((x) => x.found.podUid === podUid && x.state === 'live'))).to.equal(true);
  });

  it('a missing PSI file: the shim starts, reports the trigger off or polling, and keeps serving from meminfo', async () => {
    const agent = await kubelet.addVm('vm');
    const s = await startShim(new TestSqueezePolicy(Number.MAX_SAFE_INTEGER) as Policy<unknown>, {
      psiFile: path.join(kubelet.root, 'no-such-dir', 'memory'),
      psiTrigger: { kind: 'some', stallUs: 150_000, windowUs: 1_000_000 },
    });
    expect(await waitFor(() => agent.received.length > 0 && s.loop.cycles > 5)).to.equal(true);
    const text = await metrics(s.httpPort!);
    expect(metricValue(text, 'kubemom_shim_psi_trigger_mode{mode="kernel"}')).to.equal(0);
    expect(s.lastCycle!.input.host.history.at(-1)!.psi).to.equal(undefined);
    expect(s.lastCycle!.input.host.history.at(-1)!.memTotalBytes).to.be.greaterThan(0);
    expect((await fetch(`http://127.0.0.1:${s.httpPort}/healthz`)).status).to.equal(200);
  });

  /** Resolves once no agent's target has changed for `quietMs`. */
  async function settled(agents: SimulatedAgent[], quietMs: number): Promise<boolean> {
    let last = agents.map((x) => x.target).join();
    let since = Date.now();
    return waitFor(() => {
      const now = agents.map((x) => x.target).join();
      if (now !== last) {
        last = now;
        since = Date.now();
      }
      return Date.now() - since >= quietMs;
    }, 50);
  }

  it('shim restarted: rediscovers every sidecar and resumes without a jump in any target (real default policy, node short)', async () => {
    // Under the reserve (critical): the default policy reclaims from every guest down to its floor.
    const host = new ModelledHost(32 * GI, 1 * GI);
    cleanups.push(() => host.close());
    const agents = await Promise.all(
      Array.from({ length: 6 }, (_, i) => kubelet.addVm(`vm-${i}`, { guestMemoryBytes: 4 * GI, guaranteedMemoryBytes: GI, usedBytes: (1200 + 100 * i) * MI, priority: 20 + 10 * i })),
    );
    const policy = (): Policy<unknown> => defaultPolicy({ startGraceMs: 0 }) as Policy<unknown>;
    const a = await startShim(policy(), { ...host.options(), periodMs: 300 });
    expect(await waitFor(() => agents.every((x) => x.target > 0 && x.target < 4 * GI)), agents.map((x) => x.target / MI).join()).to.equal(true);
    expect(await settled(agents, 1500), 'targets settle').to.equal(true);
    const lastBefore = agents.map((x) => x.target);
    const countBefore = agents.map((x) => x.received.length);
    await stopShim(a);
    const b = await startShim(policy(), { ...host.options(), periodMs: 300 });
    expect(await waitFor(() => b.registry.all().filter((x) => x.state === 'live').length === 6), 'every sidecar rediscovered').to.equal(true);
    expect(await waitFor(() => b.loop.cycles >= 10)).to.equal(true);
    const after = agents.map((x, i) => x.received.slice(countBefore[i]).map((r) => r.targetBytes));
    for (const [i, targets] of after.entries()) {
      for (const t of targets) {
        // No jump: where the previous shim left it, within the policy's smallest change (16 MiB), never under guaranteed.
        expect(Math.abs(t - lastBefore[i]!), `vm-${i}: ${t / MI} MiB after restart vs ${lastBefore[i]! / MI} MiB before`).to.be.at.most(16 * MI);
        expect(t).to.be.at.least(GI);
      }
    }
    expect(agents.map((x) => x.target)).to.deep.equal(lastBefore);
    expect(b.lastCycle!.input.guests, 'the new shim runs the policy on every VM').to.have.length(6);
  });

  it('node suddenly short while guests are ballooned: the guest in need gets memory back first, donors are not grown, none under guaranteed', async () => {
    const host = new ModelledHost(32 * GI, 20 * GI);
    cleanups.push(() => host.close());
    const donors = await Promise.all(
      [10, 50, 90].map((priority) => kubelet.addVm(`p${priority}`, { guestMemoryBytes: 4 * GI, guaranteedMemoryBytes: GI, usedBytes: 1200 * MI, priority })),
    );
    const needy = await kubelet.addVm('needy', { guestMemoryBytes: 4 * GI, guaranteedMemoryBytes: GI, usedBytes: 1200 * MI, priority: 90 });
    const all = [...donors, needy];
    const s = await startShim(defaultPolicy({ startGraceMs: 0 }) as Policy<unknown>, { ...host.options(), periodMs: 300 });
    expect(await waitFor(() => s.loop.cycles > 5)).to.equal(true);
    expect(all.every((x) => x.received.length === 0), 'calm node: nothing to do').to.equal(true);
    // The node is suddenly short (under the reserve): reclaim from everyone.
    host.setAvailable(1 * GI);
    expect(await waitFor(() => all.every((x) => x.target > 0 && x.target < 3 * GI)), all.map((x) => x.target / MI).join()).to.equal(true);
    expect(await settled(all, 1000)).to.equal(true);
    const ballooned = all.map((x) => x.target);
    // The needy guest's working set now outgrows its balloon (it swaps); the node stays short,
    // just above the line under which nothing is given back to anyone.
    needy.setUsedBytes(ballooned[3]! + 256 * MI);
    host.setAvailable(1.3 * GI);
    const count = all.map((x) => x.received.length);
    expect(await waitFor(() => needy.received.slice(count[3]).some((r) => r.targetBytes > ballooned[3]! && r.reason !== '')), 'the guest in need is given memory').to.equal(true);
    const given = needy.received.slice(count[3]).find((r) => r.targetBytes > ballooned[3]!)!;
    // Donors were not grown meanwhile: memory went to the guest in need only.
    for (const [i, d] of donors.entries()) expect(d.received.slice(count[i]).every((r) => r.targetBytes <= ballooned[i]!), `donor ${i}`).to.equal(true);
    console.log(`    short node: ballooned ${ballooned.map((v) => v / MI).join(', ')} MiB; needy given ${(given.targetBytes - ballooned[3]!) / MI} MiB (${given.reason})`);
    // None under guaranteed, ever: what the policy decided and what the shim sent.
    expect(s.loop.decisions.every((d) => d.targetBytes >= GI)).to.equal(true);
    for (const x of all) for (const r of x.received) expect(r.targetBytes).to.be.at.least(GI);
  });

  it('policy reload (SIGHUP) with a broken file keeps the last good policy, reports the error, and takes the next good file', async () => {
    await kubelet.addVm('vm');
    const dir = mkdtempSync(path.join(os.tmpdir(), 'km-policy-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'policy.yaml');
    const good = readFileSync(path.join(packageRoot, 'policies', 'mom.yaml'), 'utf8');
    writeFileSync(file, good);
    const port = await freePort();
    const child = spawn(process.execPath, [cliPath, 'shim', '--kubelet-root', kubelet.root, '--metrics-address', `127.0.0.1:${port}`, '--node-exporter-url', '', '--ksm-dir', '', '--period', '200ms', '--policy', file], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, KUBEMOM_LOG_LEVEL: 'info' },
    });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    cleanups.push(async () => {
      if (child.exitCode !== null) return;
      const exit = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exit;
    });
    const scrape = async (): Promise<string> => {
      try {
        return await metrics(port);
      } catch {
        return '';
      }
    };
    let text = '';
    const until = async (check: (t: string) => boolean): Promise<boolean> => {
      const end = Date.now() + EVENT_DEADLINE_MS;
      while (Date.now() < end) {
        text = await scrape();
        if (check(text)) return true;
        await new Promise((r) => setTimeout(r, 100));
      }
      return false;
    };
    expect(await until((t) => t.includes('kubemom_shim_policy_info{policy="mom-yaml"} 1')), stderr).to.equal(true);
    // Broken: an expression that does not parse.
    writeFileSync(file, good.replace('target: shrink_size', 'target: shrink_size +* ('));
    child.kill('SIGHUP');
    expect(await until((t) => metricValue(t, 'kubemom_shim_policy_reloads_total{result="error"}') === 1), stderr).to.equal(true);
    expect(metricValue(text, 'kubemom_shim_policy_last_reload_success')).to.equal(0);
    expect(text).to.include('kubemom_shim_policy_info{policy="mom-yaml"} 1');
    expect(stderr).to.match(/"msg":"policy reload failed; the last good policy stays in force"/);
    expect(stderr).to.match(/policy\.yaml:\d+:\d+: /);
    const runs = metricValue(text, 'kubemom_shim_loop_runs_total{trigger="period"}')!;
    expect(await until((t) => metricValue(t, 'kubemom_shim_loop_runs_total{trigger="period"}')! > runs + 3), 'the loop runs on').to.equal(true);
    // Missing file: same.
    rmSync(file);
    child.kill('SIGHUP');
    expect(await until((t) => metricValue(t, 'kubemom_shim_policy_reloads_total{result="error"}') === 2)).to.equal(true);
    // A good file again, under another name: in force.
    writeFileSync(file, good.replace('policy: mom-yaml', 'policy: mom-yaml-2'));
    child.kill('SIGHUP');
    expect(await until((t) => t.includes('kubemom_shim_policy_info{policy="mom-yaml-2"} 1')), stderr).to.equal(true);
    expect(text).to.not.include('policy="mom-yaml"}');
    expect(metricValue(text, 'kubemom_shim_policy_reloads_total{result="ok"}')).to.equal(1);
    expect(metricValue(text, 'kubemom_shim_policy_last_reload_success')).to.equal(1);
    expect(child.exitCode).to.equal(null);
  });
});
