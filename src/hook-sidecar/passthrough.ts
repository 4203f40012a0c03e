/**
 * Devices that make ballooning useless: PCI passthrough through VFIO.
 *
 * While a VFIO device is attached, QEMU disables RAM discards
 * (hw/vfio: `ram_block_discard_disable`) and the balloon stops giving pages back to
 * the host (hw/virtio/virtio-balloon.c, `virtio_balloon_inhibited`): the guest hands
 * pages to the balloon and the node frees nothing. Inflating such a guest would only
 * starve it, so KubeMom observes these VMs and never inflates them.
 *
 * The VMI says which devices it asks for (spec.domain.devices): `hostDevices` and
 * `gpus` are VFIO (or mediated VFIO) devices, an interface with an `sriov` binding is
 * a VFIO virtual function. A USB host device also sits in `hostDevices` and does not
 * use VFIO, but the VMI only names its resource, so it counts too (observing a VM
 * that could have been ballooned costs savings, never safety).
 */

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function names(list: unknown, keep: (item: Json) => boolean = () => true): string[] {
  if (!Array.isArray(list)) return [];
  return list.filter(isObject).filter(keep).map((item, i) => (typeof item['name'] === 'string' && item['name'] ? item['name'] : `#${i}`));
}

/**
 * Why this VMI cannot be ballooned because of passthrough devices, or undefined when
 * it has none. `devices` is the VMI's spec.domain.devices.
 */
export function passthroughReason(devices: unknown): string | undefined {
  if (!isObject(devices)) return undefined;
  const parts: string[] = [];
  const hostDevices = names(devices['hostDevices']);
  if (hostDevices.length > 0) parts.push(`hostDevices ${hostDevices.join(', ')}`);
  const gpus = names(devices['gpus']);
  if (gpus.length > 0) parts.push(`gpus ${gpus.join(', ')}`);
  const sriov = names(devices['interfaces'], (i) => i['sriov'] !== undefined && i['sriov'] !== null);
  if (sriov.length > 0) parts.push(`SR-IOV interfaces ${sriov.join(', ')}`);
  if (parts.length === 0) return undefined;
  return `passthrough devices (${parts.join('; ')}): QEMU disables RAM discards while VFIO devices are attached, so the balloon would free nothing on the node; observed only, never inflated`;
}
