/**
 * MOM-style replays: a recorded sequence of MOM host and guest states (MOM's field
 * names, KiB) evaluated through a policy one step at a time, the way MOM's policy
 * engine would have evaluated them. Pure: the caller parses the file and prints.
 *
 * Input: `{"parameters": {...}, "feedback": bool, "interval": s, "steps": [{"host": {...},
 * "guests": {"<name>": {...}}}, ...]}`, or one `{"host", "guests", "parameters"}` step.
 * Output: one `ReplayStepResult` per step.
 */
import { InputError } from '../common/errors.js';
import { MOM_HISTORY_LENGTH } from './mom/stat-avg.js';
import type { GuestSample, GuestState, HostSample, HostState, KsmControl, Phase, Policy, PolicyDecisions, PolicyInput } from './types.js';
import { KiB } from '../common/units.js';

/** A policy parameter as a replay gives it (true/false or a number). */
export type ParameterValue = boolean | number;

export interface Replay {
  parameters: Record<string, ParameterValue>;
  feedback: boolean;
  /** Time between steps, ms (MOM's policy interval; 10 s unless the file says). */
  intervalMs: number;
  steps: ReplayStep[];
}

/** Field values of one step; null is MOM's None. */
export type MomFields = Record<string, number | null>;

export interface ReplayStep {
  host?: MomFields;
  /** Present: every running guest (name to the fields that changed). Absent: no guest change. */
  guests?: Record<string, ReplayGuestFields>;
}

/** A guest's changed fields, and its lifecycle phase (a KubeMom extension) when given. */
export interface ReplayGuestFields {
  fields: MomFields;
  phase?: Phase;
}

export interface ReplayStepResult {
  step: number;
  ran: boolean;
  balloon: Record<string, number>;
  ksm: Partial<Record<KsmControl, number>>;
  /** Only with `explain`: why the policy did not run, guests left out, and reasons. */
  reason?: string;
  skipped?: Record<string, string>;
  reasons?: Record<string, string>;
}

const PHASES: readonly Phase[] = ['starting', 'running', 'paused', 'migrating', 'stopping', 'gone'];
const MAX_STEPS = 1_000_000;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function parseFields(v: unknown, field: string, allowPhase: boolean): ReplayGuestFields {
  if (!isObject(v)) throw new InputError(field, 'must be an object of MOM field names to numbers (KiB) or null');
  const out: MomFields = {};
  const result: ReplayGuestFields = { fields: out };
  for (const [k, x] of Object.entries(v)) {
    if (allowPhase && k === 'phase') {
      if (!PHASES.includes(x as Phase)) {
        throw new InputError(`${field}.phase`, `is ${JSON.stringify(x)}; accepted: ${PHASES.join(', ')}`);
      }
      result.phase = x as Phase;
      continue;
    }
    if (x === null) out[k] = null;
    else if (typeof x === 'number' && Number.isFinite(x)) out[k] = x;
    else if (typeof x === 'boolean') out[k] = x ? 1 : 0;
    else throw new InputError(`${field}.${k}`, `is ${JSON.stringify(x)}; accepted: a finite number or null`);
  }
  return result;
}

function parseStep(v: unknown, field: string): ReplayStep {
  if (!isObject(v)) throw new InputError(field, 'must be an object with "host" and/or "guests"');
  const step: ReplayStep = {};
  for (const k of Object.keys(v)) {
    if (!['host', 'guests', 'parameters'].includes(k)) {
      throw new InputError(`${field}.${k}`, 'is not a step field; accepted: host, guests');
    }
  }
  if (v.host !== undefined) step.host = parseFields(v.host, `${field}.host`, false).fields;
  if (v.guests !== undefined) {
    if (!isObject(v.guests)) throw new InputError(`${field}.guests`, 'must be an object of guest name to fields');
    step.guests = {};
    for (const [name, g] of Object.entries(v.guests)) step.guests[name] = parseFields(g, `${field}.guests.${name}`, true);
  }
  return step;
}

