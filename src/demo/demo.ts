/**
 * `kubemom demo`: a KubeMom node on one machine, no cluster. The real node shim
 * (src/shim) with a real policy drives real sidecars (src/hook-sidecar + src/agent)
 * over real unix sockets; behind each sidecar's QMP side monitor runs a simulated
 * QEMU whose guest is the simulator's guest model (or, with `--real`, a real TCG
 * guest from the test bed). The node itself is a model: the demo writes its
 * meminfo, PSI and vmstat files, which the shim reads like a real node's, so the
 * node can be overcommitted and put under pressure by a scripted timeline.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { InputError } from '../common/errors.js';
import { UNIX_SOCKET_PATH_MAX } from '../common/units.js';
import { createPolicy, policyParameterNames, type PolicyParameters } from '../policy/registry.js';
import type { Policy } from '../policy/types.js';
import { parseEvictionThreshold } from '../shim/host/eviction.js';
import type { SidecarSession } from '../shim/session.js';
import { Shim } from '../shim/shim.js';
import { hostSample, nodeMemory, PsiModel } from '../sim/node-model.js';
import { LiveView } from './display.js';
import { nodeFiles, writeNodeFiles } from './node-files.js';
import { demoPlan, neighbourAt, phaseAt, type DemoOptions, type DemoPlan } from './plan.js';
import { DemoRecorder, type DemoReport, type GuestView, type NodeView } from './report.js';
import { formatReport } from './report-text.js';
import { loadRealGuests, type DemoGuests, type DemoGuestsContext } from './guests.js';
import { startSimulatedGuests } from './simulated-guests.js';

const readText = (file: string): string => readFileSync(file, 'utf8');

export interface DemoIo {
  out: NodeJS.WritableStream;
  tty: boolean;
  /**
   * Ends the run early (Ctrl-C, a closed terminal); cleanup still runs and the report
   * says the run was interrupted. Abort with the signal's name (`SIGHUP`) as the reason
   * for the report to name it.
   */
  signal?: AbortSignal;
  /** Live view refresh on a TTY (default 500 ms); plain event lines are written this often (default 1 s). */
  refreshMs?: number;
}

export interface DemoResult {
  report: DemoReport;
  /** The demo's scratch directory (removed by the time this resolves). */
  root: string;
}

/** The policy by name or file, from the policy registry as the shim runs it, with the demo's time-scale overrides. */
export function demoPolicy(spec: string): Policy<unknown> {
  const params: PolicyParameters = {};
  const names = policyParameterNames(spec, readText);
  // The demo's guests have been running before the shim sees them: a one-minute start
  // grace would spend the whole demo waiting. Five seconds keeps the rule visible.
  if (names.includes('startGraceMs')) params.startGraceMs = 5000;
  // Likewise the calm give-back: two minutes of calm, then a step a minute, is longer than
  // a short demo's whole calm phase. Scaled like the start grace, so the give-back shows.
  if (names.includes('calmHoldMs')) params.calmHoldMs = 5000;
  if (names.includes('growIntervalMs')) params.growIntervalMs = 2000;
  return createPolicy(spec, params, readText, '--policy');
}

const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });

function sessionsByName(shim: Shim): Map<string, SidecarSession> {
  const map = new Map<string, SidecarSession>();
  for (const s of shim.registry.all()) {
    const name = s.describe?.vm?.name;
    if (name) map.set(name, s);
  }
  return map;
}

/**
 * The longest QMP socket path the demo makes must fit a unix socket address: under a
 * long TMPDIR it would not, and the first VM would fail with a less helpful message.
 */
function checkTmpdir(tmp: string, vms: number): void {
  // <tmp>/kmdemo-XXXXXX/vm<i>/hook-sidecar-0/kubemom/qmp/<uuid>.sock (the sidecar names the socket by a UUID).
  const longest = path.join(tmp, 'kmdemo-XXXXXX', `vm${vms - 1}`, 'hook-sidecar-0', 'kubemom', 'qmp', `${'0'.repeat(36)}.sock`);
  const bytes = Buffer.byteLength(longest);
  if (bytes > UNIX_SOCKET_PATH_MAX) {
    throw new InputError('TMPDIR', `"${tmp}" is too long: the demo's sockets under it would take ${bytes} bytes, unix sockets allow ${UNIX_SOCKET_PATH_MAX}; set TMPDIR to a shorter directory such as /tmp`);
  }
}

