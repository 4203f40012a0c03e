/**
 * Scenario files: a node and groups of guests with workloads, in YAML. Validation
 * names the offending field (`guests[1].workload.peak`) and what is accepted.
 * See docs/simulate.md for the format.
 */
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { InputError } from '../common/errors.js';
import { parseMemoryQuantity, QUANTITY_ACCEPTED } from '../common/quantity.js';
import type { NodeConfig } from './node-model.js';
import type { PodConfig } from './pods.js';
import type { GuestConfig } from './simulated-guest.js';
import { DEFAULT_STATS, type StatsBehaviour } from './stats-feed.js';
import { WORKLOAD_DEFAULTS, WORKLOAD_MODELS, type ScriptPoint, type WorkloadModel, type WorkloadSpec } from './workloads.js';
import { MiB, GiB } from '../common/units.js';

/**
 * A group of identical guests (the `count` copies get their own random streams): one guest's configuration
 * without the per-copy name and namespace, plus how many and how far apart they boot.
 */
export interface GuestGroup extends Omit<GuestConfig, 'namespace' | 'stats'> {
  count: number;
  /** Each next guest of the group boots this much later. */
  staggerMs: number;
  stats: StatsBehaviour;
}

export interface Scenario {
  name: string;
  description: string;
  durationMs: number;
  tickMs: number;
  seed: number;
  /** The guests' balloon stats period. */
  statsPeriodMs: number;
  node: NodeConfig;
  groups: GuestGroup[];
  /** Non-VM pods on the node. */
  pods: PodConfig[];
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  return v === undefined ? 'missing' : `${JSON.stringify(v)}`;
}

function checkKeys(obj: Obj, field: string, accepted: readonly string[]): void {
  for (const k of Object.keys(obj)) {
    if (!accepted.includes(k)) throw new InputError(field ? `${field}.${k}` : k, `is not a known field; accepted: ${accepted.join(', ')}`);
  }
}

function objectAt(v: unknown, field: string): Obj {
  if (!isObj(v)) throw new InputError(field, `is ${describe(v)}; accepted: a mapping`);
  return v;
}

function numberAt(v: unknown, field: string, def: number | undefined, min: number, max: number, what = 'a number'): number {
  if (v === undefined && def !== undefined) return def;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
    throw new InputError(field, `is ${describe(v)}; accepted: ${what} from ${min} to ${max}`);
  }
  return v;
}

function intAt(v: unknown, field: string, def: number | undefined, min: number, max: number): number {
  const n = numberAt(v, field, def, min, max, 'a whole number');
  if (!Number.isInteger(n)) throw new InputError(field, `is ${describe(v)}; accepted: a whole number from ${min} to ${max}`);
  return n;
}

function boolAt(v: unknown, field: string, def: boolean): boolean {
  if (v === undefined) return def;
  if (typeof v !== 'boolean') throw new InputError(field, `is ${describe(v)}; accepted: true or false`);
  return v;
}

function stringAt(v: unknown, field: string, def?: string): string {
  if (v === undefined && def !== undefined) return def;
  if (typeof v !== 'string' || v.length === 0) throw new InputError(field, `is ${describe(v)}; accepted: a non-empty string`);
  return v;
}

function bytesAt(v: unknown, field: string, def?: number): number {
  if (v === undefined && def !== undefined) return def;
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return v;
  if (typeof v === 'string') {
    const r = parseMemoryQuantity(v);
    if ('value' in r) return r.value;
  }
  throw new InputError(field, `is ${describe(v)}; accepted: ${QUANTITY_ACCEPTED}, or a whole number of bytes`);
}

const NAME = /^[a-z0-9]([-a-z0-9]{0,50}[a-z0-9])?$/;

