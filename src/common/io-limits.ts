/**
 * Per-disk IO limits: the `kubemom.io/io-limits.<disk>` syntax, QEMU's throttling rules,
 * how a policy's limits combine with the VM owner's, and the QMP `block_set_io_throttle`
 * arguments. Pure: no I/O.
 *
 * Field names are libvirt's `<iotune>` names (what KubeVirt users already know from
 * libvirt and oVirt); each maps to one QEMU throttle option.
 */
import type { Parsed } from './errors.js';
import { parseMemoryQuantity } from './quantity.js';

/** The six sustained rates (0 = unlimited). */
export const IO_RATE_FIELDS = [
  'total_bytes_sec',
  'read_bytes_sec',
  'write_bytes_sec',
  'total_iops_sec',
  'read_iops_sec',
  'write_iops_sec',
] as const;
export type IoRateField = (typeof IO_RATE_FIELDS)[number];

/** Burst rates (`<rate>_max`) and how long a burst may last (`<rate>_max_length`, seconds). */
export const IO_BURST_FIELDS = IO_RATE_FIELDS.map((f) => `${f}_max` as const);
export const IO_BURST_LENGTH_FIELDS = IO_RATE_FIELDS.map((f) => `${f}_max_length` as const);
export type IoBurstField = `${IoRateField}_max`;
export type IoBurstLengthField = `${IoRateField}_max_length`;

export const IO_LIMIT_FIELDS = [...IO_RATE_FIELDS, ...IO_BURST_FIELDS, ...IO_BURST_LENGTH_FIELDS, 'size_iops_sec'] as const;
export type IoLimitField = IoRateField | IoBurstField | IoBurstLengthField | 'size_iops_sec';

/** A disk's limits; an absent or 0 field is unlimited. */
export type IoLimits = Partial<Record<IoLimitField, number>>;

/** QEMU's THROTTLE_VALUE_MAX: larger values are refused by block_set_io_throttle. */
export const IO_VALUE_MAX = 1e15;

const QMP_NAME: Record<IoRateField, string> = {
  total_bytes_sec: 'bps',
  read_bytes_sec: 'bps_rd',
  write_bytes_sec: 'bps_wr',
  total_iops_sec: 'iops',
  read_iops_sec: 'iops_rd',
  write_iops_sec: 'iops_wr',
};

export const IO_LIMITS_ACCEPTED =
  'comma-separated name=value pairs; names: ' +
  'total_bytes_sec, read_bytes_sec, write_bytes_sec (a quantity such as "10Mi" or "5M", bytes per second), ' +
  'total_iops_sec, read_iops_sec, write_iops_sec (whole operations per second, "200" or "2k"), ' +
  'each of those with _max (burst rate) and _max_length (burst seconds, "10" or "10s"), ' +
  'size_iops_sec (bytes counted as one operation); total_* and read_*/write_* of one kind exclude each other';

function isBytesField(name: string): boolean {
  return name.includes('bytes') || name === 'size_iops_sec';
}

function parseValue(name: IoLimitField, text: string): number | string {
  if (name.endsWith('_max_length')) {
    const body = text.endsWith('s') ? text.slice(0, -1) : text;
    if (!/^[0-9]+$/.test(body) || Number(body) < 1) return `${name}: "${text}" is not accepted; use whole seconds >= 1, as "10" or "10s"`;
    return Number(body);
  }
  const parsed = parseMemoryQuantity(text);
  if ('error' in parsed) {
    return `${name}: "${text}" is not accepted; use ${isBytesField(name) ? 'a quantity of bytes per second such as "10Mi"' : 'whole operations per second such as "200" or "2k"'}`;
  }
  if (!isBytesField(name) && /[.]|Ki|Mi|Gi|Ti|Pi|Ei/.test(text)) {
    return `${name}: "${text}" is not accepted; IOPS are whole numbers with an optional decimal suffix (k, M), as "200" or "2k"`;
  }
  return parsed.value;
}

