/**
 * The OnDefineDomain rewrite: gives the domain a configured virtio memballoon and a
 * second QMP monitor for the sidecar, and changes nothing else.
 *
 * Idempotent by construction: every change either sets a value in place or
 * replaces KubeMom's own earlier additions where they stand, so feeding the output
 * back in returns it byte for byte (virt-launcher may call the hook three times).
 */
import { InputError } from '../common/errors.js';
import type { VmSettings } from './annotations.js';
import {
  attribute,
  attributes,
  children,
  editChildren,
  element,
  elements,
  parseXml,
  rootElement,
  serializeXml,
  tagName,
  textContent,
  type XmlNode,
} from './xml-tree.js';
import { UNIX_SOCKET_PATH_MAX } from '../common/units.js';

export const QEMU_NAMESPACE = 'http://libvirt.org/schemas/domain/qemu/1.0';
/** The chardev id that marks KubeMom's monitor arguments in qemu:commandline. */
export const QMP_CHARDEV_ID = 'kubemom-qmp';
/** Balloon model used when the domain has no memballoon at all. */
export const DEFAULT_BALLOON_MODEL = 'virtio-non-transitional';

const MEMORY_UNITS: Record<string, number> = {
  b: 1, bytes: 1,
  KB: 1e3, k: 1024, KiB: 1024,
  MB: 1e6, M: 2 ** 20, MiB: 2 ** 20,
  GB: 1e9, G: 2 ** 30, GiB: 2 ** 30,
  TB: 1e12, T: 2 ** 40, TiB: 2 ** 40,
};

export interface RewriteOptions {
  settings: VmSettings;
  /** The QMP socket path as QEMU (in the compute container) sees it. */
  qmpSocketPath: string;
}

/** Reads `<memory>` (libvirt's default unit is KiB). */
export function domainMemoryBytes(domain: XmlNode): number {
  const memory = elements(children(domain), 'memory')[0];
  if (!memory) throw new InputError('domainXML <memory>', 'is missing; the domain must declare its memory');
  const unit = attribute(memory, 'unit') ?? 'KiB';
  const multiplier = MEMORY_UNITS[unit];
  if (multiplier === undefined) {
    throw new InputError('domainXML <memory unit>', `"${unit}" is not accepted; use one of ${Object.keys(MEMORY_UNITS).join(', ')}`);
  }
  const text = textContent(memory).trim();
  if (!/^[0-9]+$/.test(text)) throw new InputError('domainXML <memory>', `"${text}" is not accepted; a whole number is required`);
  return Number(text) * multiplier;
}

/** Parses the domain XML and checks its root; used before settings are known. */
export function parseDomain(xml: string): { doc: ReturnType<typeof parseXml>; domain: XmlNode } {
  const doc = parseXml(xml, 'domainXML');
  const domain = rootElement(doc, 'domainXML');
  if (tagName(domain) !== 'domain') {
    throw new InputError('domainXML', `root element is <${tagName(domain)}>; only <domain> is accepted`);
  }
  return { doc, domain };
}

