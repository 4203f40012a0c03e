/**
 * Checks a PolicyInput that came from outside (`kubemom policy eval --state`), as strictly
 * as a replay recording: every field has the type and range the policies rely on, and an
 * error names the field by its path (`guests[1].history[0].availableBytes`) and what is
 * accepted. Pure: no I/O.
 */
import { InputError } from '../common/errors.js';
import type { PolicyInput } from './types.js';

type Kind = 'time' | 'size' | 'count' | 'percent' | 'string' | 'boolean' | 'phase' | 'priority' | 'object' | 'array';

interface FieldSpec {
  kind: Kind;
  optional?: boolean;
}

const PHASES = ['starting', 'running', 'paused', 'migrating', 'stopping', 'gone'];

const PSI_FIELDS: Record<string, FieldSpec> = {
  someAvg10: { kind: 'percent' },
  someAvg60: { kind: 'percent' },
  fullAvg10: { kind: 'percent' },
  fullAvg60: { kind: 'percent' },
  someTotalUs: { kind: 'count' },
  fullTotalUs: { kind: 'count' },
};

const HOST_SAMPLE_FIELDS: Record<string, FieldSpec> = {
  atMs: { kind: 'time' },
  memTotalBytes: { kind: 'size' },
  memFreeBytes: { kind: 'size' },
  memAvailableBytes: { kind: 'size' },
  buffersBytes: { kind: 'size' },
  cachedBytes: { kind: 'size' },
  anonPagesBytes: { kind: 'size' },
  swapTotalBytes: { kind: 'size' },
  swapFreeBytes: { kind: 'size' },
  swapInPages: { kind: 'count', optional: true },
  swapOutPages: { kind: 'count', optional: true },
  psi: { kind: 'object', optional: true },
  ioPsi: { kind: 'object', optional: true },
  kubeletMemoryAvailableBytes: { kind: 'size', optional: true },
  kubeletAllocatableAvailableBytes: { kind: 'size', optional: true },
};

const HOST_FIELDS: Record<string, FieldSpec> = {
  history: { kind: 'array' },
  cpuCount: { kind: 'count' },
  evictionHardBytes: { kind: 'size' },
  evictionSoftBytes: { kind: 'size', optional: true },
  evictionSoftGracePeriodMs: { kind: 'count', optional: true },
  evictionAllocatableHardBytes: { kind: 'size', optional: true },
  ksm: { kind: 'object', optional: true },
  ksmAdvisorMode: { kind: 'string', optional: true },
  ksmShareableBytes: { kind: 'size', optional: true },
  ksmdCpuPercent: { kind: 'count', optional: true },
};

const GUEST_SAMPLE_FIELDS: Record<string, FieldSpec> = {
  atMs: { kind: 'time' },
  totalBytes: { kind: 'size', optional: true },
  freeBytes: { kind: 'size', optional: true },
  availableBytes: { kind: 'size', optional: true },
  diskCachesBytes: { kind: 'size', optional: true },
  swapInBytes: { kind: 'size', optional: true },
  swapOutBytes: { kind: 'size', optional: true },
  majorFaults: { kind: 'count', optional: true },
  minorFaults: { kind: 'count', optional: true },
  balloonActualBytes: { kind: 'size', optional: true },
};

const GUEST_FIELDS: Record<string, FieldSpec> = {
  id: { kind: 'string' },
  namespace: { kind: 'string' },
  name: { kind: 'string' },
  uid: { kind: 'string' },
  guestMemoryBytes: { kind: 'size' },
  guaranteedMemoryBytes: { kind: 'size' },
  marginBytes: { kind: 'size' },
  priority: { kind: 'priority' },
  policy: { kind: 'string' },
  phase: { kind: 'phase' },
  phaseSinceMs: { kind: 'time' },
  balloonActualBytes: { kind: 'size', optional: true },
  targetBytes: { kind: 'size', optional: true },
  history: { kind: 'array' },
  ioThrottle: { kind: 'boolean', optional: true },
  ioLimits: { kind: 'object', optional: true },
  disks: { kind: 'array', optional: true },
  vcpus: { kind: 'count', optional: true },
  cpuLimitMillicores: { kind: 'count', optional: true },
  ceilingBytes: { kind: 'size', optional: true },
  swapBytes: { kind: 'size', optional: true },
  autodeflate: { kind: 'boolean', optional: true },
};