/** A script's `[seconds, need, cache]` points: at least one, times not decreasing, fractions in [0, 1]. */
function scriptPointsAt(v: unknown, field: string): ScriptPoint[] {
  if (!Array.isArray(v) || v.length === 0) throw new InputError(field, `is ${describe(v)}; accepted: a list of [seconds, need, cache] points, at least one`);
  let previous = 0;
  return v.map((p: unknown, i) => {
    const f = `${field}[${i}]`;
    if (!Array.isArray(p) || p.length !== 3 || !p.every((x) => typeof x === 'number' && Number.isFinite(x))) {
      throw new InputError(f, `is ${describe(p)}; accepted: [seconds, need, cache], three numbers`);
    }
    const [t, need, cache] = p as number[];
    if (t! < previous) throw new InputError(`${f}[0]`, `is ${t}; accepted: seconds, not before the previous point's (${previous})`);
    if (need! < 0 || need! > 1) throw new InputError(`${f}[1]`, `is ${need}; accepted: a fraction of the guest memory (0 to 1)`);
    if (cache! < 0 || cache! > 1) throw new InputError(`${f}[2]`, `is ${cache}; accepted: a fraction of the guest memory (0 to 1)`);
    previous = t!;
    return [t!, need!, cache!];
  });
}

function workloadAt(v: unknown, field: string): WorkloadSpec {
  const w = objectAt(v, field);
  const model = w.model;
  if (typeof model !== 'string' || !(WORKLOAD_MODELS as readonly string[]).includes(model)) {
    throw new InputError(`${field}.model`, `is ${describe(model)}; accepted: ${WORKLOAD_MODELS.join(', ')}`);
  }
  const defaults = WORKLOAD_DEFAULTS[model as WorkloadModel] as unknown as Record<string, number>;
  checkKeys(w, field, ['model', ...Object.keys(defaults)]);
  const spec: Record<string, unknown> = { model };
  for (const [key, def] of Object.entries(defaults)) {
    const f = `${field}.${key}`;
    if (key === 'points') spec[key] = scriptPointsAt(w[key], f);
    else if (key.endsWith('Seconds')) spec[key] = numberAt(w[key], f, def, key === 'fillSeconds' || key === 'periodSeconds' || key === 'bootSeconds' || key === 'dutySeconds' ? 1 : 0.1, 7 * 86_400, 'seconds');
    else if (key === 'phase') spec[key] = numberAt(w[key], f, def, 0, 1, 'a fraction of the period');
    else if (key === 'perHour') spec[key] = numberAt(w[key], f, def, 0, 10, 'a fraction of the guest memory per hour');
    else spec[key] = numberAt(w[key], f, def, 0, 1, 'a fraction of the guest memory');
  }
  const s = spec as unknown as WorkloadSpec;
  if (s.model === 'periodic' && s.low > s.high) throw new InputError(`${field}.low`, `is ${s.low}; accepted: at most high (${s.high})`);
  if (s.model === 'periodic' && s.dutySeconds > s.periodSeconds) throw new InputError(`${field}.dutySeconds`, `is ${s.dutySeconds}; accepted: at most periodSeconds (${s.periodSeconds})`);
  if (s.model === 'diurnal' && s.low > s.high) throw new InputError(`${field}.low`, `is ${s.low}; accepted: at most high (${s.high})`);
  return s;
}

const GROUP_KEYS = ['name', 'count', 'memory', 'guaranteed', 'margin', 'priority', 'swap', 'autodeflate', 'freePageReporting', 'startAtSeconds', 'staggerSeconds', 'runForSeconds', 'overhead', 'workload', 'stats'] as const;
const STATS_KEYS = ['jitter', 'delaySeconds', 'stopAfterSeconds', 'none'] as const;

function statsAt(v: unknown, field: string): StatsBehaviour {
  if (v === undefined) return { ...DEFAULT_STATS };
  const o = objectAt(v, field);
  checkKeys(o, field, STATS_KEYS);
  const out: StatsBehaviour = {
    jitter: numberAt(o.jitter, `${field}.jitter`, DEFAULT_STATS.jitter, 0, 1, 'a fraction of the stats period'),
    delayMs: numberAt(o.delaySeconds, `${field}.delaySeconds`, DEFAULT_STATS.delayMs / 1000, 0, 600, 'seconds') * 1000,
    none: boolAt(o.none, `${field}.none`, false),
  };
  if (o.stopAfterSeconds !== undefined) out.stopAfterMs = numberAt(o.stopAfterSeconds, `${field}.stopAfterSeconds`, undefined, 0, 7 * 86_400, 'seconds') * 1000;
  return out;
}

