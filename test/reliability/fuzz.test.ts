/**
 * Fuzzing with fast-check against the real parts: OnDefineDomain over the real sidecar
 * process's gRPC socket, the policy language parser and compiler, the QMP client against
 * a hostile FakeQmpServer, and the Prometheus text parser against hostile scrapes.
 *
 * Existing narrower properties are not repeated here: domain rewrite idempotence on
 * well-formed domains (test/hook-sidecar/domain-rewrite.test.ts), QMP framing and decoding
 * (test/qmp/framing.test.ts, protocol.test.ts), prom-text on random strings and single
 * insertions (test/shim/host.test.ts).
 */
import { expect } from 'chai';
import * as grpc from '@grpc/grpc-js';
import fc from 'fast-check';
import { pino } from 'pino';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { HOOK_PROTOS, serviceClient } from '../../src/common/protos.js';
import { parseDomain } from '../../src/hook-sidecar/domain-rewrite.js';
import { parseExpr, ExprSyntaxError } from '../../src/policy/lang/expr-parse.js';
import { compilePolicy, PolicyFileErrors } from '../../src/policy/lang/policy-file.js';
import { packageRoot } from '../../src/common/paths.js';
import { QmpClient } from '../../src/qmp/client.js';
import { QmpClientError, QmpError } from '../../src/qmp/errors.js';
import { InputError } from '../../src/common/errors.js';
import { parsePromText, PromTextError } from '../../src/shim/host/prom-text.js';
import { FakeQmpServer, GREETING, type FakeConnection, type FakeCommand } from '../qmp/fake-qmp-server.js';
import { fixtureDomainXml, fixtureVmiJson } from '../support/fixtures.js';
import { startSidecarProcess, type SidecarProcess } from '../support/sidecar-process.js';

type Reply = { code: number; details: string; xml?: Buffer };

function defineClient(socketPath: string): grpc.Client {
  const Client = serviceClient(HOOK_PROTOS.v1alpha3.file, HOOK_PROTOS.v1alpha3.service);
  return new Client(`unix://${socketPath}`, grpc.credentials.createInsecure(), { 'grpc.max_send_message_length': 16 * 2 ** 20 });
}

function callDefine(client: grpc.Client, domainXML: Buffer, vmi: Buffer): Promise<Reply> {
  return new Promise((resolve) => {
    (client as any).OnDefineDomain({ domainXML, vmi }, { deadline: Date.now() + 10_000 }, (error: grpc.ServiceError | null, res: { domainXML: Buffer }) => {
      if (error) resolve({ code: error.code, details: error.details });
      else resolve({ code: 0, details: '', xml: res.domainXML });
    });
  });
}

// --- generators for domain XML ---------------------------------------------------------

const xmlName = fc.stringMatching(/^[a-zA-Z_][a-zA-Z0-9_.:-]{0,8}$/);
const hostileText = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.constantFrom('&amp;', '&lt;', '&xxe;', '&#0;', '&#x110000;', ']]>', '<![CDATA[x]]>', '<!-- c -->', '<?pi x?>', '\u0000', '\uFFFE', '\uD800', '"', "'"),
);
/** Random (mostly well-formed) elements to splice into a real domain. */
const element: fc.Arbitrary<string> = fc.letrec((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    hostileText,
    fc
      .tuple(xmlName, fc.array(fc.tuple(xmlName, hostileText), { maxLength: 3 }), fc.array(tie('node'), { maxLength: 3 }))
      .map(([tag, attrs, kids]) => `<${tag}${attrs.map(([k, v]) => ` ${k}="${v.replace(/"/g, '&quot;')}"`).join('')}>${kids.join('')}</${tag}>`),
  ),
})).node as fc.Arbitrary<string>;

/** Edits of the real KubeVirt fixture: insert, delete, replace a slice, or splice an element. */
const mutatedDomain = fc
  .tuple(fc.nat(fixtureDomainXml.length), fc.nat(200), fc.oneof(hostileText, element), fc.constantFrom('insert', 'delete', 'replace'))
  .map(([at, len, text, op]) => {
    const before = fixtureDomainXml.slice(0, at);
    if (op === 'insert') return before + text + fixtureDomainXml.slice(at);
    if (op === 'delete') return before + fixtureDomainXml.slice(at + len);
    return before + text + fixtureDomainXml.slice(at + len);
  });
/** A device spliced into <devices>: well-formed, so rewriting should mostly succeed. */
const domainWithDevice = element.map((e) => fixtureDomainXml.replace('</devices>', `${e}</devices>`));
const domainArb = fc.oneof(mutatedDomain, domainWithDevice, element, fc.constant(''), fc.string({ maxLength: 200 }));