/** Validates a parsed replay document (precise errors naming the field). */
export function parseReplay(doc: unknown): Replay {
  if (!isObject(doc)) throw new InputError('replay', 'must be a JSON object with "steps" (or one step with "host")');
  const parameters: Record<string, ParameterValue> = {};
  if (doc.parameters !== undefined) {
    if (!isObject(doc.parameters)) throw new InputError('parameters', 'must be an object of name to true/false or a number');
    for (const [k, x] of Object.entries(doc.parameters)) {
      if (typeof x === 'boolean' || (typeof x === 'number' && Number.isFinite(x))) parameters[k] = x;
      else throw new InputError(`parameters.${k}`, `is ${JSON.stringify(x)}; accepted: true/false or a number (1/0)`);
    }
  }
  if (doc.feedback !== undefined && typeof doc.feedback !== 'boolean') {
    throw new InputError('feedback', `is ${JSON.stringify(doc.feedback)}; accepted: true or false`);
  }
  let intervalMs = 10_000;
  if (doc.interval !== undefined) {
    if (typeof doc.interval !== 'number' || !(doc.interval > 0)) {
      throw new InputError('interval', `is ${JSON.stringify(doc.interval)}; accepted: seconds between steps, > 0`);
    }
    intervalMs = doc.interval * 1000;
  }
  let steps: ReplayStep[];
  if (doc.steps !== undefined) {
    if (!Array.isArray(doc.steps)) throw new InputError('steps', 'must be an array of steps');
    if (doc.steps.length > MAX_STEPS) throw new InputError('steps', `has ${doc.steps.length} steps; at most ${MAX_STEPS} are accepted`);
    for (const k of Object.keys(doc)) {
      if (!['parameters', 'feedback', 'interval', 'steps'].includes(k)) {
        throw new InputError(k, 'is not a replay field; accepted: parameters, feedback, interval, steps');
      }
    }
    steps = doc.steps.map((s, i) => parseStep(s, `steps[${i}]`));
  } else if (doc.host !== undefined || doc.guests !== undefined) {
    steps = [parseStep(doc, 'replay')];
  } else {
    throw new InputError('steps', 'is missing; give "steps": [...] or a single step object with "host" and "guests"');
  }
  return { parameters, feedback: doc.feedback === true, intervalMs, steps };
}

/** Phase start assumed for the guests of the first step: a day before the recording. */
const RUNNING_BEFORE_MS = -86_400_000;

interface GuestTrack {
  incarnation: number;
  firstMs: number;
  current: MomFields;
  phase: Phase;
  samples: Array<MomFields & { atMs: number }>;
}

function num(f: MomFields, k: string): number | undefined {
  const v = f[k];
  return v === null || v === undefined ? undefined : v;
}

function bytes(f: MomFields, k: string): number | undefined {
  const v = num(f, k);
  return v === undefined ? undefined : v * KiB;
}

/** The host sample a MOM host record stands for, or why the host monitor is not ready. */
function hostSample(f: MomFields, atMs: number): HostSample | string {
  const total = num(f, 'mem_available');
  const free = num(f, 'mem_free');
  if (total === undefined) return 'host monitor is not ready: mem_available is missing';
  if (free === undefined) return 'host monitor is not ready: mem_free is missing';
  // MOM's mem_free is MemFree + Buffers + Cached; without mem_unused there is no cache.
  const unused = num(f, 'mem_unused') ?? free;
  const swapTotal = num(f, 'swap_total') ?? 0;
  const sample: HostSample = {
    atMs,
    memTotalBytes: total * KiB,
    memFreeBytes: unused * KiB,
    memAvailableBytes: (num(f, 'mem_usable') ?? free) * KiB,
    buffersBytes: 0,
    cachedBytes: (free - unused) * KiB,
    anonPagesBytes: (num(f, 'anon_pages') ?? 0) * KiB,
    swapTotalBytes: swapTotal * KiB,
    swapFreeBytes: (swapTotal - (num(f, 'swap_usage') ?? 0)) * KiB,
  };
  const swapIn = num(f, 'swap_in');
  const swapOut = num(f, 'swap_out');
  if (swapIn !== undefined) sample.swapInPages = swapIn;
  if (swapOut !== undefined) sample.swapOutPages = swapOut;
  const some10 = num(f, 'psi_some_avg10');
  const full10 = num(f, 'psi_full_avg10');
  if (some10 !== undefined || full10 !== undefined) {
    sample.psi = {
      someAvg10: some10 ?? 0,
      someAvg60: num(f, 'psi_some_avg60') ?? some10 ?? 0,
      fullAvg10: full10 ?? 0,
      fullAvg60: num(f, 'psi_full_avg60') ?? full10 ?? 0,
      someTotalUs: 0,
      fullTotalUs: 0,
    };
  }
  return sample;
}

function hostState(f: MomFields, history: HostSample[]): HostState {
  const host: HostState = {
    history,
    cpuCount: num(f, 'cpu_count') ?? 1,
    // The kubelet's default hard threshold, memory.available<100Mi, unless the file says.
    evictionHardBytes: bytes(f, 'eviction_hard') ?? 100 * 1024 * 1024,
  };
  const soft = bytes(f, 'eviction_soft');
  if (soft !== undefined) host.evictionSoftBytes = soft;
  const ksm: Record<string, number> = {};
  let hasKsm = false;
  for (const [k, v] of Object.entries(f)) {
    if (!k.startsWith('ksm_') || k === 'ksm_shareable') continue;
    hasKsm = true;
    if (v !== null) ksm[k.slice(4)] = v;
  }
  if (hasKsm) host.ksm = ksm;
  const shareable = bytes(f, 'ksm_shareable');
  if (shareable !== undefined) host.ksmShareableBytes = shareable;
  const cpu = num(f, 'ksmd_cpu_usage');
  if (cpu !== undefined) host.ksmdCpuPercent = cpu;
  return host;
}