/** Runs the demo to its end (or the signal) and cleans up everything it made. */
export async function runDemo(options: DemoOptions, io: DemoIo): Promise<DemoResult> {
  const plan = demoPlan(options);
  const policy = demoPolicy(options.policy);
  checkTmpdir(os.tmpdir(), options.vms);
  const root = mkdtempSync(path.join(os.tmpdir(), 'kmdemo-'));
  const kubeletRoot = path.join(root, 'kubelet');
  const files = nodeFiles(path.join(root, 'node'));
  const node = plan.node;
  const psi = new PsiModel(node);
  const recorder = new DemoRecorder(plan.timeline);
  let t0 = Number.POSITIVE_INFINITY;
  const clock = (): number => Date.now() - t0;
  let guests: DemoGuests | undefined;
  let shim: Shim | undefined;
  let ticker: NodeJS.Timeout | undefined;
  let lastView: NodeView | undefined;

  const nodeTick = (tMs: number, dtMs: number): NodeView => {
    const g = guests!;
    const started = tMs >= 0;
    if (started) g.step(tMs, dtMs);
    const neighbour = started ? neighbourAt(plan.timeline, tMs) : 0;
    const mem = nodeMemory({ ...node, systemBytes: node.systemBytes + neighbour }, g.heldBytes());
    psi.step(dtMs, mem);
    const p = psi.read();
    writeNodeFiles(files, hostSample(node, mem, Date.now(), p), p);
    const sessions = shim ? sessionsByName(shim) : new Map<string, SidecarSession>();
    const views: GuestView[] = g.names.map((name) => {
      const s = sessions.get(name);
      const latest = s?.latest;
      const actual = latest?.balloonActualBytes;
      const reported = latest?.guest && actual !== undefined ? actual - latest.guest.availableBytes : undefined;
      return {
        name,
        memoryBytes: s?.describe?.guestMemoryBytes ?? plan.guests.find((p) => p.config.name === name)?.config.memoryBytes ?? 0,
        needBytes: g.needBytes(name) ?? reported,
        actualBytes: actual,
        targetBytes: latest?.balloonTargetBytes,
        session: s?.state ?? 'not found',
      };
    });
    return {
      tMs,
      phase: started ? phaseAt(plan.timeline, tMs) : 'starting',
      totalBytes: node.memoryBytes,
      availableBytes: mem.availableBytes,
      reserveBytes: node.reserveBytes,
      evictionHardBytes: node.evictionHardBytes,
      neighbourBytes: neighbour,
      psiSome10: p.someAvg10,
      guests: views,
      guestOoms: g.guestOoms(),
    };
  };

  const title = `KubeMom demo: ${options.vms} ${options.real ? 'real TCG' : 'simulated'} VMs, policy ${policy.name}`;
  // Off a terminal, a status line about ten times a run (at least 5 s apart) between the events.
  const view = new LiveView(io.out, io.tty, title, Math.max(5000, Math.round(plan.timeline.durationMs / 10 / 1000) * 1000));
  try {
    const context: DemoGuestsContext = { plan, root, kubeletRoot, clock };
    if (io.signal) context.signal = io.signal;
    if (options.real) {
      guests = await (await loadRealGuests()).startRealGuests(context, io.out);
    } else {
      guests = await startSimulatedGuests(context);
    }
    if (io.signal?.aborted) return finish();
    // The node exists before the shim starts: its files are written first.
    lastView = nodeTick(-1, 0);
    shim = new Shim(
      {
        kubeletRoot,
        meminfoFile: files.meminfo,
        psiFile: files.psi,
        vmstatFile: files.vmstat,
        procRoot: files.procRoot,
        // The shim's shipped trigger; the file is the model's, so it is read by polling.
        psiTrigger: { kind: 'some', stallUs: 150_000, windowUs: 1_000_000, forcePolling: true },
        periodMs: plan.periodMs,
        rescanMs: 1000,
        evictionHard: parseEvictionThreshold('--eviction-hard', `memory.available<${Math.round(node.evictionHardBytes / 2 ** 20)}Mi`)!,
        linkParent: root,
      },
      policy,
    );
    shim.onCycleHook = (result) => {
      for (const r of result.records) {
        if (r.outcome === 'unchanged') continue;
        recorder.decision({ tMs: r.atMs - t0, guest: r.guestId, targetBytes: r.targetBytes, reason: r.reason, trigger: r.trigger });
      }
    };
    if (io.signal?.aborted) return finish();
    await shim.start();
    // Every sidecar found, described and streaming stats before the story starts.
    const readyBy = Date.now() + 30_000;
    const expected = plan.guests.length;
    while (!io.signal?.aborted) {
      const live = shim.registry.all().filter((s) => s.state === 'live' && s.latest?.guest).length;
      if (live >= expected) break;
      if (Date.now() > readyBy) throw new Error(`only ${live} of ${expected} sidecars went live in the shim within 30 s`);
      await sleep(100, io.signal);
    }
    t0 = Date.now();
    let last = 0;
    ticker = setInterval(() => {
      const now = clock();
      lastView = nodeTick(now, now - last);
      last = now;
      recorder.node(lastView);
    }, 100);
    const refreshMs = io.refreshMs ?? (io.tty ? 500 : 1000);
    while (!io.signal?.aborted && clock() < plan.timeline.durationMs) {
      await sleep(Math.min(refreshMs, Math.max(1, plan.timeline.durationMs - clock())), io.signal);
      if (lastView) view.update(lastView, recorder);
    }
    return await finish();
  } finally {
    if (ticker) clearInterval(ticker);
    await shim?.stop();
    await guests?.stop();
    rmSync(root, { recursive: true, force: true });
  }

  /** The report: up to the end of the timeline, or to the interruption. */
  async function finish(): Promise<DemoResult> {
    if (ticker) clearInterval(ticker);
    ticker = undefined;
    const started = Number.isFinite(t0);
    const endedAtMs = started ? Math.min(clock(), plan.timeline.durationMs) : undefined;
    // Interrupted only if the signal came before the timeline's end.
    const interrupted = io.signal?.aborted === true && (endedAtMs === undefined || endedAtMs < plan.timeline.durationMs);
    // The last events (and a last status line) before the report.
    if (started && lastView && !io.tty) view.update(lastView, recorder);
    const reason: unknown = io.signal?.reason;
    const signalName = typeof reason === 'string' ? reason : 'a signal';
    return { report: makeReport(interrupted ? { endedAtMs, interruptedBy: signalName } : { endedAtMs }), root };
  }

  function makeReport(end: { endedAtMs: number | undefined; interruptedBy?: string }): DemoReport {
    return recorder.report(
      {
        mode: options.real ? 'real' : 'simulated',
        policy: policy.name,
        vms: options.vms,
        seconds: options.seconds,
        nodeMemoryBytes: node.memoryBytes,
        guestMemoryBytes: plan.guests.reduce((sum, g) => sum + g.config.memoryBytes, 0),
        reserveBytes: node.reserveBytes,
        evictionHardBytes: node.evictionHardBytes,
      },
      end,
    );
  }
}

export { formatReport };