/** What each kind accepts, for error messages. */
const ACCEPTED: Record<Kind, string> = {
  time: 'a finite number of milliseconds',
  size: 'a finite number of bytes, >= 0',
  count: 'a finite number, >= 0',
  percent: 'a number from 0 to 100',
  string: 'a string',
  boolean: 'true or false',
  phase: PHASES.join(', '),
  priority: 'a whole number from 0 to 100',
  object: 'an object',
  array: 'an array',
};

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function fits(kind: Kind, v: unknown): boolean {
  const finite = typeof v === 'number' && Number.isFinite(v);
  switch (kind) {
    case 'time':
      return finite;
    case 'size':
    case 'count':
      return finite && (v as number) >= 0;
    case 'percent':
      return finite && (v as number) >= 0 && (v as number) <= 100;
    case 'priority':
      return Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 100;
    case 'string':
      return typeof v === 'string';
    case 'boolean':
      return typeof v === 'boolean';
    case 'phase':
      return typeof v === 'string' && PHASES.includes(v);
    case 'object':
      return isObject(v);
    case 'array':
      return Array.isArray(v);
  }
}

function shown(v: unknown): string {
  const text = v === undefined ? 'missing' : typeof v === 'number' && !Number.isFinite(v) ? String(v) : JSON.stringify(v);
  return text.length > 40 ? `${text.slice(0, 40)}...` : text;
}

function checkFields(doc: unknown, at: string, specs: Record<string, FieldSpec>): Record<string, unknown> {
  if (!isObject(doc)) throw new InputError(at, `is ${shown(doc)}; accepted: an object with ${Object.keys(specs).join(', ')}`);
  for (const key of Object.keys(doc)) {
    if (!(key in specs)) throw new InputError(`${at}.${key}`, `is not a field here; accepted: ${Object.keys(specs).join(', ')}`);
  }
  for (const [key, spec] of Object.entries(specs)) {
    const v = doc[key];
    if (v === undefined && spec.optional) continue;
    if (!fits(spec.kind, v)) throw new InputError(`${at}.${key}`, `is ${shown(v)}; accepted: ${ACCEPTED[spec.kind]}`);
  }
  return doc;
}

function checkNumberMap(doc: Record<string, unknown>, at: string): void {
  for (const [key, v] of Object.entries(doc)) {
    if (!fits('count', v)) throw new InputError(`${at}.${key}`, `is ${shown(v)}; accepted: ${ACCEPTED.count}`);
  }
}

/** The document as a PolicyInput, or an InputError naming the first bad field (`source` prefixes it). */
export function parsePolicyInput(doc: unknown, source = 'state'): PolicyInput {
  const top = checkFields(doc, source, { nowMs: { kind: 'time' }, host: { kind: 'object' }, guests: { kind: 'array' } });
  const host = checkFields(top.host, `${source}.host`, HOST_FIELDS);
  // An empty history is allowed: it is how a host monitor that is not ready yet looks.
  const history = host.history as unknown[];
  history.forEach((sample, i) => {
    const s = checkFields(sample, `${source}.host.history[${i}]`, HOST_SAMPLE_FIELDS);
    for (const psi of ['psi', 'ioPsi'] as const) if (s[psi] !== undefined) checkFields(s[psi], `${source}.host.history[${i}].${psi}`, PSI_FIELDS);
  });
  if (host.ksm !== undefined) checkNumberMap(host.ksm as Record<string, unknown>, `${source}.host.ksm`);
  const ids = new Set<string>();
  (top.guests as unknown[]).forEach((guest, i) => {
    const at = `${source}.guests[${i}]`;
    const g = checkFields(guest, at, GUEST_FIELDS);
    if (ids.has(g.id as string)) throw new InputError(`${at}.id`, `"${g.id as string}" appears twice; accepted: one entry per guest`);
    ids.add(g.id as string);
    if ((g.guaranteedMemoryBytes as number) > (g.guestMemoryBytes as number)) {
      throw new InputError(`${at}.guaranteedMemoryBytes`, `is above guestMemoryBytes; accepted: at most the guest's memory`);
    }
    (g.history as unknown[]).forEach((sample, j) => checkFields(sample, `${at}.history[${j}]`, GUEST_SAMPLE_FIELDS));
    if (g.ioLimits !== undefined) checkNumberMap(g.ioLimits as Record<string, unknown>, `${at}.ioLimits`);
  });
  return doc as PolicyInput;
}
