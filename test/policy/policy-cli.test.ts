/** `kubemom policy replay|check|eval`, run as the real CLI process. */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { packageRoot } from '../../src/common/paths.js';

const MAIN = path.join(packageRoot, 'dist', 'src', 'cli', 'main.js');

function kubemom(args: string[], input?: string): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [MAIN, ...args], { cwd: packageRoot, input, encoding: 'utf8', env: { ...process.env, KUBEMOM_LOG_LEVEL: 'silent' } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('kubemom policy (CLI)', () => {
  it('replay reads stdin and prints one JSON object per step', () => {
    const doc = { parameters: { balloonEnabled: 1, ksmEnabled: 0 }, host: { mem_available: 1000000, mem_free: 100000 }, guests: { vm: { balloon_cur: 100000, balloon_max: 200000, balloon_min: 10000, mem_unused: 50000 } } };
    const r = kubemom(['policy', 'replay', '--policy', 'mom', '-'], JSON.stringify(doc));
    expect(r.code).to.equal(0);
    expect(JSON.parse(r.out)).to.deep.equal([{ step: 0, ran: true, balloon: { vm: 95000 }, ksm: {} }]);
  });

  it('replay runs the same recording through mom, policies/mom.yaml and default', () => {
    const outs = ['mom', 'policies/mom.yaml', 'default'].map((p) => kubemom(['policy', 'replay', '--policy', p, 'examples/replay-pressure.json']));
    for (const r of outs) expect(r.code, r.err).to.equal(0);
    expect(JSON.parse(outs[1]!.out)).to.deep.equal(JSON.parse(outs[0]!.out));
    expect(JSON.parse(outs[2]!.out)).to.not.deep.equal(JSON.parse(outs[0]!.out));
  });

  it('replay rejects bad input with the field and exit 2', () => {
    const r = kubemom(['policy', 'replay', '--policy', 'mom', '-'], '{"steps": [{"host": {"mem_free": "lots"}}]}');
    expect(r.code).to.equal(2);
    expect(r.err).to.contain('steps[0].host.mem_free: is "lots"; accepted: a finite number or null');
    expect(kubemom(['policy', 'replay', '--policy', 'nope', '-'], '{"steps": []}').err).to.contain('--policy: is "nope"; accepted: default, mom, observe, static, autoballoon, or a policy file');
  });

  it('check passes valid files and lists every error of invalid ones as file:line:col, exit 1', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'kubemom-policy-cli-'));
    try {
      const bad = path.join(dir, 'bad.yaml');
      writeFileSync(bad, 'scope: VM\nrules:\n  - output: memory.balloon\n    target: guest.balloon *\n  - output: ksm.run\n    target: 1\n');
      const ok = kubemom(['policy', 'check', 'policies/mom.yaml', 'examples/lifecycle.yaml']);
      expect(ok.code).to.equal(0);
      expect(ok.out).to.contain('policies/mom.yaml: ok');
      const r = kubemom(['policy', 'check', 'policies/mom.yaml', bad]);
      expect(r.code).to.equal(1);
      expect(r.err.trim().split('\n')).to.deep.equal([
        `${bad}:4:28: rules[0].target: expression ends too early; expected a value`,
        `${bad}:5:13: rules[1].output: is "ksm.run"; accepted in scope VM: memory.balloon, io.total_bytes_sec, io.read_bytes_sec, io.write_bytes_sec, io.total_iops_sec, io.read_iops_sec, io.write_iops_sec`,
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('eval prints the decisions for a PolicyInput', () => {
    const r = kubemom(['policy', 'eval', '--policy', 'default', '--state', 'examples/policy-input.json']);
    expect(r.code, r.err).to.equal(0);
    const d = JSON.parse(r.out);
    expect(d.balloons.map((b: { guestId: string }) => b.guestId)).to.deep.equal(['prod/web', 'prod/db']);
    expect(d.ksm).to.deep.equal({ run: 1 });
    const p = kubemom(['policy', 'eval', '--policy', 'mom', '--param', 'balloonEnabled=true', '--state', '-'], '{"nowMs": 0, "host": {"history": [], "cpuCount": 1, "evictionHardBytes": 0}, "guests": []}');
    expect(JSON.parse(p.out)).to.deep.include({ notRun: 'host monitor is not ready (no sample)' });
  });
});
