/**
 * Entry point of `bin/kubemom-sidecar`: the `kubemom` CLI with only the sidecar
 * subcommand, so the per-VM process loads (and, bundled, parses) nothing else.
 * Every sidecar pod pays for each module loaded here, under a 64 MiB limit.
 *
 * Accepts what `kubemom sidecar` accepts, with or without the word `sidecar`
 * first (KubeVirt's hookSidecars annotation passes `args: ["sidecar"]`).
 */
import { Command } from 'commander';
import { KUBEMOM_VERSION } from '../common/version.js';
import { registerSidecarCommand } from './sidecar-command.js';

const program = new Command('kubemom-sidecar')
  .description('the KubeMom per-VM hook sidecar (same as `kubemom sidecar`)')
  .version(KUBEMOM_VERSION);
registerSidecarCommand(program);

const args = process.argv.slice(2);
const wantsTopLevel = args[0] === '--version' || args[0] === '-V';
await program.parseAsync(wantsTopLevel || args[0] === 'sidecar' ? args : ['sidecar', ...args], { from: 'user' });
