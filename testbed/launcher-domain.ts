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
import type { VmiFacts } from '../src/hook-sidecar/vmi.js';

export interface LauncherDomainInput {
  vmi: VmiFacts;
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
  const balloonAttributes = input.freePageReporting === false ? '' : ' freePageReporting="on"';
  return [
    `<domain type="qemu" xmlns:qemu="http://libvirt.org/schemas/domain/qemu/1.0">`,
    `\t<name>${e(launcherDomainName(input.vmi))}</name>`,
    `\t<memory unit="b">${memory}</memory>`,
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
  /** spec.domain.resources.requests.memory, MiB (default: the guest memory). */
  requestMiB?: number;
  /** Extra metadata.annotations (kubemom.io/* and others). */
  annotations?: Record<string, string>;
  /** Names of virtio disks (spec.domain.devices.disks). */
  disks?: readonly string[];
  /** spec.domain.resources.limits.cpu, e.g. "500m". */
  cpuLimit?: string;
}

/** A KubeVirt-style VMI for the test guest, with the KubeMom sidecar requested as a cluster would. */
export function testVmi(options: TestVmiOptions): Record<string, unknown> {
  return {
    kind: 'VirtualMachineInstance',
    apiVersion: 'kubevirt.io/v1',
    metadata: {
      name: options.name,
      namespace: options.namespace ?? 'testbed',
      uid: options.uid,
      annotations: {
        'hooks.kubevirt.io/hookSidecars': JSON.stringify([{ image: 'kubemom:local', args: ['sidecar'] }]),
        ...options.annotations,
      },
    },
    spec: {
      domain: {
        resources: {
          requests: { memory: `${options.requestMiB ?? options.memoryMiB}Mi` },
          ...(options.cpuLimit !== undefined ? { limits: { cpu: options.cpuLimit } } : {}),
        },
        memory: { guest: `${options.memoryMiB}Mi` },
        cpu: { cores: 1, sockets: 1, threads: 1 },
        machine: { type: 'q35' },
        devices: options.disks ? { disks: options.disks.map((name) => ({ name, disk: { bus: 'virtio' } })) } : {},
      },
    },
    status: { phase: 'Scheduled' },
  };
}
