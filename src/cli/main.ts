#!/usr/bin/env node
/** The `kubemom` command: every KubeMom process and tool is a subcommand. */
import { Command } from 'commander';
import { checkLogLevel } from '../common/log.js';
import { KUBEMOM_VERSION } from '../common/version.js';
import { exitWithFailure } from './exit.js';
import { registerSidecarCommand } from './sidecar-command.js';
import { registerDemoCommand } from './demo-command.js';
import { registerPolicyCommand } from './policy-command.js';
import { registerSimulateCommand } from './simulate-command.js';
import { registerShimCommand } from './shim-command.js';
import { registerAdviseCommand } from './advise-command.js';

const program = new Command('kubemom')
  .description('Memory overcommitment for KubeVirt virtual machines')
  .version(KUBEMOM_VERSION)
  // Usage errors come back as exceptions (and exit 2), settings inherited by every subcommand.
  .exitOverride()
  .showHelpAfterError('(add --help for usage)')
  .addHelpText('after', '\nExit status: 0 ok, 1 the job ran and reports a problem, 2 bad usage or input.');

/** "kubemom policy check": the command a failure is reported under. */
let running = 'kubemom';
program.hook('preAction', (_root, action) => {
  const names: string[] = [];
  for (let c: Command | null = action; c; c = c.parent) names.unshift(c.name());
  running = names.join(' ');
});

registerDemoCommand(program);
registerSidecarCommand(program);
registerPolicyCommand(program);
registerSimulateCommand(program);
registerShimCommand(program);
registerAdviseCommand(program);

try {
  checkLogLevel();
  await program.parseAsync(process.argv);
} catch (err) {
  exitWithFailure(running, err);
}
