/**
 * `kubemom advise`: what KubeMom's default policy would reclaim in a cluster, from the
 * metrics KubeVirt already exports to Prometheus, before any VM opts in.
 */
import type { Command } from 'commander';
import { InputError } from '../common/errors.js';
import { adviseCommand, type AdviseOptions } from '../advise/advise.js';

export function registerAdviseCommand(program: Command): void {
  program
    .command('advise')
    .description("report what KubeMom's default policy would reclaim per node and VM, from KubeVirt's metrics in Prometheus")
    .requiredOption('--prometheus <url>', 'Prometheus (or Thanos querier) base URL')
    .option('--since <duration>', 'the window to read, ending at --until (Prometheus duration: 7d, 12h, ...)', '7d')
    .option('--until <time>', 'end of the window: RFC 3339 or Unix seconds (default: now)')
    .option('--step <duration>', 'resolution of the window (default: about 2,000 points, at least 1m)')
    .option('--bearer-token-file <file>', 'send the token in this file as a bearer token (in a pod: /var/run/secrets/kubernetes.io/serviceaccount/token)')
    .option('--node-label <label>', "node_exporter's label holding the node name", 'instance')
    .option('--eviction-hard <quantity>', "the kubelet's evictionHard memory.available", '100Mi')
    .option('--timeout <duration>', 'deadline of each query', '60s')
    .option('--json', 'print the report as JSON')
    .option('--plot <file>', 'write a plot (.svg or .png): memory in use per node, with and without what KubeMom would reclaim')
    // A missing or unknown flag is bad usage too: exit 2, as for every other input error.
    .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2))
    .addHelpText('after', '\nExit status: 0 report written; 2 bad usage or input (a flag, an unreachable Prometheus, a missing series), one line on stderr.')
    .action(async (opts: AdviseOptions) => {
      try {
        process.exitCode = await adviseCommand(opts, (s) => process.stdout.write(s));
      } catch (err) {
        if (err instanceof InputError) {
          process.stderr.write(`kubemom advise: ${err.message}\n`);
          process.exitCode = 2;
          return;
        }
        throw err;
      }
    });
}
