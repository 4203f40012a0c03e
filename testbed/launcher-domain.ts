/**
 * The domain XML virt-launcher would hand to OnDefineDomain for a VMI, reduced to
 * what the tiny guest needs and adapted to boot it: TCG, direct kernel boot, the
 * serial console on a unix socket with a log, and the virtio memballoon exactly as
 * KubeVirt emits it. Written the way Go's encoding/xml writes it (tabs, explicit end
 * tags, memory in bytes, `xmlns:qemu` on the root), so the sidecar sees the same
 * shape of input as in a cluster.
 *
 * Pure: no I/O.
 */
import { InputError } from '../src/common/errors.js';
import { parseMemoryQuantity } from '../src/common/quantity.js';
import type { VmiFacts } from '../src/hook-sidecar/vmi.js';
import { binarySiQuantity, defaultMaxGuestBytes, defaultMemoryRequestBytes, liveUpdateByDefault, MAX_HOTPLUG_RATIO, type KubevirtRelease } from './kubevirt-release.js';

export interface LauncherDomainInput {
  vmi: VmiFacts;
  /**
   * The VMI's spec.domain.memory.maxGuest in bytes (vmiMaxGuestBytes). When it is set and differs from the guest
   * memory, the domain gets `<maxMemory slots="0">` and `<memory>` is the guest memory, as KubeVirt v1.6+'s
   * converter writes a hotplug-eligible VMI (pkg/virt-launcher/virtwrap/converter/compute/memory.go).
   */
  maxGuestMemoryBytes?: number;
  kernelPath: string;
  initrdPath: string;
  cmdline: string;
  /** Where QEMU listens for the serial console (KubeVirt: virt-serial0). */
  serialSocketPath: string;
  /** Where virtlogd writes everything the console printed. */
  serialLogPath: string;
  vcpus?: number;
  /** KubeVirt CR memBalloonStatsPeriod; KubeVirt's default is 10 s. */
  statsPeriodSeconds?: number;
  /** KubeVirt turns free page reporting on unless something disables it. */
  freePageReporting?: boolean;
  /** Raw image files attached as virtio disks vda, vdb, ... with KubeVirt's `ua-<name>` alias. */
  disks?: ReadonlyArray<{ name: string; path: string }>;
}

/** The guest device of the i-th virtio disk (vda, vdb, ...). */
export function virtioDiskDev(index: number): string {
  return `vd${String.fromCharCode(97 + index)}`;
}

/** A virtio disk as virt-launcher writes one for a VMI disk (raw file, user alias). */
function diskXml(disk: { name: string; path: string }, index: number): string[] {
  const e = escape;
  return [
    `\t\t<disk device="disk" type="file" model="virtio-non-transitional">`,
    `\t\t\t<source file="${e(disk.path)}"></source>`,
    `\t\t\t<target bus="virtio" dev="${virtioDiskDev(index)}"></target>`,
    `\t\t\t<driver error_policy="stop" name="qemu" type="raw" discard="unmap"></driver>`,
    `\t\t\t<alias name="ua-${e(disk.name)}"></alias>`,
    `\t\t</disk>`,
  ];
}

