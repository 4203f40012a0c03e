/** The declarative policy language: expressions, rule semantics, and errors with line:col. */
import { expect } from 'chai';
import { parseExpr, ExprSyntaxError } from '../../src/policy/lang/expr-parse.js';
import { checkExpr } from '../../src/policy/lang/expr-check.js';
import { evaluateExpr, MissingValue } from '../../src/policy/lang/expr-eval.js';
import { checkPolicy, compilePolicy } from '../../src/policy/lang/policy-file.js';
import { yamlPolicy } from '../../src/policy/lang/yaml-policy.js';
import type { GuestState, Phase, PolicyInput } from '../../src/policy/types.js';

const GiB = 2 ** 30;
const MiB = 2 ** 20;

function ev(text: string, names: Record<string, number | boolean | string> = {}): unknown {
  const e = parseExpr(text);
  checkExpr(e, (n) => (n in names ? (typeof names[n] === 'number' ? 'number' : typeof names[n] === 'boolean' ? 'bool' : 'phase') : undefined));
  return evaluateExpr(e, (n) => {
    if (!(n in names)) throw new MissingValue(n);
    return names[n]!;
  });
}

describe('policy language: expressions', () => {
  const cases: Array<[string, unknown]> = [
    ['1 + 2 * 3', 7],
    ['(1 + 2) * 3', 9],
    ['-2 - -3', 1],
    ['10 / 4', 2.5],
    ['2Gi', 2 * GiB],
    ['512Mi + 1Ki', 512 * MiB + 1024],
    ['20%', 0.2],
    ['500ms + 2min', 120.5],
    ['min(3, 1, 2) + max(4, 5) + abs(-1)', 7],
    ['clamp(5, 1, 3)', 3],
    ['trunc(-2.7) + floor(2.7) + ceil(2.1)', 3],
    ['if(1 < 2, 10, 20)', 10],
    ['1 < 2 and 2 <= 2 and 3 > 2 and 3 >= 3 and 1 == 1 and 1 != 2', true],
    ['not true or false', false],
    ["guest.phase == 'migrating'", true],
    ['x * 2', 8],
  ];
  for (const [text, want] of cases) {
    it(`${text} = ${String(want)}`, () => expect(ev(text, { x: 4, 'guest.phase': 'migrating' })).to.equal(want));
  }

  it('short-circuits and/or, so a missing value on the untaken side does not matter', () => {
    const run = (text: string): unknown => evaluateExpr(parseExpr(text), (n) => { throw new MissingValue(n); });
    expect(run('false and missing > 1')).to.equal(false);
    expect(run('true or missing > 1')).to.equal(true);
    expect(() => run('true and missing > 1')).to.throw(MissingValue);
    expect(() => ev('1 / 0')).to.throw(MissingValue);
  });

  const errors: Array<[string, number, RegExp]> = [
    ['1 +', 3, /ends too early/],
    ['1 = 2', 2, /did you mean '=='/],
    ['a && b', 2, /did you mean 'and'/],
    ['1 < 2 < 3', 6, /do not chain/],
    ['foo(1)', 0, /unknown function "foo"/],
    ['max()', 0, /takes 1 or more arguments/],
    ['1 + true', 4, /right side of "\+".* must be a number, not a bool/],
    ['not 1', 4, /operand of "not" must be a bool/],
    ["guest.phase == 'booting'", 15, /"booting" is not a phase; accepted: starting, running/],
    ['3 GB', 2, /expected a value|unexpected/],
    ['3XB', 1, /unknown unit "XB"/],
    ['nope + 1', 0, /unknown name "nope"/],
    ['(1 + 2', 6, /expected "\)"/],
  ];
  for (const [text, offset, message] of errors) {
    it(`rejects ${text} at offset ${offset}`, () => {
      try {
        const e = parseExpr(text);
        checkExpr(e, (n) => (n === 'guest.phase' ? 'phase' : undefined));
        expect.fail('no error');
      } catch (err) {
        expect(err).to.be.instanceOf(ExprSyntaxError);
        expect((err as ExprSyntaxError).message).to.match(message);
        expect((err as ExprSyntaxError).offset).to.equal(offset);
      }
    });
  }
});