function guestSample(f: MomFields & { atMs: number }): GuestSample {
  const s: GuestSample = { atMs: f.atMs };
  const set = (key: keyof GuestSample, v: number | undefined): void => {
    if (v !== undefined) (s as unknown as Record<string, number>)[key] = v;
  };
  set('totalBytes', bytes(f, 'mem_available'));
  set('freeBytes', bytes(f, 'mem_unused'));
  set('availableBytes', bytes(f, 'mem_usable'));
  set('swapInBytes', bytes(f, 'swap_in'));
  set('swapOutBytes', bytes(f, 'swap_out'));
  set('majorFaults', num(f, 'major_fault'));
  set('minorFaults', num(f, 'minor_fault'));
  set('balloonActualBytes', bytes(f, 'balloon_cur'));
  return s;
}

function guestState(name: string, t: GuestTrack): GuestState {
  const f = t.current;
  const cur = num(f, 'balloon_cur');
  const max = num(f, 'balloon_max');
  const min = num(f, 'balloon_min');
  const g: GuestState = {
    id: name,
    namespace: '',
    name,
    uid: `${name}#${t.incarnation}`,
    guestMemoryBytes: (max ?? num(f, 'mem_available') ?? 0) * KiB,
    guaranteedMemoryBytes: (min ?? 0) * KiB,
    marginBytes: bytes(f, 'margin') ?? 0,
    priority: num(f, 'priority') ?? 50,
    policy: '',
    phase: t.phase,
    phaseSinceMs: t.firstMs,
    history: t.samples.map(guestSample),
  };
  // A guest lacks balloon data unless MOM's three balloon fields are all known.
  if (cur !== undefined && max !== undefined && min !== undefined) g.balloonActualBytes = cur * KiB;
  else for (const s of g.history) delete s.balloonActualBytes;
  return g;
}

/** Replays every step through a policy; deterministic for a deterministic policy. */
export function runReplay<S>(replay: Replay, policy: Policy<S>, options: { explain?: boolean } = {}): ReplayStepResult[] {
  const results: ReplayStepResult[] = [];
  const host: MomFields = {};
  let hostHistory: HostSample[] = [];
  const guests = new Map<string, GuestTrack>();
  let incarnations = 0;
  let state = policy.initialState();
  let previous: PolicyDecisions | undefined;
  replay.steps.forEach((step, i) => {
    const nowMs = i * replay.intervalMs;
    if (replay.feedback && previous) {
      for (const b of previous.balloons) {
        const t = guests.get(b.guestId);
        if (t) t.current.balloon_cur = Math.trunc(b.targetBytes / KiB);
      }
      for (const [name, v] of Object.entries(previous.ksm)) host[`ksm_${name}`] = v;
    }
    Object.assign(host, step.host ?? {});
    if (step.guests) {
      for (const name of [...guests.keys()]) if (!(name in step.guests)) guests.delete(name);
      for (const [name, fields] of Object.entries(step.guests)) {
        let t = guests.get(name);
        if (!t) {
          // Guests of the first step were running before the recording began; later ones are new VMs.
          t = { incarnation: ++incarnations, firstMs: i === 0 ? RUNNING_BEFORE_MS : nowMs, current: {}, phase: 'running', samples: [] };
          guests.set(name, t);
        }
        Object.assign(t.current, fields.fields);
        if (fields.phase !== undefined && fields.phase !== t.phase) {
          t.phase = fields.phase;
          t.firstMs = nowMs;
        }
      }
    }
    for (const t of guests.values()) {
      t.samples.push({ ...t.current, atMs: nowMs });
      if (t.samples.length > MOM_HISTORY_LENGTH) t.samples.shift();
    }
    const sample = hostSample(host, nowMs);
    const result: ReplayStepResult = { step: i, ran: false, balloon: {}, ksm: {} };
    if (typeof sample === 'string') {
      if (options.explain) result.reason = sample;
      previous = undefined;
      results.push(result);
      return;
    }
    hostHistory = [...hostHistory, sample].slice(-MOM_HISTORY_LENGTH);
    const input: PolicyInput = {
      nowMs,
      host: hostState(host, hostHistory),
      guests: [...guests].map(([name, t]) => guestState(name, t)),
    };
    const out = policy.evaluate(input, state);
    state = out.state;
    previous = out.decisions;
    result.ran = out.decisions.notRun === undefined;
    for (const b of out.decisions.balloons) result.balloon[b.guestId] = Math.trunc(b.targetBytes / KiB);
    result.ksm = { ...out.decisions.ksm };
    if (options.explain) {
      if (out.decisions.notRun) result.reason = out.decisions.notRun;
      if (out.decisions.skipped?.length) result.skipped = Object.fromEntries(out.decisions.skipped.map((s) => [s.guestId, s.reason]));
      if (out.decisions.balloons.length) result.reasons = Object.fromEntries(out.decisions.balloons.map((b) => [b.guestId, b.reason]));
    }
    results.push(result);
  });
  return results;
}