/** virt-launcher's domain name: `<namespace>_<name>`. */
export function launcherDomainName(vmi: Pick<VmiFacts, 'namespace' | 'name'>): string {
  return `${vmi.namespace}_${vmi.name}`;
}

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export function launcherDomainXml(input: LauncherDomainInput): string {
  const memory = input.vmi.guestMemoryBytes ?? input.vmi.requestedMemoryBytes;
  if (memory === undefined) {
    throw new InputError('vmi.spec.domain.memory.guest', 'is missing, and so is resources.requests.memory; one is required');
  }
  const e = escape;
  const maxGuest = input.maxGuestMemoryBytes;
  // encoding/xml writes MaxMemory's attributes in field order: Unit, then Slots.
  const maxMemory = maxGuest !== undefined && maxGuest !== memory ? [`\t<maxMemory unit="b" slots="0">${maxGuest}</maxMemory>`] : [];
  const balloonAttributes = input.freePageReporting === false ? '' : ' freePageReporting="on"';
  return [
    `<domain type="qemu" xmlns:qemu="http://libvirt.org/schemas/domain/qemu/1.0">`,
    `\t<name>${e(launcherDomainName(input.vmi))}</name>`,
    `\t<memory unit="b">${memory}</memory>`,
    ...maxMemory,
    `\t<os>`,
    `\t\t<type arch="x86_64" machine="q35">hvm</type>`,
    `\t\t<kernel>${e(input.kernelPath)}</kernel>`,
    `\t\t<initrd>${e(input.initrdPath)}</initrd>`,
    `\t\t<cmdline>${e(input.cmdline)}</cmdline>`,
    `\t\t<smbios mode="sysinfo"></smbios>`,
    `\t</os>`,
    `\t<sysinfo type="smbios">`,
    `\t\t<system>`,
    `\t\t\t<entry name="uuid">${e(input.vmi.uid)}</entry>`,
    `\t\t</system>`,
    `\t</sysinfo>`,
    `\t<devices>`,
    `\t\t<controller type="usb" index="0" model="none"></controller>`,
    ...(input.disks ?? []).flatMap((d, i) => diskXml(d, i)),
    `\t\t<serial type="unix">`,
    `\t\t\t<target port="0"></target>`,
    `\t\t\t<source mode="bind" path="${e(input.serialSocketPath)}"></source>`,
    `\t\t\t<log file="${e(input.serialLogPath)}" append="on"></log>`,
    `\t\t</serial>`,
    `\t\t<console type="pty">`,
    `\t\t\t<target type="serial" port="0"></target>`,
    `\t\t</console>`,
    `\t\t<memballoon model="virtio-non-transitional"${balloonAttributes}>`,
    `\t\t\t<stats period="${input.statsPeriodSeconds ?? 10}"></stats>`,
    `\t\t</memballoon>`,
    `\t</devices>`,
    `\t<clock offset="utc"></clock>`,
    `\t<metadata>`,
    `\t\t<kubevirt xmlns="http://kubevirt.io">`,
    `\t\t\t<uid>${e(input.vmi.uid)}</uid>`,
    `\t\t</kubevirt>`,
    `\t</metadata>`,
    `\t<features>`,
    `\t\t<acpi></acpi>`,
    `\t</features>`,
    `\t<vcpu placement="static">${input.vcpus ?? 1}</vcpu>`,
    `</domain>`,
    '',
  ].join('\n');
}

export interface TestVmiOptions {
  name: string;
  namespace?: string;
  uid: string;
  /** spec.domain.memory.guest, MiB. */
  memoryMiB: number;
  /**
   * spec.domain.resources.requests.memory as the VM sets it, MiB. Default: none, and then the release decides
   * (defaultMemoryRequestBytes): v1.9 leaves the VMI without a request (only the pod gets one), v1.5 writes the
   * guest memory x 100 / `memoryOvercommitPercent` into it.
   */
  requestMiB?: number;
  /** The cluster's developerConfiguration.memoryOvercommit (default 100); only v1.5 shows it in the VMI. */
  memoryOvercommitPercent?: number;
  /** Extra metadata.annotations (kubemom.io/* and others). */
  annotations?: Record<string, string>;
  /** Names of virtio disks (spec.domain.devices.disks). */
  disks?: readonly string[];
  /** spec.domain.resources.limits.cpu, e.g. "500m". */
  cpuLimit?: string;
  /** The release whose defaults the VMI carries (default v1.9; kubevirt-release.ts). */
  kubevirt?: KubevirtRelease;
}

/**
 * A VMI for the test guest as virt-launcher of `kubevirt` hands it to OnDefineDomain: the VM's spec with virt-api's
 * defaults (architecture, CPU model and topology, and since v1.6 `memory.maxGuest` and `cpu.maxSockets` for memory
 * and CPU hotplug), the status virt-controller wrote before the pod started (phase, memory at boot, CPU topology),
 * and the KubeMom sidecar requested as a cluster would.
 */
