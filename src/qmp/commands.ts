/**
 * Typed wrappers for the QMP commands the agent uses. Each checks its arguments (InputError
 * naming the field) and the shape of QEMU's answer (QmpProtocolError naming the field), so
 * callers get typed values or a precise error, never `undefined` deep inside a sample.
 */
import { InputError } from '../common/errors.js';
import { QmpProtocolError } from './errors.js';
import type { QmpBalloonInfo, QmpBlockInfo, QmpCommandOptions, QmpCommandRunner, QmpObjectProperty, QmpStatusInfo } from './types.js';

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function bad(command: string, field: string, expected: string, got: unknown): QmpProtocolError {
  const shown = JSON.stringify(got) ?? String(got);
  return new QmpProtocolError(`QMP ${command}: ${field} should be ${expected}, got ${shown.length > 100 ? `${shown.slice(0, 100)}...` : shown}`);
}

function nonEmpty(field: string, value: string): void {
  if (typeof value !== 'string' || value.length === 0) throw new InputError(field, 'must be a non-empty string');
}

/** `query-status`. */
export async function queryStatus(qmp: QmpCommandRunner, options?: QmpCommandOptions): Promise<QmpStatusInfo> {
  const r = await qmp.execute('query-status', undefined, options);
  if (!isObject(r)) throw bad('query-status', 'return', 'an object', r);
  if (typeof r['status'] !== 'string') throw bad('query-status', 'return.status', 'a string', r['status']);
  if (typeof r['running'] !== 'boolean') throw bad('query-status', 'return.running', 'a boolean', r['running']);
  return { status: r['status'], running: r['running'] };
}

/** `query-balloon`. */
export async function queryBalloon(qmp: QmpCommandRunner, options?: QmpCommandOptions): Promise<QmpBalloonInfo> {
  const r = await qmp.execute('query-balloon', undefined, options);
  if (!isObject(r)) throw bad('query-balloon', 'return', 'an object', r);
  const actual = r['actual'];
  if (typeof actual !== 'number' || !Number.isFinite(actual) || actual < 0) {
    throw bad('query-balloon', 'return.actual', 'a number of bytes >= 0', actual);
  }
  return { actual };
}

/**
 * `balloon`: sets the balloon target to `bytes` of guest memory. Only the type is checked here:
 * QEMU accepts any value (even 4 KiB, which kills the guest), so safe bounds are the caller's job.
 */
export async function balloon(qmp: QmpCommandRunner, bytes: number, options?: QmpCommandOptions): Promise<void> {
  if (!Number.isSafeInteger(bytes) || bytes <= 0) {
    throw new InputError('balloon.value', `must be a positive integer number of bytes, got ${bytes}`);
  }
  await qmp.execute('balloon', { value: bytes }, options);
}

/** `qom-list`. */
export async function qomList(qmp: QmpCommandRunner, path: string, options?: QmpCommandOptions): Promise<QmpObjectProperty[]> {
  nonEmpty('qom-list.path', path);
  const r = await qmp.execute('qom-list', { path }, options);
  if (!Array.isArray(r)) throw bad('qom-list', 'return', 'a list', r);
  return r.map((item: unknown, i): QmpObjectProperty => {
    if (!isObject(item)) throw bad('qom-list', `return[${i}]`, 'an object', item);
    const { name, type, description } = item;
    if (typeof name !== 'string') throw bad('qom-list', `return[${i}].name`, 'a string', name);
    if (typeof type !== 'string') throw bad('qom-list', `return[${i}].type`, 'a string', type);
    return typeof description === 'string' ? { name, type, description } : { name, type };
  });
}

/** `qom-get`. The value is returned unchecked: its shape depends on the property. */
export async function qomGet(qmp: QmpCommandRunner, path: string, property: string, options?: QmpCommandOptions): Promise<unknown> {
  nonEmpty('qom-get.path', path);
  nonEmpty('qom-get.property', property);
  return qmp.execute('qom-get', { path, property }, options);
}

/** `qom-set`. */
export async function qomSet(qmp: QmpCommandRunner, path: string, property: string, value: unknown, options?: QmpCommandOptions): Promise<void> {
  nonEmpty('qom-set.path', path);
  nonEmpty('qom-set.property', property);
  if (value === undefined) throw new InputError('qom-set.value', 'must be a JSON value, got undefined');
  await qmp.execute('qom-set', { path, property, value }, options);
}

/** `query-block`: the block backends and the guest devices they are attached to. */
export async function queryBlock(qmp: QmpCommandRunner, options?: QmpCommandOptions): Promise<QmpBlockInfo[]> {
  const r = await qmp.execute('query-block', undefined, options);
  if (!Array.isArray(r)) throw bad('query-block', 'return', 'a list', r);
  return r.map((item: unknown, i): QmpBlockInfo => {
    if (!isObject(item)) throw bad('query-block', `return[${i}]`, 'an object', item);
    const { device, qdev, inserted } = item;
    if (typeof device !== 'string') throw bad('query-block', `return[${i}].device`, 'a string', device);
    if (qdev !== undefined && typeof qdev !== 'string') throw bad('query-block', `return[${i}].qdev`, 'a string', qdev);
    if (inserted !== undefined && !isObject(inserted)) throw bad('query-block', `return[${i}].inserted`, 'an object', inserted);
    return { device, ...(qdev !== undefined ? { qdev } : {}), ...(inserted !== undefined ? { inserted } : {}) };
  });
}

/**
 * `block_set_io_throttle`. `args` must carry `id` (a qdev id or QOM path) and the six
 * sustained rates (bps, bps_rd, bps_wr, iops, iops_rd, iops_wr; 0 is unlimited).
 */
export async function blockSetIoThrottle(qmp: QmpCommandRunner, args: Readonly<Record<string, string | number>>, options?: QmpCommandOptions): Promise<void> {
  const id = args['id'];
  if (typeof id !== 'string' || id.length === 0) throw new InputError('block_set_io_throttle.id', 'must be a non-empty string (a qdev id or QOM path)');
  for (const key of ['bps', 'bps_rd', 'bps_wr', 'iops', 'iops_rd', 'iops_wr']) {
    const v = args[key];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
      throw new InputError(`block_set_io_throttle.${key}`, `must be a whole number >= 0, got ${String(v)}`);
    }
  }
  await qmp.execute('block_set_io_throttle', args, options);
}
