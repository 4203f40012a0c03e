#!/usr/bin/env node
/** The `kubemom` command: every KubeMom process and tool is a subcommand. */
import { Command } from 'commander';
import { KUBEMOM_VERSION } from '../common/version.js';
import { registerSidecarCommand } from './sidecar-command.js';
import { registerDemoCommand } from './demo-command.js';
import { registerPolicyCommand } from './policy-command.js';
import { registerSimulateCommand } from './simulate-command.js';
import { registerShimCommand } from './shim-command.js';
import { registerAdviseCommand } from './advise-command.js';

const program = new Command('kubemom')
  .description('Memory overcommitment for KubeVirt virtual machines')
  .version(KUBEMOM_VERSION);

registerDemoCommand(program);
registerSidecarCommand(program);
registerPolicyCommand(program);
registerSimulateCommand(program);
registerShimCommand(program);
registerAdviseCommand(program);

await program.parseAsync(process.argv);
