/**
 * The `kubemom.io/*` annotations a VM owner sets on the VMI (on a VirtualMachine:
 * spec.template.metadata.annotations) to tune KubeMom for that VM.
 *
 * Every value is validated; an unknown `kubemom.io/` key is an error too, so a typo
 * fails the VM start with a message instead of being silently ignored.
 */
import { InputError, valueOf } from '../common/errors.js';
import { parseMemoryQuantity, QUANTITY_ACCEPTED } from '../common/quantity.js';
import { IO_LIMITS_ACCEPTED, parseIoLimits, type IoLimits } from '../common/io-limits.js';

export const ANNOTATION_PREFIX = 'kubemom.io/';
export const DEFAULT_MEMORY_MARGIN_BYTES = 64 * 2 ** 20;

/** kubemom.io/memory-margin when not set: 64Mi, or an eighth of the guest memory if that is less. */
export function defaultMemoryMarginBytes(guestMemoryBytes: number): number {
  return Math.min(DEFAULT_MEMORY_MARGIN_BYTES, Math.floor(guestMemoryBytes / 8));
}

/** The per-VM settings derived from annotations and the VMI. */
export interface VmSettings {
  /** Memory the balloon never takes away, bytes. */
  guaranteedMemoryBytes: number;
  /**
   * Where it comes from: the annotation, the VMI's requests.memory, or neither (the guest memory: nothing
   * reclaimed unless the node shim supplies a floor). Absent in states saved by older sidecars: explicit.
   */
  guaranteedSource?: 'annotation' | 'vmi-request' | 'guest-memory';
  /** 0..100; a lower priority gives memory back first and gets it back last. */
  priority: number;
  /** Guest stats polling period, seconds. */
  statsPeriodSeconds: number;
  /** memballoon autodeflate: the guest may deflate the balloon itself under OOM. */
  autodeflate: boolean;
  /** memballoon freePageReporting; undefined keeps what KubeVirt chose. */
  freePageReporting: boolean | undefined;
  /** Name of the node policy profile this VM asks for. */
  policy: string;
  /** Free memory the agent always leaves the guest above its current use, bytes. */
  memoryMarginBytes: number;
  /** The VM owner's per-disk IO limits by the VMI's disk name (kubemom.io/io-limits.<disk>). */
  ioLimits: Record<string, IoLimits>;
  /** kubemom.io/io-throttle: the node policy may throttle this VM's disks under IO pressure. */
  ioThrottle: boolean;
}

/** The per-disk annotation's prefix; the VMI's disk name follows it. */
export const IO_LIMITS_PREFIX = 'kubemom.io/io-limits.';
/** A KubeVirt disk name (a DNS label) that fits an annotation name (63 characters) after "io-limits.". */
const DISK_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,51}[A-Za-z0-9])?$/;

export interface AnnotationSpec {
  key: string;
  accepted: string;
  defaultText: string;
  description: string;
}

/** The documented annotations; README's table is written from this list. */
export const ANNOTATIONS: readonly AnnotationSpec[] = [
  {
    key: 'kubemom.io/guaranteed-memory',
    accepted: `${QUANTITY_ACCEPTED}, > 0 and <= the guest memory`,
    defaultText: 'spec.domain.resources.requests.memory (else the guest memory: nothing is reclaimed)',
    description: 'Memory the balloon never takes from the guest.',
  },
  {
    key: 'kubemom.io/priority',
    accepted: 'an integer from 0 to 100',
    defaultText: '50',
    description: 'Lower priority VMs give memory back first and get it back last.',
  },
  {
    key: 'kubemom.io/stats-period',
    accepted: 'whole seconds from 1 to 300, as "5" or "5s"',
    defaultText: '5',
    description: "How often the guest's balloon driver reports memory statistics.",
  },
  {
    key: 'kubemom.io/autodeflate',
    accepted: '"true" or "false"',
    defaultText: 'true',
    description: 'Let the guest deflate the balloon itself before its OOM killer runs (memballoon autodeflate).',
  },
  {
    key: 'kubemom.io/free-page-reporting',
    accepted: '"true" or "false"',
    defaultText: "KubeVirt's choice (on unless disabled for the VMI)",
    description: 'Return pages the guest frees to the node at once (memballoon freePageReporting).',
  },
  {
    key: 'kubemom.io/policy',
    accepted: 'a lowercase DNS label (a-z, 0-9, "-", at most 63 characters)',
    defaultText: 'default',
    description: 'The policy profile the node shim applies to this VM.',
  },
  {
    key: 'kubemom.io/memory-margin',
    accepted: `${QUANTITY_ACCEPTED}, >= 0 and < the guest memory`,
    defaultText: '64Mi, or an eighth of the guest memory if that is less',
    description: 'Free memory always left to the guest above what it uses now; the balloon never squeezes past it.',
  },
  {
    key: 'kubemom.io/io-limits.<disk>',
    accepted: IO_LIMITS_ACCEPTED,
    defaultText: 'none (unlimited)',
    description: "IO limits of the VMI's disk <disk> (spec.domain.devices.disks[].name), set through QEMU's block throttling; a node policy can only lower them.",
  },
  {
    key: 'kubemom.io/io-throttle',
    accepted: '"true" or "false"',
    defaultText: 'false',
    description: "Let the node policy throttle this VM's disks while the node is under IO pressure (by priority), and lift it after.",
  },
];

const KNOWN = new Set(ANNOTATIONS.map((a) => a.key).filter((k) => !k.includes('<')));
const KNOWN_TEXT = ANNOTATIONS.map((a) => a.key).join(', ');

function field(key: string): string {
  return `vmi.metadata.annotations["${key}"]`;
}

