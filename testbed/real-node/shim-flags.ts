/**
 * The shim flags that point it at the run's cgroup tree, when the built shim has them
 * (`--cgroup-root`, `--kubepods-cgroup`, `--cgroup-driver`, from the kubelet-signals work);
 * undefined when it does not, and the run says so.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { packageRoot } from '../../src/common/paths.js';

export type CgroupFlags = (tree: { cgroupRoot: string; kubepods: string; driver: 'cgroupfs' }) => string[];

/** Whether `kubemom shim --help` lists a flag. */
export function shimHasFlag(flag: string): boolean {
  const help = spawnSync(process.execPath, [path.join(packageRoot, 'dist', 'src', 'cli', 'main.js'), 'shim', '--help'], { encoding: 'utf8' });
  return help.stdout.includes(flag);
}

export function shimCgroupFlags(): CgroupFlags | undefined {
  if (!shimHasFlag('--cgroup-root')) return undefined;
  const driver = shimHasFlag('--cgroup-driver');
  const kubepods = shimHasFlag('--kubepods-cgroup');
  return (tree) => ['--cgroup-root', tree.cgroupRoot, ...(kubepods ? ['--kubepods-cgroup', tree.kubepods] : []), ...(driver ? ['--cgroup-driver', tree.driver] : [])];
}
