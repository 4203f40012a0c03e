/**
 * `kubemom demo`: the main job on an embedded default, no cluster needed. A demo node
 * on this machine: the real shim and real sidecars over real sockets, with simulated
 * QEMU guests behind a real QMP server (or real TCG guests with --real), a scripted
 * timeline that overcommits the node and puts it under pressure, a live view and a
 * final report.
 */
import type { Command } from 'commander';
import { InputError } from '../common/errors.js';
import { checkDemoOptions, type DemoOptions } from '../demo/plan.js';
import { EXIT_PROBLEM, exitWithFailure } from './exit.js';

interface DemoFlags {
  real?: boolean;
  vms?: string;
  seconds: string;
  policy: string;
  json?: boolean;
}

function wholeNumber(flag: string, text: string): number {
  if (!/^[0-9]+(\.[0-9]+)?$/.test(text.trim())) throw new InputError(flag, `"${text}" is not accepted; use a number`);
  return Number(text);
}

/** The options from the flags; errors name the flag. */
export function demoOptionsFromFlags(flags: DemoFlags): DemoOptions {
  const real = flags.real ?? false;
  return checkDemoOptions({
    real,
    vms: flags.vms === undefined ? (real ? 2 : 8) : wholeNumber('--vms', flags.vms),
    seconds: wholeNumber('--seconds', flags.seconds),
    policy: flags.policy,
  });
}

export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('run a KubeMom node on this machine (real shim and sidecars, simulated guests), overcommit it, put it under pressure, report')
    .option('--real', 'use real TCG guests from the test bed (libvirt, QEMU) instead of simulated ones')
    .option('--vms <n>', 'number of VMs (default 8; 2 with --real)')
    .option('--seconds <s>', 'length of the scripted timeline', '60')
    .option('--policy <name|file>', 'node policy: default, mom, observe or a policy file', 'default')
    .option('--json', 'print the final report as JSON on stdout (no live view)')
    .action(async (flags: DemoFlags) => {
      process.env.KUBEMOM_LOG_LEVEL ??= 'warn';
      const options: DemoOptions = demoOptionsFromFlags(flags);
      // Imported here so that other commands do not load the shim, the sidecar and the simulator.
      const { runDemo, formatReport } = await import('../demo/demo.js');
      const abort = new AbortController();
      const onSignal = (): void => abort.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      let code = 0;
      try {
        const { report } = await runDemo(options, {
          out: flags.json ? process.stderr : process.stdout,
          tty: flags.json ? false : process.stdout.isTTY === true,
          signal: abort.signal,
        });
        if (flags.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
        else process.stdout.write(`\n${formatReport(report).join('\n')}\n`);
        if (report.guestOoms > 0) code = EXIT_PROBLEM;
      } catch (error) {
        exitWithFailure('kubemom demo', error);
      }
      process.exit(code);
    });
}