export function testVmi(options: TestVmiOptions): Record<string, unknown> {
  const release = options.kubevirt ?? 'v1.9';
  const guest = `${options.memoryMiB}Mi`;
  const maxGuestBytes = defaultMaxGuestBytes(release, options.memoryMiB * 2 ** 20);
  const topology = { cores: 1, sockets: 1, threads: 1 };
  const overcommitted = defaultMemoryRequestBytes(release, options.memoryMiB * 2 ** 20, options.memoryOvercommitPercent);
  const request =
    options.requestMiB !== undefined
      ? `${options.requestMiB}Mi`
      : overcommitted === undefined
        ? undefined
        : options.memoryOvercommitPercent === undefined || options.memoryOvercommitPercent === 100
          ? guest // the guest quantity itself
          : binarySiQuantity(overcommitted);
  const resources = {
    ...(request !== undefined ? { requests: { memory: request } } : {}),
    ...(options.cpuLimit !== undefined ? { limits: { cpu: options.cpuLimit } } : {}),
  };
  return {
    kind: 'VirtualMachineInstance',
    apiVersion: 'kubevirt.io/v1',
    metadata: {
      name: options.name,
      namespace: options.namespace ?? 'testbed',
      uid: options.uid,
      annotations: {
        'hooks.kubevirt.io/hookSidecars': JSON.stringify([{ image: 'kubemom:local', args: ['sidecar'] }]),
        'kubevirt.io/latest-observed-api-version': 'v1',
        'kubevirt.io/storage-observed-api-version': 'v1',
        ...options.annotations,
      },
      labels: { 'kubevirt.io/nodeName': 'testbed' },
    },
    spec: {
      architecture: 'amd64',
      domain: {
        resources,
        memory: { guest, ...(maxGuestBytes !== undefined ? { maxGuest: binarySiQuantity(maxGuestBytes) } : {}) },
        // setupCPUHotplug: maxSockets = sockets x the hotplug ratio, for every VMI under LiveUpdate.
        cpu: { ...topology, ...(liveUpdateByDefault(release) ? { maxSockets: topology.sockets * MAX_HOTPLUG_RATIO } : {}), model: 'host-model' },
        machine: { type: 'q35' },
        features: { acpi: { enabled: true } },
        devices: options.disks ? { disks: options.disks.map((name) => ({ name, disk: { bus: 'virtio' } })) } : {},
      },
    },
    status: {
      phase: 'Scheduled',
      nodeName: 'testbed',
      qosClass: 'Burstable',
      // pkg/defaults: setGuestMemoryStatus and setCurrentCPUTopologyStatus, at creation.
      memory: { guestAtBoot: guest, guestCurrent: guest, guestRequested: guest },
      currentCPUTopology: topology,
    },
  };
}

/** spec.domain.memory.maxGuest of a VMI object in bytes, or undefined (the sidecar itself does not read it). */
export function vmiMaxGuestBytes(vmi: Record<string, unknown>): number | undefined {
  const memory = ((vmi.spec as Record<string, any> | undefined)?.domain as Record<string, any> | undefined)?.memory as Record<string, unknown> | undefined;
  const maxGuest = memory?.maxGuest;
  if (maxGuest === undefined) return undefined;
  const parsed = parseMemoryQuantity(String(maxGuest));
  if ('error' in parsed) throw new InputError('vmi.spec.domain.memory.maxGuest', parsed.error);
  return parsed.value;
}

/**
 * The domain as this machine's libvirt can define it, from the domain the sidecar returned. KubeVirt's converter
 * writes `<maxMemory slots="0">` without a NUMA cell and leaves the rest to the libvirt of its virt-launcher image,
 * which takes zero slots and, defining a domain with memory hotplug and no NUMA cell, adds one cell holding all the
 * memory and vCPUs (src/qemu/qemu_domain.c, `qemuDomainDefNumaAutoAdd`). Debian 12's libvirt 9.0 does neither: it
 * wants at least one slot ("both maximum memory size and memory slot count must be specified") and a NUMA cell ("At
 * least one numa node has to be configured when enabling memory hotplug"). So here the slot and the cell are given
 * after the sidecar has seen KubeVirt's XML; a domain without `<maxMemory>` is defined as returned.
 */
export function definableHere(domainXml: string): string {
  if (!/<maxMemory\b/.test(domainXml)) return domainXml;
  let xml = domainXml.replace(/(<maxMemory\b[^>]*\bslots=)(["'])0\2/, '$1$21$2');
  if (/<numa\b/.test(xml)) return xml;
  const memory = /<memory unit="b">(\d+)<\/memory>/.exec(xml)?.[1];
  const vcpus = Number(/<vcpu\b[^>]*>(\d+)<\/vcpu>/.exec(xml)?.[1] ?? '1');
  if (memory === undefined) throw new Error('definableHere: the domain has <maxMemory> but no <memory unit="b">');
  const numa = `<numa><cell id="0" cpus="0-${vcpus - 1}" memory="${memory}" unit="b"></cell></numa>`;
  xml = xml.includes('</cpu>') ? xml.replace('</cpu>', `${numa}</cpu>`) : xml.replace('</domain>', `\t<cpu>${numa}</cpu>\n</domain>`);
  return xml;
}