/** Rewrites a parsed domain in place and returns the new XML text. */
export function rewriteDomain(parsed: ReturnType<typeof parseDomain>, options: RewriteOptions): string {
  const socketBytes = Buffer.byteLength(options.qmpSocketPath);
  if (socketBytes > UNIX_SOCKET_PATH_MAX) {
    throw new InputError('QMP socket path', `"${options.qmpSocketPath}" is ${socketBytes} bytes; unix sockets allow at most ${UNIX_SOCKET_PATH_MAX}`);
  }
  if (/[,\s"'<>&]/.test(options.qmpSocketPath)) {
    // QEMU splits -chardev options on commas; the path must not be able to inject options.
    throw new InputError('QMP socket path', `"${options.qmpSocketPath}" contains a comma, quote, "<", ">", "&" or whitespace`);
  }
  configureBalloon(parsed.domain, options.settings);
  addQmpMonitor(parsed.domain, options.qmpSocketPath);
  return serializeXml(parsed.doc);
}

function configureBalloon(domain: XmlNode, settings: VmSettings): void {
  let devices = elements(children(domain), 'devices')[0];
  if (!devices) {
    devices = element('devices');
    editChildren(domain).push(devices);
  }
  let balloon = elements(children(devices), 'memballoon')[0];
  if (!balloon) {
    balloon = element('memballoon', { model: DEFAULT_BALLOON_MODEL });
    editChildren(devices).push(balloon);
  }
  const attrs = attributes(balloon);
  if (attrs.model === 'none') {
    throw new InputError(
      'domainXML <memballoon model>',
      'is "none": the VMI has no balloon (autoattachMemBalloon: false); KubeMom needs a virtio balloon, so enable it or remove the KubeMom sidecar',
    );
  }
  if (attrs.model === undefined) attrs.model = DEFAULT_BALLOON_MODEL;
  attrs.autodeflate = settings.autodeflate ? 'on' : 'off';
  if (settings.freePageReporting !== undefined) attrs.freePageReporting = settings.freePageReporting ? 'on' : 'off';
  else if (attrs.freePageReporting === undefined) attrs.freePageReporting = 'on';

  const stats = elements(children(balloon), 'stats')[0];
  const period = String(settings.statsPeriodSeconds);
  if (stats) attributes(stats).period = period;
  // libvirt's schema puts <alias>/<address> after <stats>; insert first.
  else editChildren(balloon).unshift(element('stats', { period }));
}

/** The prefix bound to the libvirt QEMU namespace on the root, declaring `qemu` if none is. */
function qemuPrefix(domain: XmlNode): string {
  const attrs = attributes(domain);
  for (const [name, value] of Object.entries(attrs)) {
    if (name.startsWith('xmlns:') && value === QEMU_NAMESPACE) return name.slice('xmlns:'.length);
  }
  if (attrs['xmlns:qemu'] !== undefined) {
    throw new InputError('domainXML <domain xmlns:qemu>', `is bound to "${attrs['xmlns:qemu']}"; KubeMom needs it free or bound to ${QEMU_NAMESPACE}`);
  }
  attrs['xmlns:qemu'] = QEMU_NAMESPACE;
  return 'qemu';
}

function qmpArguments(prefix: string, socketPath: string): XmlNode[] {
  const arg = (value: string): XmlNode => element(`${prefix}:arg`, { value });
  return [
    arg('-chardev'),
    arg(`socket,id=${QMP_CHARDEV_ID},path=${socketPath},server=on,wait=off`),
    arg('-mon'),
    arg(`chardev=${QMP_CHARDEV_ID},mode=control`),
  ];
}

/** The option flag that precedes each of our marked argument values. */
function ourOption(node: XmlNode, prefix: string): '-chardev' | '-mon' | undefined {
  if (tagName(node) !== `${prefix}:arg`) return undefined;
  const value = attribute(node, 'value') ?? '';
  if (value.startsWith(`socket,id=${QMP_CHARDEV_ID},`)) return '-chardev';
  if (value === `chardev=${QMP_CHARDEV_ID},mode=control`) return '-mon';
  return undefined;
}

/**
 * Removes KubeMom's arguments (each marked value and the option flag before it)
 * and returns the index where the first of them stood, or -1.
 */
function removeOurArguments(args: XmlNode[], prefix: string): number {
  let firstRemoved = -1;
  for (let i = args.length - 1; i >= 0; i--) {
    const option = ourOption(args[i]!, prefix);
    if (option === undefined) continue;
    let from = i;
    if (i > 0 && tagName(args[i - 1]!) === `${prefix}:arg` && attribute(args[i - 1]!, 'value') === option) from = i - 1;
    args.splice(from, i - from + 1);
    firstRemoved = from;
    i = from;
  }
  return firstRemoved;
}

/**
 * Adds `-chardev socket,... -mon chardev=...,mode=control`. An earlier copy of
 * these arguments (from a previous call) is replaced where it stands, so other
 * sidecars' arguments keep their order around it.
 */
function addQmpMonitor(domain: XmlNode, socketPath: string): void {
  const prefix = qemuPrefix(domain);
  const commandlines = elements(children(domain), `${prefix}:commandline`);
  const ours = qmpArguments(prefix, socketPath);
  let placed = false;
  for (const commandline of commandlines) {
    const at = removeOurArguments(editChildren(commandline), prefix);
    if (at >= 0 && !placed) {
      editChildren(commandline).splice(at, 0, ...ours);
      placed = true;
    }
  }
  if (placed) return;
  const target = commandlines[0];
  if (target) editChildren(target).push(...ours);
  else editChildren(domain).push(element(`${prefix}:commandline`, {}, ours));
}