/**
 * Parses `name=value,name=value`. Returns the limits or a message naming the
 * offending part and what is accepted (the caller prefixes the field).
 */
export function parseIoLimits(text: string): Parsed<IoLimits> {
  const limits: IoLimits = {};
  const body = text.trim();
  if (body === '') return { error: `is empty; use ${IO_LIMITS_ACCEPTED}` };
  for (const rawPart of body.split(',')) {
    const part = rawPart.trim();
    const eq = part.indexOf('=');
    if (eq <= 0) return { error: `"${part}" is not name=value; use ${IO_LIMITS_ACCEPTED}` };
    const name = part.slice(0, eq).trim();
    const valueText = part.slice(eq + 1).trim();
    if (!(IO_LIMIT_FIELDS as readonly string[]).includes(name)) {
      return { error: `"${name}" is not a limit; accepted names: ${IO_LIMIT_FIELDS.join(', ')}` };
    }
    const field = name as IoLimitField;
    if (limits[field] !== undefined) return { error: `${name} is given twice` };
    const value = parseValue(field, valueText);
    if (typeof value === 'string') return { error: value };
    limits[field] = value;
  }
  const problem = checkIoLimits(limits);
  return problem === undefined ? { value: limits } : { error: problem };
}

/**
 * QEMU's own rules for a throttle configuration (block_set_io_throttle refuses the
 * rest), checked up front so a bad annotation fails the VM start, not a later call.
 * Returns the first problem, or undefined.
 */
export function checkIoLimits(limits: IoLimits): string | undefined {
  for (const field of IO_LIMIT_FIELDS) {
    const v = limits[field];
    if (v === undefined) continue;
    if (!Number.isSafeInteger(v) || v < 0) return `${field}: ${v} is not accepted; use a whole number >= 0`;
    if (v > IO_VALUE_MAX) return `${field}: ${v} is over QEMU's maximum of ${IO_VALUE_MAX}`;
  }
  for (const kind of ['bytes', 'iops'] as const) {
    for (const suffix of ['', '_max'] as const) {
      const total = limits[`total_${kind}_sec${suffix}`] ?? 0;
      const split = (limits[`read_${kind}_sec${suffix}`] ?? 0) + (limits[`write_${kind}_sec${suffix}`] ?? 0);
      if (total > 0 && split > 0) {
        return `total_${kind}_sec${suffix} cannot be combined with read_${kind}_sec${suffix} or write_${kind}_sec${suffix}; limit the total or each direction`;
      }
    }
  }
  for (const rate of IO_RATE_FIELDS) {
    const base = limits[rate] ?? 0;
    const max = limits[`${rate}_max`] ?? 0;
    const length = limits[`${rate}_max_length`];
    if (max > 0 && base === 0) return `${rate}_max needs ${rate}: a burst is above a sustained rate`;
    if (max > 0 && max < base) return `${rate}_max (${max}) is lower than ${rate} (${base}); a burst rate must be >= the sustained rate`;
    if (length !== undefined && length > 1 && max === 0) return `${rate}_max_length needs ${rate}_max`;
  }
  return undefined;
}

/** True when no field limits anything. */
export function isUnlimited(limits: IoLimits): boolean {
  return IO_LIMIT_FIELDS.every((f) => !limits[f]);
}

/** Only the non-zero fields (a canonical form, for comparisons and messages). */
export function normalizeIoLimits(limits: IoLimits): IoLimits {
  const out: IoLimits = {};
  for (const f of IO_LIMIT_FIELDS) {
    const v = limits[f];
    if (v) out[f] = v;
  }
  return out;
}

/** `name=value,...` of the non-zero fields ("" when unlimited). */
export function formatIoLimits(limits: IoLimits): string {
  return IO_LIMIT_FIELDS.filter((f) => limits[f]).map((f) => `${f}=${limits[f]}`).join(',');
}

