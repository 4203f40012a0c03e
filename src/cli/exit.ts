/**
 * One exit-code convention for every `kubemom` subcommand, and one way to report a failure:
 *
 * - 0: ok;
 * - 1: the job ran and reports a problem (`simulate`: a run had an incident; `policy check`:
 *   a file has errors; `demo`: a guest was OOM-killed), or KubeMom failed on its own;
 * - 2: bad usage or input (a flag, a file, a value the program cannot work with).
 *
 * A user's mistake prints one line naming the flag, file or field and what is accepted,
 * never a stack trace; `KUBEMOM_DEBUG=1` adds the stack to any failure.
 */
import { CommanderError, InvalidArgumentError } from 'commander';
import { InputError } from '../common/errors.js';

export const EXIT_OK = 0;
export const EXIT_PROBLEM = 1;
export const EXIT_USAGE = 2;

/** An error made of several user-facing lines (every error of a policy file, say). */
interface MultiLineUserError extends Error {
  readonly errors: readonly unknown[];
}

/** Errors a user caused and can fix: they exit 2 with their message alone. */
export function isUsageError(err: unknown): err is Error {
  if (err instanceof InputError || err instanceof InvalidArgumentError) return true;
  // PolicyFileErrors (policy engine) is matched by name: the CLI need not load the engine to report it.
  return err instanceof Error && err.name === 'PolicyFileErrors' && Array.isArray((err as MultiLineUserError).errors);
}

function debugWanted(): boolean {
  return process.env.KUBEMOM_DEBUG === '1' || process.env.KUBEMOM_DEBUG === 'true';
}

/** The lines and exit status a failure of `command` reports. */
export function describeFailure(command: string, err: unknown): { lines: string[]; code: number } {
  if (err instanceof CommanderError) {
    // Commander has already printed its message (unknown option, missing argument...).
    const benign = err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help';
    return { lines: [], code: benign ? EXIT_OK : EXIT_USAGE };
  }
  const debug = debugWanted();
  if (isUsageError(err)) {
    const lines = err.message.split('\n').map((line) => `${command}: ${line}`);
    if (debug && err.stack) lines.push(err.stack);
    return { lines, code: EXIT_USAGE };
  }
  const message = err instanceof Error ? err.message : String(err);
  const lines = [`${command}: failed: ${message}${debug ? '' : ' (KUBEMOM_DEBUG=1 shows where)'}`];
  if (debug && err instanceof Error && err.stack) lines.push(err.stack);
  return { lines, code: EXIT_PROBLEM };
}

/** Prints the failure of `command` on stderr and ends the process with its exit status. */
export function exitWithFailure(command: string, err: unknown): never {
  const { lines, code } = describeFailure(command, err);
  for (const line of lines) process.stderr.write(`${line}\n`);
  process.exit(code);
}
