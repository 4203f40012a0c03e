/**
 * Facts the agent needs from the domain virt-launcher generated: the VMI's disks (by
 * the user alias KubeVirt gives each, `ua-<disk name>`, which libvirt passes to QEMU
 * as the device's qdev id) and the vCPU count. Read-only: nothing here changes the domain.
 */
import { attribute, children, elements, textContent, type XmlNode } from './xml-tree.js';

/** KubeVirt's prefix for user aliases: `<alias name="ua-<disk name>"/>`. */
export const USER_ALIAS_PREFIX = 'ua-';

/** One disk of the domain that carries a KubeVirt user alias. */
export interface DomainDisk {
  /** The VMI's disk name (spec.domain.devices.disks[].name). */
  name: string;
  /** The alias, which is QEMU's qdev id for the disk's device. */
  alias: string;
  /** `disk`, `cdrom`, `floppy`, `lun`. */
  device: string;
}

/** The disks with a `ua-` alias, in domain order. */
export function domainDisks(domain: XmlNode): DomainDisk[] {
  const devices = elements(children(domain), 'devices')[0];
  if (!devices) return [];
  const out: DomainDisk[] = [];
  for (const disk of elements(children(devices), 'disk')) {
    const alias = attribute(elements(children(disk), 'alias')[0] ?? {}, 'name');
    if (!alias?.startsWith(USER_ALIAS_PREFIX) || alias.length === USER_ALIAS_PREFIX.length) continue;
    out.push({ name: alias.slice(USER_ALIAS_PREFIX.length), alias, device: attribute(disk, 'device') ?? 'disk' });
  }
  return out;
}

/** `<vcpu>` (the maximum vCPU count), 1 when absent or unreadable. */
export function domainVcpus(domain: XmlNode): number {
  const vcpu = elements(children(domain), 'vcpu')[0];
  const n = vcpu ? Number(textContent(vcpu).trim()) : NaN;
  return Number.isSafeInteger(n) && n > 0 ? n : 1;
}
