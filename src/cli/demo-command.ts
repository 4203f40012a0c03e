/**
 * `kubemom demo`: the main job on an embedded default, no cluster needed. A demo node
 * on this machine: the real shim and real sidecars over real sockets, with simulated
 * QEMU guests behind a real QMP server (or real TCG guests with --real), a scripted
 * timeline that overcommits the node and puts it under pressure, a live view and a
 * final report.
 */
import type { Command } from 'commander';
import { writeFileSync } from 'node:fs';
import { InputError } from '../common/errors.js';
import { checkDemoOptions, type DemoOptions } from '../demo/plan.js';
import { describeFailure, EXIT_PROBLEM, exitWithFailure } from './exit.js';

interface DemoFlags {
  real?: boolean;
  vms?: string;
  seconds: string;
  policy: string;
  json?: boolean;
  plot?: string;
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

/** Signals that end the demo early, with the exit status a shell reports for each (128 + number). */
const STOP_SIGNALS: Readonly<Record<string, number>> = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 };

/** Checks `--plot`'s file name; the plot is written after the run. */
export function checkPlotFile(file: string | undefined): string | undefined {
  if (file !== undefined && !/\.(svg|png)$/i.test(file)) throw new InputError('--plot', `"${file}" is not accepted; use a file name ending in .svg or .png`);
  return file;
}

export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('run a KubeMom node on this machine (real shim and sidecars, simulated guests), overcommit it, put it under pressure, report')
    .option('--real', 'use real TCG guests from the test bed (libvirt, QEMU) instead of simulated ones')
    .option('--vms <n>', 'number of VMs (default 8; 2 with --real)')
    .option('--seconds <s>', 'length of the scripted timeline', '60')
    .option('--policy <name|file>', 'node policy: default, mom, observe or a policy file', 'default')
    .option('--json', 'print the final report as JSON on stdout (the live view goes to stderr)')
    .option('--plot <file>', 'also write a chart of the run (.svg or .png)')
    .addHelpText(
      'after',
      '\nCtrl-C, SIGTERM or a closed terminal (SIGHUP) end the run early: everything is cleaned up and the report says where it stopped.\n' +
        'Exit status: 0 ok, 1 a guest was OOM killed or the demo could not run, 2 bad usage, 128+n after signal n (130 Ctrl-C, 129 SIGHUP).',
    )
    .action(async (flags: DemoFlags) => {
      process.env.KUBEMOM_LOG_LEVEL ??= 'warn';
      const options: DemoOptions = demoOptionsFromFlags(flags);
      const plotFile = checkPlotFile(flags.plot);
      // A closed terminal makes every write fail (EIO): the cleanup must go on regardless.
      process.stdout.on('error', () => undefined);
      process.stderr.on('error', () => undefined);
      // Imported here so that other commands do not load the shim, the sidecar and the simulator.
      const { runDemo, formatReport } = await import('../demo/demo.js');
      const abort = new AbortController();
      let stoppedBy: string | undefined;
      const onSignal = (signal: NodeJS.Signals): void => {
        if (stoppedBy === undefined) {
          stoppedBy = signal;
          abort.abort(signal);
        } else {
          // Dying now would leave guests, sockets and directories behind: the first signal's cleanup goes on.
          process.stderr.write(`kubemom demo: ${signal}: still cleaning up after ${stoppedBy}\n`);
        }
      };
      for (const signal of Object.keys(STOP_SIGNALS)) process.on(signal, onSignal);
      let code = 0;
      try {
        const { report } = await runDemo(options, {
          out: flags.json ? process.stderr : process.stdout,
          tty: flags.json ? false : process.stdout.isTTY === true,
          signal: abort.signal,
        });
        if (flags.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
        else process.stdout.write(`\n${formatReport(report).join('\n')}\n`);
        if (plotFile !== undefined) {
          const { plotDemo } = await import('../demo/plot.js');
          const svg = plotDemo(report);
          if (/\.png$/i.test(plotFile)) {
            const { svgToPng } = await import('../sim/plot-png.js');
            writeFileSync(plotFile, svgToPng(svg));
          } else writeFileSync(plotFile, svg);
          (flags.json ? process.stderr : process.stdout).write(`plot written to ${plotFile}\n`);
        }
        if (report.guestOoms > 0) code = EXIT_PROBLEM;
        if (report.interrupted) code = STOP_SIGNALS[report.interrupted.signal] ?? EXIT_PROBLEM;
      } catch (error) {
        // Stopped by a signal: the signal's status wins over the failure it caused.
        if (stoppedBy !== undefined) {
          describeFailure('kubemom demo', error).lines.forEach((line) => process.stderr.write(`${line}\n`));
          code = STOP_SIGNALS[stoppedBy] ?? EXIT_PROBLEM;
        } else exitWithFailure('kubemom demo', error);
      }
      process.exit(code);
    });
}
