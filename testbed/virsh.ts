/** The few libvirt operations the test bed needs, through virsh on the system connection. */
import { readFileSync, writeFileSync } from 'node:fs';
import { CommandError, run } from './exec.js';

export const LIBVIRT_URI = 'qemu:///system';

function virsh(args: string[], timeoutMs = 60_000): Promise<string> {
  return run('virsh', ['-q', '-c', LIBVIRT_URI, ...args], { timeoutMs }).then((r) => r.stdout);
}

/** Defines a persistent domain from XML written to `file` (virsh reads files, not stdin). */
export async function defineDomain(xml: string, file: string): Promise<void> {
  writeFileSync(file, xml);
  await virsh(['define', file]);
}

/** Starts a defined domain; `paused`: QEMU is created but its CPUs wait for resumeDomain. */
export async function startDomain(name: string, options: { paused?: boolean } = {}): Promise<void> {
  await virsh(['start', name, ...(options.paused ? ['--paused'] : [])]);
}

export async function resumeDomain(name: string): Promise<void> {
  await virsh(['resume', name]);
}

/** The pid of a running domain's QEMU, from the pid file libvirt's QEMU driver writes. */
export function qemuPid(name: string): number {
  const file = `/run/libvirt/qemu/${name}.pid`;
  const text = readFileSync(file, 'utf8').trim();
  if (!/^[0-9]+$/.test(text)) throw new Error(`${file} holds "${text.slice(0, 40)}", not a pid`);
  return Number(text);
}

/** The live (or, when stopped, the persistent) definition as libvirt holds it. */
export function dumpXml(name: string): Promise<string> {
  return virsh(['dumpxml', name]);
}

export async function domainState(name: string): Promise<string> {
  return (await virsh(['domstate', name])).trim();
}

/** True when libvirt knows a domain of this name. */
export async function domainExists(name: string): Promise<boolean> {
  try {
    await virsh(['domuuid', name]);
    return true;
  } catch (error) {
    if (error instanceof CommandError) return false;
    throw error;
  }
}

/** Stops (if running) and undefines the domain; a domain that is already gone is fine. */
export async function removeDomain(name: string): Promise<void> {
  if (!(await domainExists(name))) return;
  try {
    await virsh(['destroy', name]);
  } catch {
    // Not running.
  }
  await virsh(['undefine', name]);
}

/** libvirt's schema check of a domain XML file (virt-xml-validate, which runs xmllint). */
export async function validateDomainXml(file: string): Promise<void> {
  await run('virt-xml-validate', [file, 'domain'], { timeoutMs: 30_000 });
}

/** Runs one QMP command on libvirt's own monitor of a running domain; returns its `return` value. */
export async function qemuMonitorCommand(name: string, command: string, args?: Record<string, unknown>): Promise<unknown> {
  const out = await virsh(['qemu-monitor-command', name, JSON.stringify(args ? { execute: command, arguments: args } : { execute: command })]);
  return (JSON.parse(out) as { return: unknown }).return;
}