describe('policy language: files and errors with line:col', () => {
  it('reports every error with file, line, column and what is accepted', () => {
    const text = [
      'policy: broken',               // 1
      'parameters:',                  // 2
      '  level: high',                // 3
      '---',                          // 4
      'scope: Guest',                 // 5
      '---',                          // 6
      'scope: VM',                    // 7
      'vars:',                        // 8
      '  a: b + 1',                   // 9
      '  b: a * 2',                   // 10
      '  c: guest.balloon * +',       // 11
      'rules:',                       // 12
      '  - output: memory.size',      // 13
      '    target: 1Gi',              // 14
      '  - output: memory.balloon',   // 15
      '    target: "guest.baloon"',   // 16
      '    when: guest.memory',       // 17
      '    function: quadratic',      // 18
      '    colour: red',              // 19
      '',
    ].join('\n');
    const errors = checkPolicy('p.yaml', text).map((e) => `${e.line}:${e.col}: ${e.message}`);
    const expectMatch = (re: RegExp): void => {
      expect(errors.some((e) => re.test(e)), `${re} in\n${errors.join('\n')}`).to.equal(true);
    };
    expectMatch(/^3:10: parameter "level" needs a default: true, false or a number/);
    expectMatch(/^5:8: scope: is "Guest"; accepted: Host, VM/);
    expectMatch(/^9:3: "a" depends on itself: a -> b -> a/);
    expectMatch(/^11:22: vars.c: expected a value but found "\+"/);
    expectMatch(/^13:13: rules\[0\]\.output: is "memory.size"; accepted in scope VM: memory.balloon/);
    expectMatch(/^16:14: rules\[1\]\.target: unknown name "guest.baloon"; accepted in this scope: host.mem_total/);
    expectMatch(/^17:11: rules\[1\]\.when: must be a bool expression, but "guest.memory" is a number/);
    expectMatch(/^18:15: rules\[1\]\.function: is "quadratic"; accepted: constant, linear, exponential/);
    expectMatch(/^19:5: rules\[1\]: unknown key "colour"; accepted: name, output, target/);
  });

  it('refuses deep nesting and huge files instead of exhausting the stack', () => {
    expect(() => parseExpr('('.repeat(4000) + '1' + ')'.repeat(4000))).to.throw(ExprSyntaxError, /nests deeper than 64 levels/);
    expect(() => parseExpr('not '.repeat(1000) + 'true')).to.throw(ExprSyntaxError, /nests deeper/);
    expect(() => parseExpr('-'.repeat(3000) + '1')).to.throw(ExprSyntaxError, /nests deeper/);
    expect(checkPolicy('big.yaml', '#'.repeat(2 * 1024 * 1024))[0]!.message).to.match(/at most 1048576 are accepted/);
  });

  it('reports YAML syntax errors with their position', () => {
    const errors = checkPolicy('s.yaml', 'scope: VM\nrules:\n  - output: [memory.balloon\n');
    expect(errors).to.have.length.greaterThan(0);
    expect(errors[0]!.file).to.equal('s.yaml');
    expect(errors[0]!.line).to.be.greaterThan(2);
  });

  it('rejects host-only names in the Host scope', () => {
    const errors = checkPolicy('h.yaml', 'scope: Host\nrules:\n  - output: ksm.run\n    target: guest.balloon\n');
    expect(errors.map((e) => `${e.line}:${e.col}`)).to.deep.equal(['4:13']);
    expect(errors[0]!.message).to.match(/unknown name "guest.balloon"/);
  });
});

