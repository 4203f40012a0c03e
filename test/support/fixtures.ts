/** The bundled KubeVirt fixtures and small builders for variants of them. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../../src/common/paths.js';

export const fixtureDomainXml: string = readFileSync(path.join(packageRoot, 'fixtures', 'kubevirt-domain.xml'), 'utf8');
export const fixtureVmiJson: string = readFileSync(path.join(packageRoot, 'fixtures', 'kubevirt-vmi.json'), 'utf8');

type Vmi = { metadata: { annotations: Record<string, string>; [k: string]: unknown }; spec: Record<string, any>; [k: string]: unknown };

/** The fixture VMI with extra annotations and optional edits. */
export function vmiWith(annotations: Record<string, string> = {}, edit?: (vmi: Vmi) => void): string {
  const vmi = JSON.parse(fixtureVmiJson) as Vmi;
  Object.assign(vmi.metadata.annotations, annotations);
  edit?.(vmi);
  return JSON.stringify(vmi);
}

/** A Go-marshalled-style domain with the given machine type, memory and extra device/root XML. */
export function domainXml(options: { machine?: string; memoryBytes?: number; devices?: string; tail?: string; rootAttrs?: string } = {}): string {
  const machine = options.machine ?? 'q35';
  const memory = options.memoryBytes ?? 536870912;
  const rootAttrs = options.rootAttrs ?? ' xmlns:qemu="http://libvirt.org/schemas/domain/qemu/1.0"';
  return [
    `<domain type="qemu"${rootAttrs}>`,
    '\t<name>ns_vm</name>',
    `\t<memory unit="b">${memory}</memory>`,
    '\t<os>',
    `\t\t<type arch="x86_64" machine="${machine}">hvm</type>`,
    '\t</os>',
    '\t<devices>',
    `\t\t<controller type="usb" index="0" model="none"></controller>${options.devices ?? ''}`,
    '\t</devices>',
    `${options.tail ?? ''}</domain>`,
  ].join('\n');
}
