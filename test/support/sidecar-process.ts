/** Starts the real `kubemom sidecar` CLI as a child process for tests. */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../../src/common/paths.js';
import { EVENT_DEADLINE_MS } from './deadline.js';

export const cliPath: string = path.join(packageRoot, 'dist', 'src', 'cli', 'main.js');

export interface SidecarProcess {
  child: ChildProcess;
  socketPath: string;
  stderr(): string;
  /** Resolves with the exit code (or signal name) once the process has ended. */
  exited: Promise<number | string>;
}

export async function startSidecarProcess(hooksDir: string, env: Record<string, string> = {}, args: string[] = []): Promise<SidecarProcess> {
  const child = spawn(process.execPath, [cliPath, 'sidecar', '--hooks-dir', hooksDir, ...args], {
    env: { ...process.env, KUBEMOM_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | string>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  const socketPath = path.join(hooksDir, 'kubemom.sock');
  const deadline = Date.now() + EVENT_DEADLINE_MS;
  while (!existsSync(socketPath) || !stderr.includes('serving the KubeVirt hook API')) {
    if (child.exitCode !== null) throw new Error(`sidecar exited early: ${stderr}`);
    if (Date.now() > deadline) throw new Error(`sidecar did not create ${socketPath}: ${stderr}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return { child, socketPath, stderr: () => stderr, exited };
}