/** A one-guest input: balloon `cur` of `memory`, guaranteed 1 GiB, free `free`. */
function input(opts: { nowMs?: number; cur?: number; free?: number; phase?: Phase; phaseSinceMs?: number; memory?: number; ksm?: Record<string, number> } = {}): PolicyInput {
  const nowMs = opts.nowMs ?? 1_000_000;
  const cur = opts.cur ?? 8 * GiB;
  const guest: GuestState = {
    id: 'ns/vm', namespace: 'ns', name: 'vm', uid: 'u', guestMemoryBytes: opts.memory ?? 8 * GiB, guaranteedMemoryBytes: 1 * GiB,
    marginBytes: 0, priority: 50, policy: 'p', phase: opts.phase ?? 'running', phaseSinceMs: opts.phaseSinceMs ?? 0, balloonActualBytes: cur,
    history: [{ atMs: nowMs - 60_000, freeBytes: opts.free ?? 4 * GiB, balloonActualBytes: cur }, { atMs: nowMs, freeBytes: opts.free ?? 4 * GiB, balloonActualBytes: cur }],
  };
  const host = { atMs: nowMs, memTotalBytes: 64 * GiB, memFreeBytes: 1 * GiB, memAvailableBytes: 2 * GiB, buffersBytes: 0, cachedBytes: 1 * GiB, anonPagesBytes: 0, swapTotalBytes: 0, swapFreeBytes: 0 };
  return { nowMs, host: { history: [host], cpuCount: 4, evictionHardBytes: 100 * MiB, ...(opts.ksm ? { ksm: opts.ksm } : {}) }, guests: [guest] };
}

function decide(yaml: string, inp: PolicyInput, params: Record<string, number | boolean> = {}): { target?: number; reason?: string; ksm: object } {
  const p = yamlPolicy(compilePolicy('t.yaml', yaml), params);
  const { decisions } = p.evaluate(inp, p.initialState());
  const b = decisions.balloons[0];
  return { ...(b ? { target: b.targetBytes, reason: b.reason } : {}), ksm: decisions.ksm };
}

const VM = (rule: string): string => `scope: VM\nrules:\n  - name: r\n    output: memory.balloon\n${rule}`;

