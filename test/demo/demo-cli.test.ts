/**
 * `kubemom demo` as a user runs it: the command in a child process with its output
 * piped (not a terminal), simulated guests. A normal run writes short event lines, no
 * log warnings, a report that ends with a picture of the run, and the --plot file; a
 * SIGHUP (the terminal closed) stops it as cleanly as Ctrl-C and the report says so.
 */
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { packageRoot } from '../../src/common/paths.js';
import { PLAIN_LINE_MAX } from '../../src/demo/display.js';

const main = path.join(packageRoot, 'dist', 'src', 'cli', 'main.js');

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the demo; `interrupt` is called with the child once stdout shows `when`.
 * Resolves when the child has exited.
 */
/** Demo processes still running: a test that gives up (its deadline) must not leave one behind. */
const running = new Set<ChildProcess>();

function demo(args: string[], tmp: string, interrupt?: { when: RegExp; send: (pid: number) => void }): Promise<Run> {
  return new Promise((resolve, reject) => {
    // KUBEMOM_LOG_LEVEL unset: the command's own default (warn) is what a user gets. Its own
    // temp directory: whatever the demo leaves behind is there, apart from other tests' files.
    const env: NodeJS.ProcessEnv = { ...process.env, TMPDIR: tmp };
    delete env.KUBEMOM_LOG_LEVEL;
    const child = spawn(process.execPath, [main, 'demo', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
    running.add(child);
    child.on('exit', () => running.delete(child));
    let stdout = '';
    let stderr = '';
    let sent = false;
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
      if (interrupt && !sent && interrupt.when.test(stdout)) {
        sent = true;
        interrupt.send(child.pid!);
      }
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

describe('kubemom demo (the command, piped, simulated guests)', function () {
  this.timeout(120_000);
  let dir: string;
  let count = 0;
  /** A fresh, empty temp directory for one demo. */
  const tmp = (): string => {
    const made = path.join(dir, `tmp${count++}`);
    mkdirSync(made);
    return made;
  };

  before(() => {
    // Short: the demo's socket paths under it must fit a unix socket address.
    dir = mkdtempSync('/tmp/kmd-');
  });
  after(() => {
    for (const child of running) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  describe('a normal run', () => {
    let run: Run;
    let plot: string;
    before(async () => {
      plot = path.join(dir, 'run.svg');
      run = await demo(['--vms', '8', '--seconds', '10', '--plot', plot], tmp());
    });

    it('ends with status 0 and writes no log warnings', () => {
      expect(run.code, run.stderr).to.equal(0);
      expect(run.stderr).to.equal('');
    });

    it('writes one short line per event, never a long status line', () => {
      const [live] = run.stdout.split('\nKubeMom demo report');
      const lines = live!.trim().split('\n');
      expect(lines[0]).to.equal('KubeMom demo: 8 simulated VMs, policy default');
      for (const line of lines.slice(1)) {
        expect(line).to.match(/^t=[0-9.]+s +(phase|node|balloon|status|guest OOM) /);
        expect(line.length, line).to.be.at.most(PLAIN_LINE_MAX);
      }
      expect(lines.filter((l) => / phase /.test(l))).to.have.length(4);
      expect(lines.some((l) => / balloon +vm-[0-9]+ [0-9]+ -> [0-9]+ MiB /.test(l))).to.equal(true);
      for (const line of run.stdout.split('\n')) expect([...line].length, line).to.be.at.most(PLAIN_LINE_MAX);
      expect(run.stdout).to.not.include('\x1b[');
    });

    it('ends its report with a picture of the run: available memory against the reserve, reclaimed memory, over time', () => {
      const report = run.stdout.slice(run.stdout.indexOf('KubeMom demo report'));
      expect(report).to.not.include('INTERRUPTED');
      expect(report).to.match(/pressure event: +noisy neighbour at 3\.5 s/);
      expect(report).to.match(/\n {2}available {2}[ ▁▂▃▄▅▆▇█]{60} {2}/);
      expect(report).to.match(/\n {2}reserve {4}[-!X]{60} {2}/);
      expect(report).to.match(/\n {2}reclaimed {2}[ ▁▂▃▄▅▆▇█]{60} {2}/);
      expect(report).to.include(`plot written to ${plot}`);
    });

    it('writes the --plot file: the run against the reserve, with a legend', () => {
      const svg = readFileSync(plot, 'utf8');
      expect(svg).to.match(/^<svg /);
      for (const label of ['node available memory', 'reclaimed by the balloons', 'reserve', 'eviction threshold', 'pressure event']) expect(svg).to.include(label);
    });
  });

  it('stops cleanly on SIGHUP (a closed terminal): status 129, nothing left behind, a report that says it was interrupted', async () => {
    const scratch = tmp();
    const run = await demo(['--vms', '4', '--seconds', '60'], scratch, { when: / status /, send: (pid) => process.kill(pid, 'SIGHUP') });
    expect(run.signal, run.stderr).to.equal(null);
    expect(run.code, run.stderr).to.equal(129);
    const report = run.stdout.slice(run.stdout.indexOf('KubeMom demo report'));
    expect(report).to.match(/INTERRUPTED by SIGHUP at [0-9.]+ s of 60 s/);
    // The neighbour was due at 21 s: the report must not describe a pressure event or grow-backs that never came.
    expect(report).to.include('pressure event:    not reached');
    expect(report).to.not.match(/noisy neighbour at|grow-backs/);
    // The scratch directory (with every socket and the shim's links) is gone.
    expect(readdirSync(scratch)).to.deep.equal([]);
  });

  it('a second signal during the cleanup does not cut it short', async () => {
    const scratch = tmp();
    const run = await demo(['--vms', '4', '--seconds', '60'], scratch, {
      when: / status /,
      send: (pid) => {
        process.kill(pid, 'SIGINT');
        process.kill(pid, 'SIGINT');
      },
    });
    expect(run.signal, run.stderr).to.equal(null);
    expect(run.code, run.stderr).to.equal(130);
    expect(run.stdout).to.match(/INTERRUPTED by SIGINT/);
    expect(readdirSync(scratch)).to.deep.equal([]);
  });

  it('refuses a TMPDIR too long for its sockets, naming it, before starting anything', async () => {
    const long = path.join(tmp(), 'x'.repeat(40));
    mkdirSync(long);
    const run = await demo(['--seconds', '10'], long);
    expect(run.code).to.equal(2);
    expect(run.stderr).to.match(/^kubemom demo: TMPDIR: ".*" is too long: .* unix sockets allow 107; set TMPDIR to a shorter directory such as \/tmp\n$/);
    expect(readdirSync(long)).to.deep.equal([]);
  });

  it('rejects a --plot file it cannot write as bad usage, before running', async () => {
    const run = await demo(['--seconds', '10', '--plot', path.join(dir, 'run.pdf')], tmp());
    expect(run.code).to.equal(2);
    expect(run.stderr).to.match(/^kubemom demo: --plot: ".*run\.pdf" is not accepted; use a file name ending in \.svg or \.png\n$/);
    expect(existsSync(path.join(dir, 'run.pdf'))).to.equal(false);
  });
});