const POD_KEYS = ['name', 'count', 'memory', 'request', 'priority', 'startAtSeconds', 'staggerSeconds', 'runForSeconds', 'workload'] as const;

/** A `pods` entry: `count` pods named `<name>-<k>`. */
function podsAt(v: unknown, field: string): PodConfig[] {
  const o = objectAt(v, field);
  checkKeys(o, field, POD_KEYS);
  const name = stringAt(o.name, `${field}.name`);
  if (!NAME.test(name)) throw new InputError(`${field}.name`, `is ${describe(name)}; accepted: lower-case letters, digits and '-', at most 52 characters`);
  const memoryBytes = bytesAt(o.memory, `${field}.memory`);
  if (memoryBytes < 16 * MiB) throw new InputError(`${field}.memory`, `is ${describe(o.memory)}; accepted: at least 16Mi`);
  const requestBytes = bytesAt(o.request, `${field}.request`, memoryBytes);
  const count = intAt(o.count, `${field}.count`, 1, 1, 1000);
  const startAtMs = numberAt(o.startAtSeconds, `${field}.startAtSeconds`, 0, 0, 7 * 86_400, 'seconds') * 1000;
  const staggerMs = numberAt(o.staggerSeconds, `${field}.staggerSeconds`, 0, 0, 86_400, 'seconds') * 1000;
  const runForMs = o.runForSeconds === undefined ? undefined : numberAt(o.runForSeconds, `${field}.runForSeconds`, undefined, 1, 7 * 86_400, 'seconds') * 1000;
  const workload = workloadAt(o.workload, `${field}.workload`);
  const priority = intAt(o.priority, `${field}.priority`, 50, 0, 100);
  return Array.from({ length: count }, (_, k) => {
    const pod: PodConfig = { name: `${name}-${k}`, memoryBytes, requestBytes, priority, startAtMs: startAtMs + k * staggerMs, workload };
    if (runForMs !== undefined) pod.runForMs = runForMs;
    return pod;
  });
}

function groupAt(v: unknown, field: string, defaults: Obj): GuestGroup {
  const g = objectAt(v, field);
  checkKeys(g, field, GROUP_KEYS);
  const pick = (k: string) => (g[k] !== undefined ? g[k] : defaults[k]);
  const name = stringAt(g.name, `${field}.name`);
  if (!NAME.test(name)) throw new InputError(`${field}.name`, `is ${describe(name)}; accepted: lower-case letters, digits and '-', at most 52 characters`);
  const memoryBytes = bytesAt(g.memory, `${field}.memory`);
  if (memoryBytes < 64 * MiB) throw new InputError(`${field}.memory`, `is ${describe(g.memory)}; accepted: at least 64Mi`);
  const guaranteedBytes = bytesAt(pick('guaranteed'), `${field}.guaranteed`, Math.floor(memoryBytes / 4));
  if (guaranteedBytes > memoryBytes) throw new InputError(`${field}.guaranteed`, `is ${describe(pick('guaranteed'))}; accepted: at most the guest memory (${describe(g.memory)})`);
  const marginBytes = bytesAt(pick('margin'), `${field}.margin`, Math.min(64 * MiB, Math.floor(memoryBytes / 8)));
  if (marginBytes >= memoryBytes) throw new InputError(`${field}.margin`, `is ${describe(pick('margin'))}; accepted: less than the guest memory`);
  const group: GuestGroup = {
    name,
    count: intAt(g.count, `${field}.count`, 1, 1, 1000),
    memoryBytes,
    guaranteedBytes,
    marginBytes,
    priority: intAt(pick('priority'), `${field}.priority`, 50, 0, 100),
    swapBytes: bytesAt(pick('swap'), `${field}.swap`, 512 * MiB),
    autodeflate: boolAt(pick('autodeflate'), `${field}.autodeflate`, true),
    freePageReporting: boolAt(pick('freePageReporting'), `${field}.freePageReporting`, true),
    startAtMs: numberAt(g.startAtSeconds, `${field}.startAtSeconds`, 0, 0, 7 * 86_400, 'seconds') * 1000,
    staggerMs: numberAt(g.staggerSeconds, `${field}.staggerSeconds`, 0, 0, 86_400, 'seconds') * 1000,
    workload: workloadAt(g.workload, `${field}.workload`),
    stats: statsAt(g.stats, `${field}.stats`),
  };
  if (g.runForSeconds !== undefined) group.runForMs = numberAt(g.runForSeconds, `${field}.runForSeconds`, undefined, 1, 7 * 86_400, 'seconds') * 1000;
  // A pod that is not a VM (a noisy neighbour played as a guest that cannot be ballooned) holds less than a VM's overhead.
  if (g.overhead !== undefined) group.overheadBytes = bytesAt(g.overhead, `${field}.overhead`);
  return group;
}

