/**
 * Entry point of `bin/kubemom-sidecar`: the `kubemom` CLI with only the sidecar
 * subcommand, so the per-VM process loads (and, bundled, parses) nothing else.
 * Every sidecar pod pays for each module loaded here, under a 64 MiB limit.
 *
 * Accepts what `kubemom sidecar` accepts, with or without the word `sidecar`
 * first (KubeVirt's hookSidecars annotation passes `args: ["sidecar"]`).
 */
import { Command } from 'commander';
import { checkLogLevel } from '../common/log.js';
import { KUBEMOM_VERSION } from '../common/version.js';
import { exitWithFailure } from './exit.js';
import { registerSidecarCommand } from './sidecar-command.js';

const program = new Command('kubemom-sidecar')
  .description('the KubeMom per-VM hook sidecar (same as `kubemom sidecar`); see `kubemom-sidecar --help`')
  .version(KUBEMOM_VERSION)
  .exitOverride()
  .addHelpText('after', '\nExit status: 0 ok, 1 failed on its own, 2 bad usage or input.');
registerSidecarCommand(program);

const args = process.argv.slice(2);
// `--help` shows the sidecar's own flags, the only command this binary has.
const sidecarArgs = args[0] === 'sidecar' ? args : args[0] === 'help' ? ['sidecar', '--help'] : ['sidecar', ...args];
try {
  checkLogLevel();
  await program.parseAsync(args[0] === '--version' || args[0] === '-V' ? args : sidecarArgs, { from: 'user' });
} catch (err) {
  exitWithFailure('kubemom-sidecar', err);
}
