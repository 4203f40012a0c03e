/** policies/mom.yaml decides exactly as the TypeScript `mom` on the same replays. */
import { expect } from 'chai';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../../src/common/paths.js';
import { momPolicy } from '../../src/policy/mom/policy.js';
import { compilePolicy } from '../../src/policy/lang/policy-file.js';
import { yamlPolicy } from '../../src/policy/lang/yaml-policy.js';
import { parseReplay, runReplay } from '../../src/policy/replay.js';
import { replayDoc } from './replay-gen.js';

const momYaml = compilePolicy('policies/mom.yaml', readFileSync(path.join(packageRoot, 'policies', 'mom.yaml'), 'utf8'));

function both(doc: unknown): { ts: unknown; yaml: unknown } {
  const replay = parseReplay(doc);
  return {
    ts: runReplay(replay, momPolicy(replay.parameters as never)),
    yaml: runReplay(replay, yamlPolicy(momYaml, replay.parameters)),
  };
}

describe('policies/mom.yaml', () => {
  it('compiles', () => {
    // Balloon (02), KSM (03), IO tune (05).
    expect(momYaml.blocks.map((b) => b.scope)).to.deep.equal(['VM', 'Host', 'VM']);
  });

  it('decides as the TypeScript mom on a pressure replay with feedback', () => {
    const steps: object[] = [{
      host: { mem_available: 25165824, mem_free: 4000000, mem_unused: 2000000, ksm_run: 0, ksm_pages_shared: 0, ksm_pages_to_scan: 100, ksm_sleep_millisecs: 10, ksm_merge_across_nodes: 1, ksm_shareable: 30000000 },
      guests: {
        a: { balloon_cur: 8388608, balloon_max: 8388608, balloon_min: 2097152, mem_unused: 6000000 },
        b: { balloon_cur: 4194304, balloon_max: 4194304, balloon_min: 4194304, mem_unused: 100000 },
        starting: { balloon_cur: null, balloon_max: null, balloon_min: null, mem_unused: null },
      },
    }];
    for (let i = 0; i < 30; i++) steps.push({ host: { mem_free: 4000000 + i * 20000 } });
    const doc = { parameters: { balloonEnabled: true }, feedback: true, steps };
    const { ts, yaml } = both(doc);
    expect(yaml).to.deep.equal(ts);
    // The replay really exercised shrinking guest a down step by step.
    const targets = (ts as Array<{ balloon: Record<string, number> }>).map((s) => s.balloon.a);
    expect(targets[0]).to.equal(Math.trunc(8388608 * 0.95));
    expect(targets[1]).to.equal(Math.trunc(Math.trunc(8388608 * 0.95) * 0.95));
  });

  it('decides as the TypeScript mom on random replays (fast-check)', () => {
    fc.assert(
      fc.property(replayDoc, (doc) => {
        const { ts, yaml } = both(doc);
        expect(yaml).to.deep.equal(ts);
      }),
      { numRuns: 300 },
    );
  });
});
