/** Local user and group IDs (Node has no getpwnam), read from /etc/passwd and /etc/group. */
import { readFileSync } from 'node:fs';

function lookup(file: string, name: string, field: number): number | undefined {
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const parts = line.split(':');
    if (parts[0] === name && parts[field] !== undefined) return Number(parts[field]);
  }
  return undefined;
}

export function userId(name: string): number | undefined {
  return lookup('/etc/passwd', name, 2);
}

export function groupId(name: string): number | undefined {
  return lookup('/etc/group', name, 2);
}

/** The user and group libvirt runs QEMU as (Debian's qemu.conf defaults). */
export function qemuUser(): { uid: number; gid: number } {
  const uid = userId('libvirt-qemu');
  const gid = groupId('libvirt-qemu') ?? groupId('kvm');
  if (uid === undefined || gid === undefined) {
    throw new Error('no libvirt-qemu user or group: is libvirt-daemon-system installed?');
  }
  return { uid, gid };
}