describe('policy language: rule semantics', () => {
  it('constant jumps to the clamped target (min: the max of the mins, max: the min of the maxes)', () => {
    expect(decide(VM('    target: 2Gi\n'), input()).target).to.equal(2 * GiB);
    expect(decide(VM('    target: 2Gi\n    min: [3Gi, 4Gi]\n'), input()).target).to.equal(4 * GiB);
    expect(decide(VM('    target: 7Gi\n    max: [6Gi, 5Gi]\n'), input()).target).to.equal(5 * GiB);
  });

  it('never goes under the guaranteed memory nor over the guest memory', () => {
    expect(decide(VM('    target: 0\n'), input()).target).to.equal(1 * GiB);
    expect(decide(VM('    target: 100Gi\n'), input({ cur: 4 * GiB })).target).to.equal(8 * GiB);
  });

  it('linear moves `change` per `time`; exponential covers `factor` of the distance per `time`', () => {
    // 10 s elapsed on the first cycle (interval): 100Mi per 5 s -> 200Mi.
    expect(decide(VM('    target: 2Gi\n    function: linear\n    change: 100Mi\n    time: 5s\n'), input()).target).to.equal(8 * GiB - 200 * MiB);
    // half the distance per 10 s: 8Gi -> 6Gi toward 4Gi.
    expect(decide(VM('    target: 4Gi\n    function: exponential\n    factor: 0.5\n    time: 10s\n'), input()).target).to.equal(6 * GiB);
  });

  it('hysteresis: no change under min_absolute_change or min_relative_change', () => {
    expect(decide(VM('    target: 8Gi - 50Mi\n    min_absolute_change: 64Mi\n'), input()).target).to.equal(undefined);
    expect(decide(VM('    target: 8Gi - 80Mi\n    min_absolute_change: 64Mi\n'), input()).target).to.equal(8 * GiB - 80 * MiB);
    expect(decide(VM('    target: 8Gi - 80Mi\n    min_relative_change: 1%\n'), input()).target).to.equal(undefined);
  });

  it('rate limits: max_absolute_change and max_relative_change per `per`', () => {
    expect(decide(VM('    target: 2Gi\n    max_absolute_change: 10Mi\n    per: 1s\n'), input()).target).to.equal(8 * GiB - 100 * MiB);
    expect(decide(VM('    target: 2Gi\n    max_relative_change: 5%\n    per: 10s\n'), input()).target).to.equal(Math.trunc((8 * GiB - 0.05 * 8 * GiB) / 1024) * 1024);
  });

  it('blends rules writing one output by influence', () => {
    const yaml = 'scope: VM\nrules:\n  - name: a\n    output: memory.balloon\n    target: 2Gi\n    influence: 3\n  - name: b\n    output: memory.balloon\n    target: 6Gi\n';
    expect(decide(yaml, input())).to.deep.include({ target: 3 * GiB, reason: 'a+b' });
  });

  it('when / when_any / when_all, named conditions and parameters', () => {
    const yaml = [
      'parameters:', '  enabled: true', '---', 'scope: VM',
      'conditions:', '  roomy: {any: ["guest.free > 10Gi", "guest.free_avg > 3Gi"]}',
      'rules:', '  - output: memory.balloon', '    when_all: [enabled, roomy]', '    when_any: ["guest.phase == \'running\'"]', '    target: guest.balloon - guest.free / 2', '',
    ].join('\n');
    expect(decide(yaml, input()).target).to.equal(6 * GiB);
    expect(decide(yaml, input(), { enabled: false }).target).to.equal(undefined);
    expect(decide(yaml, input({ free: 2 * GiB })).target).to.equal(undefined);
    expect(() => decide(yaml, input(), { nope: 1 })).to.throw(/parameters.nope: is not a parameter of policy t.yaml; accepted: enabled/);
  });

  it('lifecycle: no inflation while starting or within the grace period, hold while migrating', () => {
    const rule = VM('    target: 2Gi\n');
    expect(decide(rule, input({ phase: 'starting' })).target).to.equal(undefined);
    expect(decide(rule, input({ phase: 'migrating' })).target).to.equal(undefined);
    // Running for only 10 s (grace 60 s).
    expect(decide(rule, input({ phaseSinceMs: 1_000_000 - 10_000 })).target).to.equal(undefined);
    expect(decide(rule, input()).target).to.equal(2 * GiB);
    // Deflating (giving memory) is allowed while starting; migrating holds everything.
    const grow = VM('    target: 8Gi\n');
    expect(decide(grow, input({ phase: 'starting', cur: 4 * GiB })).target).to.equal(8 * GiB);
    expect(decide(grow, input({ phase: 'migrating', cur: 4 * GiB })).target).to.equal(undefined);
    // Lifecycle rules off: a phase rule of the policy's own decides.
    const own = 'lifecycle:\n  enabled: false\n---\n' + VM("    when: guest.phase == 'migrating'\n    target: 3Gi\n");
    expect(decide(own, input({ phase: 'migrating' })).target).to.equal(3 * GiB);
  });

  it('a rule that reads a missing value is skipped, the others still run', () => {
    const yaml = 'scope: VM\nrules:\n  - output: memory.balloon\n    target: host.psi_some_avg10 * 1Gi\n  - output: memory.balloon\n    target: 5Gi\n';
    expect(decide(yaml, input()).target).to.equal(5 * GiB);
  });

  it('Host scope writes only KSM values that differ from the live ones', () => {
    const yaml = 'scope: Host\nrules:\n  - output: ksm.run\n    target: 1\n  - output: ksm.pages_to_scan\n    target: host.ksm_pages_to_scan + 100.7\n  - output: ksm.sleep_millisecs\n    target: 20\n';
    expect(decide(yaml, input({ ksm: { run: 0, pages_to_scan: 100, sleep_millisecs: 20 } })).ksm).to.deep.equal({ run: 1, pages_to_scan: 200 });
  });
});