function acceptedFor(key: string): string {
  return ANNOTATIONS.find((a) => a.key === key)!.accepted;
}

/**
 * Parses every `kubemom.io/io-limits.<disk>`. `diskNames` are the VM's disks (from the
 * domain's `ua-<disk>` aliases); undefined skips the existence check.
 */
function readIoLimits(annotations: Record<string, string>, diskNames: readonly string[] | undefined): Record<string, IoLimits> {
  const out: Record<string, IoLimits> = {};
  for (const [key, text] of Object.entries(annotations)) {
    if (!key.startsWith(IO_LIMITS_PREFIX)) continue;
    const disk = key.slice(IO_LIMITS_PREFIX.length);
    if (!DISK_NAME.test(disk)) {
      throw new InputError(field(key), `"${disk}" is not a disk name; use kubemom.io/io-limits.<disk> with the name of a disk in spec.domain.devices.disks (letters, digits, "-", "_", ".", at most 53 characters)`);
    }
    if (diskNames !== undefined && !diskNames.includes(disk)) {
      const known = diskNames.length > 0 ? diskNames.join(', ') : 'none (no disk carries a ua-<name> alias in the domain)';
      throw new InputError(field(key), `the VM has no disk "${disk}"; its disks are: ${known}`);
    }
    out[disk] = valueOf(field(key), parseIoLimits(text));
  }
  return out;
}

function parseBool(key: string, text: string): boolean {
  if (text === 'true') return true;
  if (text === 'false') return false;
  throw new InputError(field(key), `"${text}" is not accepted; use ${acceptedFor(key)}`);
}

function parseIntIn(key: string, text: string, min: number, max: number, suffix = ''): number {
  const body = suffix && text.endsWith(suffix) ? text.slice(0, -suffix.length) : text;
  if (!/^[0-9]+$/.test(body) || Number(body) < min || Number(body) > max) {
    throw new InputError(field(key), `"${text}" is not accepted; use ${acceptedFor(key)}`);
  }
  return Number(body);
}

function parseBytes(key: string, text: string): number {
  return valueOf(field(key), parseMemoryQuantity(text), `; use ${acceptedFor(key)}`);
}

/**
 * Reads the settings for a VM. `guestMemoryBytes` is the domain's memory;
 * `requestedMemoryBytes` the pod's memory request, the natural guaranteed floor.
 */
export function readSettings(
  annotations: Record<string, string>,
  guestMemoryBytes: number,
  requestedMemoryBytes: number | undefined,
  diskNames?: readonly string[],
): VmSettings {
  for (const key of Object.keys(annotations)) {
    if (key.startsWith(ANNOTATION_PREFIX) && !KNOWN.has(key) && !key.startsWith(IO_LIMITS_PREFIX)) {
      throw new InputError(field(key), `is not a KubeMom annotation; accepted keys: ${KNOWN_TEXT}`);
    }
  }
  const get = (key: string): string | undefined => annotations[key];

  const guaranteedText = get('kubemom.io/guaranteed-memory');
  let guaranteed = requestedMemoryBytes ?? guestMemoryBytes;
  if (guaranteedText !== undefined) {
    guaranteed = parseBytes('kubemom.io/guaranteed-memory', guaranteedText);
    if (guaranteed <= 0) throw new InputError(field('kubemom.io/guaranteed-memory'), `"${guaranteedText}" is not accepted; must be > 0`);
  }
  if (guaranteed > guestMemoryBytes) {
    const source = guaranteedText !== undefined ? field('kubemom.io/guaranteed-memory') : 'vmi.spec.domain.resources.requests.memory';
    throw new InputError(source, `guaranteed memory ${guaranteed} bytes exceeds the guest memory ${guestMemoryBytes} bytes; it must be <= the guest memory`);
  }

  const marginText = get('kubemom.io/memory-margin');
  // The default shrinks for tiny guests so that it always leaves room to balloon.
  const margin = marginText === undefined ? defaultMemoryMarginBytes(guestMemoryBytes) : parseBytes('kubemom.io/memory-margin', marginText);
  if (margin >= guestMemoryBytes) {
    throw new InputError(field('kubemom.io/memory-margin'), `"${marginText}" is not accepted; must be < the guest memory (${guestMemoryBytes} bytes)`);
  }

  const policy = get('kubemom.io/policy') ?? 'default';
  if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(policy)) {
    throw new InputError(field('kubemom.io/policy'), `"${policy}" is not accepted; use ${acceptedFor('kubemom.io/policy')}`);
  }

  const priorityText = get('kubemom.io/priority');
  const periodText = get('kubemom.io/stats-period');
  const autodeflateText = get('kubemom.io/autodeflate');
  const fprText = get('kubemom.io/free-page-reporting');
  const throttleText = get('kubemom.io/io-throttle');
  return {
    guaranteedMemoryBytes: guaranteed,
    guaranteedSource: guaranteedText !== undefined ? 'annotation' : requestedMemoryBytes !== undefined ? 'vmi-request' : 'guest-memory',
    priority: priorityText === undefined ? 50 : parseIntIn('kubemom.io/priority', priorityText, 0, 100),
    statsPeriodSeconds: periodText === undefined ? 5 : parseIntIn('kubemom.io/stats-period', periodText, 1, 300, 's'),
    autodeflate: autodeflateText === undefined ? true : parseBool('kubemom.io/autodeflate', autodeflateText),
    freePageReporting: fprText === undefined ? undefined : parseBool('kubemom.io/free-page-reporting', fprText),
    policy,
    memoryMarginBytes: margin,
    ioLimits: readIoLimits(annotations, diskNames),
    ioThrottle: throttleText === undefined ? false : parseBool('kubemom.io/io-throttle', throttleText),
  };
}