function minSet(a: number, b: number): number {
  if (!a) return b;
  if (!b) return a;
  return Math.min(a, b);
}

/**
 * The limits a disk gets: the VM owner's (`kubemom.io/io-limits.<disk>`) tightened by the
 * node policy's sustained rates. A policy can only lower limits, never lift the owner's.
 *
 * Per kind (bytes, IOPS): when both use a total, or both per-direction rates, each field
 * is the lower of the two. When one side limits the total and the other each direction,
 * QEMU cannot take both, so each direction gets the lower of its own rate and the total
 * (the total then caps each direction). An owner's burst survives only on a rate the
 * policy did not lower: under a node throttle, no bursting past it.
 */
export function combineIoLimits(owner: IoLimits, policy: IoLimits): IoLimits {
  const out: IoLimits = {};
  if (owner.size_iops_sec) out.size_iops_sec = owner.size_iops_sec;
  for (const kind of ['bytes', 'iops'] as const) {
    const t = `total_${kind}_sec` as const;
    const r = `read_${kind}_sec` as const;
    const w = `write_${kind}_sec` as const;
    const [ot, or, ow] = [owner[t] ?? 0, owner[r] ?? 0, owner[w] ?? 0];
    const [pt, pr, pw] = [policy[t] ?? 0, policy[r] ?? 0, policy[w] ?? 0];
    const ownerSplit = or > 0 || ow > 0;
    const policySplit = pr > 0 || pw > 0;
    let rates: Partial<Record<IoRateField, number>>;
    if (!ownerSplit && !policySplit) rates = { [t]: minSet(ot, pt) };
    else if (ownerSplit && policySplit) rates = { [r]: minSet(or, pr), [w]: minSet(ow, pw) };
    else if (ownerSplit) rates = { [r]: minSet(or, pt), [w]: minSet(ow, pt) };
    else rates = { [r]: minSet(pr, ot), [w]: minSet(pw, ot) };
    for (const [field, value] of Object.entries(rates) as Array<[IoRateField, number]>) {
      if (!value) continue;
      out[field] = value;
      // The owner's burst on this rate stays only if the rate is still the owner's.
      if (owner[field] === value && owner[`${field}_max`]) {
        out[`${field}_max`] = owner[`${field}_max`]!;
        if (owner[`${field}_max_length`]) out[`${field}_max_length`] = owner[`${field}_max_length`]!;
      }
    }
  }
  return out;
}

/**
 * Arguments of QMP `block_set_io_throttle` for a disk's QOM path or qdev id: every
 * sustained rate (QEMU requires all six; 0 is unlimited), bursts only when set.
 */
export function qmpThrottleArguments(id: string, limits: IoLimits): Record<string, string | number> {
  const args: Record<string, string | number> = { id };
  for (const rate of IO_RATE_FIELDS) {
    const name = QMP_NAME[rate];
    args[name] = limits[rate] ?? 0;
    const max = limits[`${rate}_max`];
    if (max) {
      args[`${name}_max`] = max;
      const length = limits[`${rate}_max_length`];
      if (length) args[`${name}_max_length`] = length;
    }
  }
  if (limits.size_iops_sec) args['iops_size'] = limits.size_iops_sec;
  return args;
}

/** Reads the limits back from a `query-block` entry's `inserted` object. */
export function limitsFromQueryBlock(inserted: Record<string, unknown>): IoLimits {
  const out: IoLimits = {};
  const num = (key: string): number => (typeof inserted[key] === 'number' ? (inserted[key] as number) : 0);
  for (const rate of IO_RATE_FIELDS) {
    const name = QMP_NAME[rate];
    if (num(name)) out[rate] = num(name);
    if (num(`${name}_max`)) {
      out[`${rate}_max`] = num(`${name}_max`);
      if (num(`${name}_max_length`) > 1) out[`${rate}_max_length`] = num(`${name}_max_length`);
    }
  }
  if (num('iops_size')) out.size_iops_sec = num('iops_size');
  return out;
}