const TOP_KEYS = ['name', 'description', 'durationSeconds', 'tickMs', 'seed', 'statsPeriodSeconds', 'node', 'guestDefaults', 'guests', 'pods'] as const;
const NODE_KEYS = ['memory', 'system', 'systemReserved', 'vmOverhead', 'hostCache', 'activeCache', 'evictionHard', 'evictionCheckSeconds', 'reserve', 'cpus'] as const;
const DEFAULT_KEYS = ['guaranteed', 'margin', 'priority', 'swap', 'autodeflate', 'freePageReporting'] as const;

/** Validates a parsed scenario document. */
export function scenarioFromObject(doc: unknown): Scenario {
  const d = objectAt(doc, 'scenario');
  checkKeys(d, '', TOP_KEYS);
  const n = objectAt(d.node, 'node');
  checkKeys(n, 'node', NODE_KEYS);
  const memoryBytes = bytesAt(n.memory, 'node.memory');
  if (memoryBytes < 256 * MiB) throw new InputError('node.memory', `is ${describe(n.memory)}; accepted: at least 256Mi`);
  const evictionHardBytes = bytesAt(n.evictionHard, 'node.evictionHard', 100 * MiB);
  const node: NodeConfig = {
    memoryBytes,
    systemBytes: bytesAt(n.system, 'node.system', Math.min(GiB, Math.floor(memoryBytes / 16))),
    vmOverheadBytes: bytesAt(n.vmOverhead, 'node.vmOverhead', 200 * MiB),
    hostCacheBytes: bytesAt(n.hostCache, 'node.hostCache', 512 * MiB),
    activeCacheFraction: numberAt(n.activeCache, 'node.activeCache', 0.5, 0, 1, 'a fraction of the node page cache'),
    evictionHardBytes,
    evictionCheckMs: numberAt(n.evictionCheckSeconds, 'node.evictionCheckSeconds', 10, 1, 600, 'seconds') * 1000,
    // The default policy's own reserve: the eviction threshold plus the larger of 5 % and 512Mi, at most 2Gi.
    reserveBytes: bytesAt(n.reserve, 'node.reserve', evictionHardBytes + Math.min(2 * GiB, Math.max(512 * MiB, Math.floor(memoryBytes / 20)))),
    cpuCount: intAt(n.cpus, 'node.cpus', 8, 1, 1024),
  };
  node.systemReservedBytes = bytesAt(n.systemReserved, 'node.systemReserved', node.systemBytes);
  if (node.systemBytes >= memoryBytes) throw new InputError('node.system', `is ${describe(n.system)}; accepted: less than node.memory`);
  if (node.reserveBytes < evictionHardBytes) throw new InputError('node.reserve', `is ${describe(n.reserve)}; accepted: at least node.evictionHard`);
  const defaults = d.guestDefaults === undefined ? {} : objectAt(d.guestDefaults, 'guestDefaults');
  checkKeys(defaults, 'guestDefaults', DEFAULT_KEYS);
  if (!Array.isArray(d.guests) || d.guests.length === 0) throw new InputError('guests', `is ${describe(d.guests)}; accepted: a list of at least one guest group`);
  const groups = d.guests.map((g, i) => groupAt(g, `guests[${i}]`, defaults));
  const names = new Set<string>();
  groups.forEach((g, i) => {
    if (names.has(g.name)) throw new InputError(`guests[${i}].name`, `is "${g.name}", already used by another group; accepted: a unique name`);
    names.add(g.name);
  });
  if (d.pods !== undefined && !Array.isArray(d.pods)) throw new InputError('pods', `is ${describe(d.pods)}; accepted: a list of pods`);
  const pods = ((d.pods as unknown[] | undefined) ?? []).flatMap((p, i) => podsAt(p, `pods[${i}]`));
  const podNames = new Set<string>();
  pods.forEach((p) => {
    if (podNames.has(p.name)) throw new InputError('pods', `name "${p.name}" is used twice; accepted: unique pod names`);
    podNames.add(p.name);
  });
  return {
    name: stringAt(d.name, 'name'),
    description: d.description === undefined ? '' : stringAt(d.description, 'description'),
    durationMs: numberAt(d.durationSeconds, 'durationSeconds', undefined, 1, 7 * 86_400, 'seconds') * 1000,
    tickMs: intAt(d.tickMs, 'tickMs', 100, 10, 1000),
    seed: intAt(d.seed, 'seed', 1, 0, 2 ** 32 - 1),
    statsPeriodMs: numberAt(d.statsPeriodSeconds, 'statsPeriodSeconds', 5, 1, 300, 'seconds') * 1000,
    node,
    groups,
    pods,
  };
}

