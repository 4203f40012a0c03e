/** How the benches start a sidecar: the plain CLI, the sidecar bundle, the shipped launcher. */
import path from 'node:path';
import { packageRoot } from '../../src/common/paths.js';
import type { SidecarLaunch } from './bench-support.js';

/** `node [flags] dist/src/cli/main.js sidecar` — the whole CLI, unbundled. */
export function cliLaunch(nodeFlags: string[] = []): SidecarLaunch {
  return { args: [...nodeFlags, path.join(packageRoot, 'dist', 'src', 'cli', 'main.js')] };
}

/** `node [flags] dist/src/cli/kubemom-sidecar.bundle.js sidecar` — the sidecar-only bundle (npm run build). */
export function bundleLaunch(nodeFlags: string[] = []): SidecarLaunch {
  return { args: [...nodeFlags, path.join(packageRoot, 'dist', 'src', 'cli', 'kubemom-sidecar.bundle.js')] };
}

/** `bin/kubemom-sidecar sidecar` — what the container image runs. */
export function sidecarLauncherLaunch(): SidecarLaunch {
  return { command: path.join(packageRoot, 'bin', 'kubemom-sidecar'), args: [] };
}
