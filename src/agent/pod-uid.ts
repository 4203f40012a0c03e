/**
 * The virt-launcher pod's UID as the sidecar sees it, from its own mounts.
 *
 * The hook directory is an emptyDir: kubelet bind-mounts
 * `<kubelet root>/pods/<podUID>/volumes/kubernetes.io~empty-dir/<name>` into the
 * container, and /proc/self/mountinfo shows that source path as the mount's root.
 * The shim compares this UID with the one in the socket's host path, so a sidecar
 * cannot be mistaken for another pod's.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

const POD_UID = /\/pods\/([0-9a-fA-F-]{8,64})\/volumes\//;

/** mountinfo escapes space, tab, newline and backslash as \ooo octal. */
function unescapeMountinfo(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_m, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/**
 * Finds the pod UID for `dir` in mountinfo text: the mount whose mount point is the
 * longest prefix of `dir`, when its root contains `pods/<uid>/volumes/`.
 */
export function podUidFromMountinfo(mountinfo: string, dir: string): string | undefined {
  const target = path.resolve(dir);
  let best: { mountPoint: string; root: string } | undefined;
  for (const line of mountinfo.split('\n')) {
    // Fields: id parent major:minor root mount-point options ... - fstype source super-options
    const fields = line.split(' ');
    if (fields.length < 5) continue;
    const root = unescapeMountinfo(fields[3]!);
    const mountPoint = unescapeMountinfo(fields[4]!);
    const inside = target === mountPoint || target.startsWith(mountPoint.endsWith('/') ? mountPoint : `${mountPoint}/`);
    if (inside && (!best || mountPoint.length >= best.mountPoint.length)) best = { mountPoint, root };
  }
  return best ? POD_UID.exec(`${best.root}/`)?.[1] : undefined;
}

/** The pod UID for the hook directory, read from /proc/self/mountinfo ("" when it cannot be told). */
export function discoverPodUid(hooksDir: string, mountinfoPath = '/proc/self/mountinfo'): string {
  try {
    return podUidFromMountinfo(readFileSync(mountinfoPath, 'utf8'), hooksDir) ?? '';
  } catch {
    return '';
  }
}