// --- generators for VMI JSON ------------------------------------------------------------

const fixtureVmi = JSON.parse(fixtureVmiJson) as Record<string, any>;
const annotationKeys = [
  'kubemom.io/guaranteed-memory',
  'kubemom.io/priority',
  'kubemom.io/stats-period',
  'kubemom.io/autodeflate',
  'kubemom.io/free-page-reporting',
  'kubemom.io/policy',
  'kubemom.io/memory-margin',
  'kubemom.io/unknown',
];
const annotationValue = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.constantFrom('1Gi', '0', '-1', '1e400', 'NaN', 'Infinity', '100', '101', 'true', 'false', '5s', '../../etc/passwd', '9999999999999999999Ei', ''),
);
const vmiPaths: string[][] = [
  ['metadata', 'uid'],
  ['metadata', 'name'],
  ['metadata', 'namespace'],
  ['kind'],
  ['spec', 'domain', 'resources', 'requests', 'memory'],
  ['spec', 'domain', 'memory', 'guest'],
  ['spec', 'domain', 'memory', 'hugepages'],
  ['spec', 'domain'],
  ['metadata', 'annotations'],
];
const jsonValue = fc.oneof(fc.json({ maxDepth: 2 }).map((j) => JSON.parse(j) as unknown), annotationValue, fc.constant(null));
const mutatedVmi = fc
  .tuple(
    fc.dictionary(fc.constantFrom(...annotationKeys), annotationValue, { maxKeys: 4 }),
    fc.array(fc.tuple(fc.constantFrom(...vmiPaths), jsonValue), { maxLength: 2 }),
  )
  .map(([notes, edits]) => {
    const vmi = structuredClone(fixtureVmi);
    Object.assign(vmi.metadata.annotations, notes);
    for (const [p, value] of edits) {
      let node: any = vmi;
      for (const key of p.slice(0, -1)) {
        if (typeof node[key] !== 'object' || node[key] === null) node[key] = {};
        node = node[key];
      }
      node[p[p.length - 1]!] = value;
    }
    return JSON.stringify(vmi);
  });
const vmiArb = fc.oneof({ weight: 6, arbitrary: mutatedVmi }, { weight: 1, arbitrary: fc.json() }, { weight: 1, arbitrary: fc.string({ maxLength: 50 }) });

