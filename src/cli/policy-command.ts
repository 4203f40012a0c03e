/**
 * `kubemom policy`: offline tools for policy authors.
 *   replay --policy P FILE|-   replays a MOM-style recording through a policy (JSON out)
 *   check FILE...              validates policy files; all errors as file:line:col
 *   eval --policy P --state S  one evaluation of a PolicyInput (JSON) to decisions (JSON)
 */
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { InputError } from '../common/errors.js';
import { INPUT_LIMITS, parseJsonText, readInputText } from '../common/read-input.js';
import { parsePolicyInput } from '../policy/policy-input.js';
import { EXIT_PROBLEM } from './exit.js';
import { checkPolicy, PolicyFileErrors } from '../policy/lang/policy-file.js';
import { createPolicy, policyParameterNames, POLICY_NAMES, type PolicyParameters } from '../policy/registry.js';
import { parseReplay, runReplay } from '../policy/replay.js';
import { vmCpuTune } from '../policy/mom/cputune.js';

/** A policy file's text, for the registry: size-limited, errors naming the file. */
const readPolicyText = (file: string): string => readInputText(file, '--policy', INPUT_LIMITS.policyFile);

/** `--param name=value` (repeatable): true/false or a number. */
function collectParam(value: string, previous: PolicyParameters = {}): PolicyParameters {
  const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(value);
  if (!m) throw new InvalidArgumentError(`"${value}" is not name=value`);
  const v = m[2]!.trim();
  let parsed: boolean | number;
  if (v === 'true' || v === 'false') parsed = v === 'true';
  else if (v !== '' && Number.isFinite(Number(v))) parsed = Number(v);
  else throw new InvalidArgumentError(`${m[1]}: "${v}" is not accepted; give true, false or a number`);
  return { ...previous, [m[1]!]: parsed };
}

export function registerPolicyCommand(program: Command): void {
  const policy = program.command('policy').description('check, evaluate and replay memory policies offline');

  policy
    .command('replay')
    .description('replay a MOM-style recording (JSON: parameters, feedback, steps of host/guests in KiB) through a policy')
    .requiredOption('--policy <policy>', `${POLICY_NAMES.join(', ')}, or a policy file (.yaml)`)
    .option('--param <name=value>', 'override a policy parameter (repeatable)', collectParam)
    .option('--explain', 'add why a step did not run, skipped guests and decision reasons')
    .argument('<file>', 'the recording, or - for stdin')
    .action((file: string, opts: { policy: string; param?: PolicyParameters; explain?: boolean }) => {
        const source = file === '-' ? 'stdin' : file;
        const replay = parseReplay(parseJsonText(readInputText(file, source, INPUT_LIMITS.json), source));
        // A recording's parameters are MOM's flags: pass on those this policy knows.
        const known = new Set(policyParameterNames(opts.policy, readPolicyText));
        const fromFile = Object.fromEntries(Object.entries(replay.parameters).filter(([k]) => known.has(k)));
        const ignored = Object.keys(replay.parameters).filter((k) => !known.has(k));
        if (ignored.length) process.stderr.write(`note: policy ${opts.policy} has no parameter ${ignored.join(', ')}; ignored\n`);
        // A MOM recording replays MOM as vdsm ships it (ballooning off) unless it says otherwise.
        const asShipped: PolicyParameters = opts.policy === 'mom' ? { balloonEnabled: false } : {};
        const p = createPolicy(opts.policy, { ...asShipped, ...fromFile, ...(opts.param ?? {}) }, readPolicyText, '--policy');
        const results = runReplay(replay, p, { explain: opts.explain === true });
        process.stdout.write(`[\n${results.map((r) => `  ${JSON.stringify(r)}`).join(',\n')}\n]\n`);
      });

  policy
    .command('check')
    .description('validate policy files; exits non-zero listing every error as file:line:col')
    .argument('<files...>', 'policy files (.yaml)')
    .action((files: string[]) => {
        let bad = 0;
        for (const file of files) {
          let text: string;
          try {
            text = readInputText(file, file, INPUT_LIMITS.policyFile);
          } catch (err) {
            // A file that cannot be read is an error of the check, reported like the others.
            if (!(err instanceof InputError)) throw err;
            process.stderr.write(`${err.message}\n`);
            bad++;
            continue;
          }
          const errors = checkPolicy(file, text);
          for (const e of errors) process.stderr.write(`${e.file}:${e.line}:${e.col}: ${e.message}\n`);
          if (errors.length) bad++;
          else process.stdout.write(`${file}: ok\n`);
        }
        if (bad) process.exitCode = EXIT_PROBLEM;
      });

  policy
    .command('eval')
    .description('evaluate a policy once on a PolicyInput (JSON, bytes and ms) and print the decisions')
    .requiredOption('--policy <policy>', `${POLICY_NAMES.join(', ')}, or a policy file (.yaml)`)
    .requiredOption('--state <file>', 'the PolicyInput as JSON ({nowMs, host, guests}), or - for stdin')
    .option('--param <name=value>', 'override a policy parameter (repeatable)', collectParam)
    .action((opts: { policy: string; state: string; param?: PolicyParameters }) => {
        const source = opts.state === '-' ? 'stdin' : opts.state;
        const input = parsePolicyInput(parseJsonText(readInputText(opts.state, '--state', INPUT_LIMITS.json), source), source);
        const p = createPolicy(opts.policy, opts.param ?? {}, readPolicyText, '--policy');
        const { decisions } = p.evaluate(input, p.initialState());
        // MOM's CPU tune (04-cputune) for every guest whose vCPU count is known: what it would
        // set beside the pod CPU limit Kubernetes applies (reported, never written).
        const cpuTune = input.guests.filter((g) => typeof g.vcpus === 'number' && g.vcpus > 0).map((g) => vmCpuTune(g.id, g.vcpus!, g.cpuLimitMillicores, input.host.cpuCount));
        process.stdout.write(`${JSON.stringify(cpuTune.length > 0 ? { ...decisions, cpuTune } : decisions, null, 2)}\n`);
      });
}
