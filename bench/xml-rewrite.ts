/**
 * The OnDefineDomain rewrite in this process, stage by stage, on the 10x domain:
 * where its time goes, against the previous pipeline (XMLValidator on every input,
 * parse, rebuild of the whole document) measured in the same run.
 *
 * Rows are timed interleaved, so machine load falls on them alike.
 *
 * Run alone: node dist/bench/xml-rewrite.js [--iterations N]
 */
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { defineDomain } from '../src/hook-sidecar/callbacks.js';
import { parseDomain, rewriteDomain } from '../src/hook-sidecar/domain-rewrite.js';
import { COMMON_OPTIONS, parseXml, rootElement, serializeXml, type XmlNode } from '../src/hook-sidecar/xml-tree.js';
import { isMain, loadFixtures, ms, multiplyDevices, printTable, ratio, summarize, type LatencySummary } from './support/bench-support.js';

const PATHS = { hooksDir: '/hooks', qemuHooksDir: '/var/run/kubevirt-hooks/hook-sidecar-0' };
const SETTINGS_FROM = (xml: string, vmiJson: string) => defineDomain(xml, vmiJson, PATHS).config;

/** The parser as the sidecar configured it before positions were recorded. */
const PREVIOUS_PARSER = new XMLParser(COMMON_OPTIONS);

/**
 * Times each variant `iterations` times, interleaved in rounds of 10 calls so that
 * load from other processes falls on all variants alike.
 */
function timeInterleaved(variants: (() => unknown)[], iterations: number): LatencySummary[] {
  for (const run of variants) for (let i = 0; i < 100; i++) run();
  const samples: number[][] = variants.map(() => []);
  for (let done = 0; done < iterations; done += 10) {
    variants.forEach((run, v) => {
      for (let i = 0; i < 10; i++) {
        const start = process.hrtime.bigint();
        run();
        samples[v]!.push(Number(process.hrtime.bigint() - start) / 1e6);
      }
    });
  }
  return samples.map(summarize);
}

/** Prints the stage table; `iterations` timed calls per row after 100 warm-up calls. */
export function runXmlRewriteBench(iterations = 500): void {
  const { domainXml, vmiJson } = loadFixtures();
  const xml = multiplyDevices(domainXml, 10);
  const config = SETTINGS_FROM(xml, vmiJson);
  const options = { settings: config.settings, qmpSocketPath: '/var/run/kubevirt-hooks/hook-sidecar-0/kubemom/qmp/x.sock' };
  const whole = (text: string) => {
    const parsed = parseDomain(text);
    delete parsed.doc.source; // without the source text every element is rebuilt
    return rewriteDomain(parsed, options);
  };
  if (whole(xml) !== rewriteDomain(parseDomain(xml), options)) console.log('note: whole rebuild and edited-only output differ on this input');
  // The previous pipeline: validator always, parse without positions, whole rebuild.
  const previous = (text: string) => {
    if (XMLValidator.validate(text, { allowBooleanAttributes: false }) !== true) throw new Error('invalid');
    const doc = { nodes: PREVIOUS_PARSER.parse(text) as XmlNode[], trailing: /\s*$/.exec(text)?.[0] ?? '' };
    return rewriteDomain({ doc, domain: rootElement(doc, 'domainXML') }, options);
  };
  if (previous(xml) !== rewriteDomain(parseDomain(xml), options)) console.log('note: previous and current output differ on this input');
  const variants: [string, () => unknown][] = [
    ['rewrite, previous pipeline', () => previous(xml)],
    ['validator alone', () => XMLValidator.validate(xml, { allowBooleanAttributes: false })],
    ['parse (validate + parse)', () => parseXml(xml, 'domainXML')],
    ['parse + serialize unchanged', () => serializeXml(parseXml(xml, 'domainXML'))],
    ['rewrite, whole rebuild', () => whole(xml)],
    ['rewrite, edited only', () => rewriteDomain(parseDomain(xml), options)],
    ['defineDomain (shipped)', () => defineDomain(xml, vmiJson, PATHS)],
  ];
  const summaries = timeInterleaved(variants.map(([, run]) => run), iterations);
  const rows = variants.map(([name], i): [string, LatencySummary] => [name, summaries[i]!]);
  const baseline = rows[0]![1];
  console.log(`\n## XML rewrite in-process (ms; 10x domain, ${xml.length} B; ${iterations} calls per row after 100 warm-up calls, interleaved)`);
  printTable(
    ['stage', 'p50', 'p99', 'max', 'p50/previous'],
    rows.map(([name, s]) => [name, ms(s.p50), ms(s.p99), ms(s.max), ratio(s.p50, baseline.p50)]),
  );
}

if (isMain(import.meta.url)) {
  const at = process.argv.indexOf('--iterations');
  runXmlRewriteBench(at > 0 ? Number(process.argv[at + 1]) : undefined);
}