describe('reliability: fuzzing', function () {
  this.timeout(180_000);

  describe('OnDefineDomain over the real sidecar gRPC socket', () => {
    let root: string;
    let sidecar: SidecarProcess;
    let client: grpc.Client;

    before(async () => {
      root = mkdtempSync(path.join(os.tmpdir(), 'km-fuzz-'));
      sidecar = await startSidecarProcess(path.join(root, 'hook-sidecar-0'), { CONTAINER_NAME: 'hook-sidecar-0' });
      client = defineClient(sidecar.socketPath);
    });
    after(async () => {
      client?.close();
      if (sidecar && sidecar.child.exitCode === null && sidecar.child.signalCode === null) {
        sidecar.child.kill('SIGKILL');
        await sidecar.exited;
      }
      rmSync(root, { recursive: true, force: true });
    });

    /** What every answer must be: a well-formed, idempotent domain, or a field error; never empty, never a crash. */
    async function checkAnswer(xml: string, vmi: string, tally: Map<number, number>): Promise<void> {
      const reply = await callDefine(client, Buffer.from(xml), Buffer.from(vmi));
      tally.set(reply.code, (tally.get(reply.code) ?? 0) + 1);
      expect([grpc.status.OK, grpc.status.INVALID_ARGUMENT, grpc.status.RESOURCE_EXHAUSTED], `${reply.code} ${reply.details}`).to.include(reply.code);
      if (reply.code !== grpc.status.OK) {
        // A precise error names the field (domainXML, vmi, vmi.<path>, an annotation, ...).
        // (An annotation key may itself hold a colon, so the field is not "everything up to the first colon".)
        expect(reply.details).to.match(/^(domainXML|vmi|QMP socket path|domain)\b.*?: /s);
        return;
      }
      const out = reply.xml!.toString('utf8');
      expect(out.length, 'never an empty reply').to.be.greaterThan(0);
      // The sidecar returns its input untouched only on its own internal failure: never expected here.
      expect(out, 'an internal failure passed the input through').to.not.equal(xml);
      expect(() => parseDomain(out), 'output re-parses').to.not.throw();
      expect(out).to.not.match(/<!DOCTYPE|<!ENTITY/i);
      const again = await callDefine(client, Buffer.from(out), Buffer.from(vmi));
      expect(again.code, again.details).to.equal(grpc.status.OK);
      expect(again.xml!.toString('utf8'), 'idempotent').to.equal(out);
    }

    it('answers generated domains and VMIs with a valid idempotent domain or INVALID_ARGUMENT/RESOURCE_EXHAUSTED, and keeps serving', async () => {
      const tally = new Map<number, number>();
      await fc.assert(
        fc.asyncProperty(domainArb, vmiArb, (xml, vmi) => checkAnswer(xml, vmi, tally)),
        { numRuns: 400 },
      );
      // Valid domains with hostile VMIs, and valid VMIs with hostile domains.
      await fc.assert(fc.asyncProperty(vmiArb, (vmi) => checkAnswer(fixtureDomainXml, vmi, tally)), { numRuns: 200 });
      await fc.assert(fc.asyncProperty(domainWithDevice, (xml) => checkAnswer(xml, fixtureVmiJson, tally)), { numRuns: 200 });
      // Both outcomes were exercised (a generator that only ever produced errors would prove little).
      expect(tally.get(grpc.status.OK) ?? 0, JSON.stringify([...tally])).to.be.greaterThan(50);
      expect(tally.get(grpc.status.INVALID_ARGUMENT) ?? 0).to.be.greaterThan(50);
      expect(sidecar.child.exitCode, 'the sidecar process is alive').to.equal(null);
      expect(sidecar.stderr(), 'no internal failure was logged').to.not.match(/failed internally/);
    });

    it('answers raw random bytes (invalid UTF-8 too) without crashing', async () => {
      const tally = new Map<number, number>();
      await fc.assert(
        fc.asyncProperty(fc.uint8Array({ maxLength: 400 }), fc.uint8Array({ maxLength: 200 }), async (xml, vmi) => {
          const reply = await callDefine(client, Buffer.from(xml), Buffer.from(vmi));
          tally.set(reply.code, (tally.get(reply.code) ?? 0) + 1);
          expect([grpc.status.INVALID_ARGUMENT, grpc.status.RESOURCE_EXHAUSTED], reply.details).to.include(reply.code);
        }),
        { numRuns: 200 },
      );
      expect(sidecar.child.exitCode).to.equal(null);
    });
  });

  describe('policy language', () => {
    const goodPolicy = readFileSync(path.join(packageRoot, 'policies', 'mom.yaml'), 'utf8');
    const exprToken = fc.constantFrom(
      'guest.balloon', 'host.mem_total', 'min(', 'max(', 'if(', ')', ',', '+', '-', '*', '/', '%', '**', '<', '<=', '==', '!=', 'and', 'or', 'not',
      '(', '1', '0.5', '1e309', '-0', '1Gi', '"s"', 'x', 'true', 'false', '.', '..', '[', ']', '?', ':', '\u0000', ' ',
    );
    const exprText = fc.oneof(fc.array(exprToken, { maxLength: 25 }).map((t) => t.join(' ')), fc.string({ maxLength: 60 }), fc.constant('('.repeat(5000)));

    it('parseExpr throws nothing but ExprSyntaxError', () => {
      fc.assert(
        fc.property(exprText, (text) => {
          try {
            parseExpr(text);
          } catch (error) {
            if (!(error instanceof ExprSyntaxError)) throw error;
          }
        }),
        { numRuns: 3000 },
      );
    });

    it('compilePolicy throws nothing but PolicyFileErrors (with file:line:col) on mutated and generated files', () => {
      const mutated = fc
        .tuple(fc.nat(goodPolicy.length), fc.nat(40), fc.oneof(fc.string({ maxLength: 20 }), exprText, fc.constantFrom(': ', '\n- ', '{', '[', '&a ', '*a', '!!binary ', '<<: *a', '\t', '---\n', '%YAML 1.2\n')))
        .map(([at, len, text]) => goodPolicy.slice(0, at) + text + goodPolicy.slice(at + len));
      const generated = fc
        .tuple(fc.constantFrom('VM', 'Host', 'Nope', '1'), fc.dictionary(fc.stringMatching(/^[a-z_]{1,6}$/), exprText, { maxKeys: 3 }), exprText, fc.constantFrom('memory.balloon', 'ksm.run', 'x', ''))
        .map(([scope, vars, target, output]) =>
          [`scope: ${scope}`, 'vars:', ...Object.entries(vars).map(([k, v]) => `  ${k}: ${JSON.stringify(v)}`), 'rules:', '  - name: r', `    output: ${output}`, `    target: ${JSON.stringify(target)}`].join('\n'),
        );
      // YAML aliases that expand exponentially ("billion laughs" for YAML).
      const laughs = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]'];
      for (let i = 1; i < 12; i++) laughs.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10).fill(`*${String.fromCharCode(96 + i)}`).join(',')}]`);
      let valid = 0;
      fc.assert(
        fc.property(fc.oneof(mutated, generated, fc.string({ maxLength: 200 }), fc.constant(laughs.join('\n'))), (text) => {
          try {
            compilePolicy('fuzz.yaml', text);
            valid++;
          } catch (error) {
            if (!(error instanceof PolicyFileErrors)) throw error;
            for (const e of error.errors) {
              expect(e.file).to.equal('fuzz.yaml');
              expect(e.line).to.be.a('number').and.at.least(1);
              expect(e.message).to.be.a('string').and.not.equal('');
            }
          }
        }),
        { numRuns: 1500 },
      );
      expect(valid, 'some mutations still compile').to.be.greaterThan(0);
    });
  });

  describe('QMP client against a hostile FakeQmpServer', () => {
    let dir: string;
    before(() => (dir = mkdtempSync(path.join(os.tmpdir(), 'km-qmpfuzz-'))));
    after(() => rmSync(dir, { recursive: true, force: true }));

    /** One hostile act in answer to a command. */
    const hostileAct = fc.oneof(
      fc.constant({ kind: 'ok' as const }),
      fc.constant({ kind: 'silence' as const }),
      fc.constant({ kind: 'drop' as const }),
      fc.record({ kind: fc.constant('raw' as const), text: fc.oneof(fc.string({ maxLength: 80 }), fc.json({ maxDepth: 2 }), fc.constantFrom('{"return": {}, "id": "x"}\n', '{"return":', '\n\n\n', '{"event": 5}\n', '{"error": {}}\n', '{"QMP": {}}\n', '[1,2]\n', 'null\n')) }),
      fc.record({ kind: fc.constant('wrongId' as const), delta: fc.integer({ min: -5, max: 5 }) }),
      fc.record({ kind: fc.constant('badShape' as const), value: fc.json({ maxDepth: 2 }) }),
      fc.record({ kind: fc.constant('error' as const), cls: fc.string({ maxLength: 10 }) }),
      fc.record({ kind: fc.constant('event' as const), name: fc.constantFrom('BALLOON_CHANGE', 'STOP', 'SHUTDOWN', 'RESUME', 'X'), data: fc.json({ maxDepth: 2 }) }),
      fc.record({ kind: fc.constant('huge' as const), bytes: fc.integer({ min: 60_000, max: 200_000 }) }),
      fc.record({ kind: fc.constant('split' as const), at: fc.nat(30) }),
    );
    type Act = typeof hostileAct extends fc.Arbitrary<infer T> ? T : never;

    function actOn(act: Act, cmd: FakeCommand, conn: FakeConnection): void {
      switch (act.kind) {
        case 'ok':
          if (cmd.execute === 'query-balloon') conn.reply(cmd.id, { actual: 1024 });
          else if (cmd.execute === 'query-status') conn.reply(cmd.id, { status: 'running', running: true, singlestep: false });
          else conn.reply(cmd.id, {});
          return;
        case 'silence':
          return;
        case 'drop':
          conn.destroy();
          return;
        case 'raw':
          conn.write(act.text);
          return;
        case 'wrongId':
          conn.reply(typeof cmd.id === 'number' ? cmd.id + act.delta : 'x', {});
          return;
        case 'badShape':
          conn.reply(cmd.id, JSON.parse(act.value));
          return;
        case 'error':
          conn.error(cmd.id, act.cls, 'hostile');
          return;
        case 'event':
          conn.write(JSON.stringify({ event: act.name, data: JSON.parse(act.data), timestamp: { seconds: 1, microseconds: 2 } }) + '\n');
          conn.reply(cmd.id, {});
          return;
        case 'huge':
          conn.write(`{"return": "${'a'.repeat(act.bytes)}", "id": ${JSON.stringify(cmd.id)}}\n`);
          return;
        case 'split': {
          const line = JSON.stringify({ return: {}, id: cmd.id }) + '\n';
          const at = Math.min(act.at, line.length);
          conn.write(line.slice(0, at));
          setTimeout(() => conn.write(line.slice(at)), 1);
          return;
        }
      }
    }

    it('every command ends by a value or a QMP error class within its timeout, whatever the server does; nothing is left pending', async () => {
      let n = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(fc.constant(true), fc.constant(false), fc.string({ maxLength: 40 }), fc.constant(GREETING + '\n' + GREETING + '\n')),
          fc.array(hostileAct, { minLength: 1, maxLength: 6 }),
          async (greeting, acts) => {
            const sock = path.join(dir, `q${n++}.sock`);
            let i = 0;
            const fake = await FakeQmpServer.start(sock, {
              greeting,
              handler: (cmd, conn) => {
                if (cmd.execute === 'qmp_capabilities') return conn.reply(cmd.id, {});
                actOn(acts[i++ % acts.length]!, cmd, conn);
              },
            });
            const client = new QmpClient({ socketPath: sock, greetingTimeoutMs: 150, commandTimeoutMs: 150, maxLineBytes: 64 * 1024, log: pino({ level: 'silent' }) });
            client.on('protocolError', () => undefined);
            try {
              try {
                await client.connect();
              } catch (error) {
                expect(error, String(error)).to.be.instanceOf(QmpClientError);
                return;
              }
              const calls = [client.queryStatus(), client.queryBalloon(), client.execute('x'), client.balloon(2 ** 30), client.qomList('/machine')];
              // Every call settles (the command timeout rejects what the fake never answers): no hang.
              const results = await Promise.allSettled(calls);
              for (const r of results) {
                if (r.status === 'rejected') {
                  const ok = r.reason instanceof QmpClientError || r.reason instanceof QmpError || r.reason instanceof InputError;
                  expect(ok, `unexpected ${String(r.reason)}`).to.equal(true);
                }
              }
              expect(client.pendingCommands).to.equal(0);
            } finally {
              await client.close();
              await fake.close();
            }
          },
        ),
        { numRuns: 120 },
      );
    });
  });

  describe('Prometheus text parser against hostile scrapes', () => {
    const metricName = fc.oneof(fc.stringMatching(/^[a-zA-Z_:][a-zA-Z0-9_:]{0,10}$/), fc.string({ maxLength: 8 }));
    const labelValue = fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom('\\', '\\"', '\\n', '"', '\n', '\\x', '}', '{', ','));
    const value = fc.oneof(fc.double().map(String), fc.constantFrom('NaN', '+Inf', '-Inf', 'Inf', '1e999', '0x10', '', ' ', '1_000', '--1', '1.2.3'));
    const line = fc.oneof(
      fc.tuple(metricName, fc.array(fc.tuple(metricName, labelValue), { maxLength: 4 }), value, fc.option(fc.integer(), { nil: undefined })).map(
        ([name, labels, v, ts]) => `${name}${labels.length ? `{${labels.map(([k, lv]) => `${k}="${lv}"`).join(',')}}` : ''} ${v}${ts === undefined ? '' : ` ${ts}`}`,
      ),
      fc.constantFrom('# HELP x y', '# TYPE x gauge', '#', '', '   ', 'x{', 'x{a="b"', 'x{a=b} 1', 'x{,} 1', 'x{a="1",a="2"} 1', `x{${Array(100).fill('a="b"').join(',')}} 1`, 'x'.repeat(70_000) + ' 1'),
      fc.string({ maxLength: 40 }),
    );

    it('returns finite-or-special numbers or throws PromTextError naming a line', () => {
      let parsed = 0;
      fc.assert(
        fc.property(fc.array(line, { maxLength: 30 }), fc.constantFrom('\n', '\r\n'), (lines, eol) => {
          const text = lines.join(eol);
          try {
            const samples = parsePromText(text);
            parsed++;
            for (const s of samples) {
              expect(s.value).to.be.a('number');
              expect(s.name).to.match(/^[a-zA-Z_:][a-zA-Z0-9_:]*$/);
            }
          } catch (error) {
            if (!(error instanceof PromTextError)) throw error;
            expect(error.message).to.match(/line \d+/);
          }
        }),
        { numRuns: 3000 },
      );
      expect(parsed).to.be.greaterThan(100);
    });

    it('refuses a scrape over its sample limit without building it', () => {
      const text = Array.from({ length: 1000 }, (_, i) => `m_${i} ${i}`).join('\n');
      expect(() => parsePromText(text, { maxLineBytes: 1024, maxLabels: 4, maxSamples: 999 })).to.throw(PromTextError);
      expect(parsePromText(text, { maxLineBytes: 1024, maxLabels: 4, maxSamples: 1000 })).to.have.length(1000);
    });
  });
});
