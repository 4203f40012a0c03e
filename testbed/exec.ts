/**
 * Runs host commands (apt-get, virsh, cpio ...) for the test bed: argument vectors
 * only (no shell), a timeout on every call, and errors that carry the command and
 * its stderr so a failed setup says what failed.
 */
import { spawn } from 'node:child_process';

export interface RunOptions {
  /** Kill the command after this long (default 120 s). */
  timeoutMs?: number;
  /** Written to the command's stdin. */
  input?: string | Buffer;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

export interface RunResult {
  stdout: string;
  stderr: string;
}

export class CommandError extends Error {
  constructor(
    readonly command: string,
    readonly exitCode: number | null,
    readonly stderr: string,
  ) {
    super(`${command} failed (${exitCode === null ? 'killed' : `exit ${exitCode}`}): ${stderr.trim().slice(-2000)}`);
    this.name = 'CommandError';
  }
}

/** Output kept per stream; more is cut so a chatty command cannot grow memory without bound. */
const MAX_OUTPUT_BYTES = 16 * 2 ** 20;

/** Runs `file args...`, resolves with its output when it exits 0, rejects otherwise. */
export function run(file: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const command = [file, ...args].join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outBytes = 0;
    let errBytes = 0;
    child.stdout.on('data', (chunk: Buffer) => {
      if (outBytes < MAX_OUTPUT_BYTES) out.push(chunk);
      outBytes += chunk.length;
    });
    child.stderr.on('data', (chunk: Buffer) => {
      if (errBytes < MAX_OUTPUT_BYTES) err.push(chunk);
      errBytes += chunk.length;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(new CommandError(command, null, error.message));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out).toString('utf8');
      const stderr = Buffer.concat(err).toString('utf8');
      if (code === 0) resolve({ stdout, stderr });
      else reject(new CommandError(command, code, stderr || stdout));
    });
    child.stdin.on('error', () => {
      // The command may exit without reading its input; its exit status tells.
    });
    child.stdin.end(options.input ?? '');
  });
}
