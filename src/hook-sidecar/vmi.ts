/**
 * The parts of a KubeVirt VirtualMachineInstance (JSON, as virt-launcher sends it)
 * that KubeMom reads: identity, memory sizes, annotations, hugepages.
 */
import { InputError, InputTooLargeError, valueOf, type Parsed } from '../common/errors.js';
import { parseMemoryQuantity, QUANTITY_ACCEPTED } from '../common/quantity.js';
import { passthroughReason } from './passthrough.js';

export const MAX_VMI_BYTES = 2 * 1024 * 1024;

export interface VmiFacts {
  namespace: string;
  name: string;
  uid: string;
  annotations: Record<string, string>;
  /** spec.domain.resources.requests.memory in bytes, when set. */
  requestedMemoryBytes?: number;
  /** spec.domain.memory.guest in bytes, when set. */
  guestMemoryBytes?: number;
  /** spec.domain.memory.hugepages.pageSize, when the guest is backed by hugepages. */
  hugepagesPageSize?: string;
  /** spec.domain.resources.limits.cpu in millicores (the pod's CPU limit), when set. */
  cpuLimitMillicores?: number;
  /** spec.domain.resources.requests.cpu in millicores, when set. */
  cpuRequestMillicores?: number;
  /** Why the VM has passthrough (VFIO) devices that make ballooning useless; absent when it has none. */
  passthroughReason?: string;
}

const CPU_ACCEPTED = 'a CPU quantity such as "2", "1.5" or "500m"';

/** A Kubernetes CPU quantity in millicores (rounded up, as Kubernetes does), or an error. */
export function parseCpuMillicores(text: string): Parsed<number> {
  const m = /^([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(m?)$/.exec(text.trim());
  if (!m) return { error: `"${text}" is not ${CPU_ACCEPTED}` };
  const value = Math.ceil(Number(m[1]) * (m[2] === 'm' ? 1 : 1000) - 1e-9);
  if (!Number.isSafeInteger(value)) return { error: `"${text}" is too large` };
  return { value };
}

function optionalCpu(root: Json, path: string[]): number | undefined {
  const value = dig(root, path);
  if (value === undefined || value === null) return undefined;
  const field = `vmi.${path.join('.')}`;
  if (typeof value !== 'string' && typeof value !== 'number') throw new InputError(field, `must be ${CPU_ACCEPTED}`);
  return valueOf(field, parseCpuMillicores(String(value)));
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Follows `path` through nested objects; undefined when any step is missing. */
function dig(root: Json, path: string[]): unknown {
  let node: unknown = root;
  for (const key of path) {
    if (!isObject(node)) return undefined;
    node = node[key];
  }
  return node;
}

function requiredString(root: Json, path: string[]): string {
  const value = dig(root, path);
  const field = `vmi.${path.join('.')}`;
  if (typeof value !== 'string' || value.length === 0) {
    throw new InputError(field, value === undefined ? 'is missing; a non-empty string is required' : 'must be a non-empty string');
  }
  return value;
}

function optionalQuantity(root: Json, path: string[]): number | undefined {
  const value = dig(root, path);
  if (value === undefined || value === null) return undefined;
  const field = `vmi.${path.join('.')}`;
  if (typeof value !== 'string' && typeof value !== 'number') throw new InputError(field, `must be ${QUANTITY_ACCEPTED}`);
  return valueOf(field, parseMemoryQuantity(String(value)));
}

/** Parses the VMI bytes from OnDefineDomainParams.vmi. */
export function parseVmi(raw: Buffer | string): VmiFacts {
  const size = typeof raw === 'string' ? Buffer.byteLength(raw) : raw.length;
  if (size > MAX_VMI_BYTES) throw new InputTooLargeError('vmi', size, MAX_VMI_BYTES);
  let doc: unknown;
  try {
    doc = JSON.parse(raw.toString());
  } catch (error) {
    throw new InputError('vmi', `is not valid JSON: ${(error as Error).message}`);
  }
  if (!isObject(doc)) throw new InputError('vmi', 'must be a JSON object (a VirtualMachineInstance)');
  if (doc.kind !== undefined && doc.kind !== 'VirtualMachineInstance') {
    throw new InputError('vmi.kind', `is "${String(doc.kind)}"; only "VirtualMachineInstance" is accepted`);
  }
  const rawAnnotations = dig(doc, ['metadata', 'annotations']) ?? {};
  if (!isObject(rawAnnotations)) throw new InputError('vmi.metadata.annotations', 'must be an object of strings');
  const annotations: Record<string, string> = {};
  for (const [key, value] of Object.entries(rawAnnotations)) {
    if (typeof value !== 'string') throw new InputError(`vmi.metadata.annotations["${key}"]`, 'must be a string');
    annotations[key] = value;
  }
  if (!isObject(dig(doc, ['spec', 'domain']))) throw new InputError('vmi.spec.domain', 'is missing; a VirtualMachineInstance spec is required');
  const facts: VmiFacts = {
    namespace: requiredString(doc, ['metadata', 'namespace']),
    name: requiredString(doc, ['metadata', 'name']),
    uid: requiredString(doc, ['metadata', 'uid']),
    annotations,
  };
  const requested = optionalQuantity(doc, ['spec', 'domain', 'resources', 'requests', 'memory']);
  if (requested !== undefined) facts.requestedMemoryBytes = requested;
  const guest = optionalQuantity(doc, ['spec', 'domain', 'memory', 'guest']);
  if (guest !== undefined) facts.guestMemoryBytes = guest;
  const cpuLimit = optionalCpu(doc, ['spec', 'domain', 'resources', 'limits', 'cpu']);
  if (cpuLimit !== undefined) facts.cpuLimitMillicores = cpuLimit;
  const cpuRequest = optionalCpu(doc, ['spec', 'domain', 'resources', 'requests', 'cpu']);
  if (cpuRequest !== undefined) facts.cpuRequestMillicores = cpuRequest;
  const pageSize = dig(doc, ['spec', 'domain', 'memory', 'hugepages', 'pageSize']);
  if (typeof pageSize === 'string') facts.hugepagesPageSize = pageSize;
  const passthrough = passthroughReason(dig(doc, ['spec', 'domain', 'devices']));
  if (passthrough !== undefined) facts.passthroughReason = passthrough;
  return facts;
}
