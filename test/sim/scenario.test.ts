import { expect } from 'chai';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { InputError } from '../../src/common/errors.js';
import { packageRoot } from '../../src/common/paths.js';
import { expandGuests, parseScenario, scenarioFromObject } from '../../src/sim/scenario.js';
import { resolveSimPolicy } from '../../src/sim/policies.js';
import { simulate } from '../../src/sim/simulator.js';

const base = () => ({
  name: 't',
  durationSeconds: 60,
  node: { memory: '8Gi' },
  guests: [{ name: 'vm', memory: '2Gi', workload: { model: 'idle' } }] as Record<string, unknown>[],
});

function errorOf(doc: unknown): InputError {
  try {
    scenarioFromObject(doc);
  } catch (err) {
    if (err instanceof InputError) return err;
    throw err;
  }
  throw new Error('no error');
}

describe('scenario files', () => {
  it('ships scenarios that all validate', () => {
    const dir = path.join(packageRoot, 'scenarios');
    const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));
    expect(files.length).to.be.at.least(5);
    for (const f of files) expect(() => parseScenario(readFileSync(path.join(dir, f), 'utf8'), f), f).to.not.throw();
  });

  it('fills defaults', () => {
    const s = scenarioFromObject(base());
    expect(s.seed).to.equal(1);
    expect(s.tickMs).to.equal(100);
    expect(s.node.evictionHardBytes).to.equal(100 * 2 ** 20);
    expect(s.groups[0]).to.deep.include({ count: 1, priority: 50, guaranteedBytes: 2 ** 29, marginBytes: 64 * 2 ** 20, autodeflate: true });
  });

  const cases: [string, (d: ReturnType<typeof base>) => void, string, RegExp][] = [
    ['a missing node memory', (d) => delete (d.node as Record<string, unknown>).memory, 'node.memory', /Kubernetes quantity/],
    ['a bad quantity', (d) => (d.node.memory = '8GB'), 'node.memory', /"8GB".*Kubernetes quantity/],
    ['an unknown top-level field', (d) => Object.assign(d, { duration: 5 }), 'duration', /accepted: name, description, durationSeconds/],
    ['an unknown workload model', (d) => (d.guests[0]!.workload = { model: 'spiky' }), 'guests[0].workload.model', /accepted: idle, steady, diurnal, bursty, leak, boot-storm, page-cache, periodic, script/],
    ['a script without points', (d) => (d.guests[0]!.workload = { model: 'script', points: [] }), 'guests[0].workload.points', /at least one/],
    ['a script point going back in time', (d) => (d.guests[0]!.workload = { model: 'script', points: [[5, 0.1, 0], [4, 0.1, 0]] }), 'guests[0].workload.points[1][0]', /not before the previous point's \(5\)/],
    ['a script point that is not three numbers', (d) => (d.guests[0]!.workload = { model: 'script', points: [[5, 0.1]] }), 'guests[0].workload.points[0]', /three numbers/],
    ['a script need over 1', (d) => (d.guests[0]!.workload = { model: 'script', points: [[5, 1.5, 0]] }), 'guests[0].workload.points[0][1]', /fraction of the guest memory/],
    ['a parameter of another model', (d) => (d.guests[0]!.workload = { model: 'idle', peak: 0.5 }), 'guests[0].workload.peak', /accepted: model, level, cache, noise/],
    ['a fraction over 1', (d) => (d.guests[0]!.workload = { model: 'steady', level: 1.5 }), 'guests[0].workload.level', /fraction of the guest memory from 0 to 1/],
    ['a priority out of range', (d) => (d.guests[0]!.priority = 101), 'guests[0].priority', /whole number from 0 to 100/],
    ['guaranteed above memory', (d) => (d.guests[0]!.guaranteed = '3Gi'), 'guests[0].guaranteed', /at most the guest memory/],
    ['a duplicate group name', (d) => d.guests.push({ ...d.guests[0]! }), 'guests[1].name', /unique/],
    ['no guests', (d) => (d.guests = []), 'guests', /at least one guest group/],
    ['a bad count', (d) => (d.guests[0]!.count = 2.5), 'guests[0].count', /whole number/],
    ['a bad overhead', (d) => (d.guests[0]!.overhead = 'lots'), 'guests[0].overhead', /Kubernetes quantity/],
    ['a missing duration', (d) => delete (d as Record<string, unknown>).durationSeconds, 'durationSeconds', /seconds from 1/],
    ['a reserve under the eviction threshold', (d) => Object.assign(d.node, { reserve: '10Mi' }), 'node.reserve', /at least node.evictionHard/],
  ];
  for (const [what, mutate, field, problem] of cases) {
    it(`refuses ${what}, naming ${field}`, () => {
      const d = base();
      mutate(d);
      const err = errorOf(d);
      expect(err.field).to.equal(field);
      expect(err.problem).to.match(problem);
    });
  }

  it('names the line of a YAML syntax error', () => {
    expect(() => parseScenario('name: x\nnode: [1,\n', 'bad.yaml')).to.throw(InputError, /^bad\.yaml:\d+:\d+: is not valid YAML/);
  });

  it('grows a scenario by interleaving its groups in proportion', () => {
    const d = base();
    d.guests = [
      { name: 'a', count: 2, memory: '1Gi', workload: { model: 'idle' } },
      { name: 'b', count: 1, memory: '1Gi', workload: { model: 'idle' } },
    ];
    const s = scenarioFromObject(d);
    expect(expandGuests(s).map((g) => g.name)).to.deep.equal(['a-0', 'b-0', 'a-1']);
    expect(expandGuests(s, 6).map((g) => g.name)).to.deep.equal(['a-0', 'b-0', 'a-1', 'a-2', 'b-1', 'a-3']);
  });

  it("a group's overhead replaces the node's vmOverhead for its pods", () => {
    const d = base();
    d.guests = [{ name: 'pod', memory: '1Gi', guaranteed: '1Gi', overhead: '16Mi', workload: { model: 'steady', level: 0.5, noise: 0 } }];
    const own = scenarioFromObject(d);
    expect(expandGuests(own)[0]!.overheadBytes).to.equal(16 * 2 ** 20);
    delete d.guests[0]!.overhead;
    const vm = scenarioFromObject(d);
    const avail = (s: typeof own): number => simulate(s, resolveSimPolicy('static'), { timeline: false }).node.minAvailableBytes;
    expect(avail(own) - avail(vm)).to.equal(vm.node.vmOverheadBytes - 16 * 2 ** 20);
  });
});
