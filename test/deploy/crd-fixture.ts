/**
 * Makes a checked-in schema for test/deploy/schemas/ from an upstream CRD manifest:
 *   node dist/test/deploy/crd-fixture.js CRD.yaml VERSION REPOSITORY PATH REF COMMIT > test/deploy/schemas/NAME.json
 * (test/deploy/schemas/README.md lists the sources).
 */
import { readFileSync } from 'node:fs';
import { extractCrdSchema } from './crd-schema.js';

const [file, version, repository, sourcePath, ref, commit] = process.argv.slice(2);
if (!file || !version || !repository || !sourcePath || !ref || !commit) {
  process.stderr.write('usage: crd-fixture.js CRD.yaml VERSION REPOSITORY PATH REF COMMIT\n');
  process.exit(2);
}
const fixture = extractCrdSchema(readFileSync(file, 'utf8'), version, { repository, path: sourcePath, ref, commit });
process.stdout.write(`${JSON.stringify(fixture, null, 1)}\n`);