/** Parses and validates scenario YAML; `source` names the file in parse errors. */
export function parseScenario(text: string, source = 'scenario'): Scenario {
  let doc: unknown;
  try {
    doc = parseYaml(text, { prettyErrors: true });
  } catch (err) {
    if (err instanceof YAMLParseError) {
      const pos = err.linePos?.[0];
      throw new InputError(pos ? `${source}:${pos.line}:${pos.col}` : source, `is not valid YAML: ${err.message.split('\n')[0]}`);
    }
    throw err;
  }
  return scenarioFromObject(doc);
}

/** Total guests in a scenario as written. */
export function guestCount(s: Scenario): number {
  return s.groups.reduce((sum, g) => sum + g.count, 0);
}

/**
 * The scenario's guests, or `n` guests drawn from its groups in proportion (the density
 * benchmark grows and shrinks a scenario this way). Guest k of a group is always named
 * `<group>-<k>` and so keeps its random stream whatever `n` is.
 */
export function expandGuests(s: Scenario, n = guestCount(s)): GuestConfig[] {
  const total = guestCount(s);
  const taken = s.groups.map(() => 0);
  const out: GuestConfig[] = [];
  for (let i = 0; i < n; i++) {
    // Largest deficit against the group's share: an even interleave of the groups.
    let best = 0;
    let bestDeficit = -Infinity;
    s.groups.forEach((g, j) => {
      const deficit = ((i + 1) * g.count) / total - taken[j]!;
      if (deficit > bestDeficit + 1e-9) {
        best = j;
        bestDeficit = deficit;
      }
    });
    const g = s.groups[best]!;
    const k = taken[best]!;
    taken[best] = k + 1;
    const cfg: GuestConfig = {
      name: `${g.name}-${k}`,
      namespace: 'default',
      memoryBytes: g.memoryBytes,
      guaranteedBytes: g.guaranteedBytes,
      marginBytes: g.marginBytes,
      priority: g.priority,
      swapBytes: g.swapBytes,
      autodeflate: g.autodeflate,
      freePageReporting: g.freePageReporting,
      // The stagger repeats every `count` guests so grown scenarios keep the same boot pattern.
      startAtMs: g.startAtMs + (k % g.count) * g.staggerMs,
      workload: g.workload,
      stats: g.stats,
    };
    if (g.runForMs !== undefined) cfg.runForMs = g.runForMs;
    if (g.overheadBytes !== undefined) cfg.overheadBytes = g.overheadBytes;
    out.push(cfg);
  }
  return out;
}
