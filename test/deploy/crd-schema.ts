/**
 * Offline validation against the schemas of CustomResourceDefinitions that no maintained npm package ships as types
 * or JSON schemas (OpenShift's SecurityContextConstraints, HCO's HyperConverged): the upstream CRD's
 * `openAPIV3Schema` for one version is checked in under test/deploy/schemas/ with its source (repository, path,
 * tag, commit), descriptions removed and nothing else changed (`crd-fixture.ts` makes the file).
 *
 * Objects are validated with ajv (the validator kubernetes-models' schemas already run on) the way the API server
 * treats a structural schema under strict field validation (kubectl's default `--validate=strict`): types,
 * formats, enums, patterns and required fields, and an unknown field is an error, except below
 * `x-kubernetes-preserve-unknown-fields` and in the object's own metadata (the API server checks ObjectMeta itself).
 * CEL rules (`x-kubernetes-validations`) are not evaluated.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import { parseAllDocuments } from 'yaml';
import { packageRoot } from '../../src/common/paths.js';

type Schema = Record<string, unknown>;

/** Where a checked-in schema came from. */
export interface CrdSource {
  repository: string;
  path: string;
  ref: string;
  commit: string;
}

/** A checked-in schema: one version of one CRD. */
export interface CrdSchemaFixture {
  source: CrdSource;
  transformation: string;
  group: string;
  version: string;
  kind: string;
  schema: Schema;
}

export const SCHEMA_DIR = path.join(packageRoot, 'test', 'deploy', 'schemas');
const TRANSFORMATION = 'spec.versions[name=VERSION].schema.openAPIV3Schema of the CRD, with every description removed';

const isObject = (value: unknown): value is Schema => typeof value === 'object' && value !== null && !Array.isArray(value);

/** Applies `f` to every sub-schema of `schema` (not to the property maps, whose keys are field names). */
function mapSubSchemas(schema: Schema, f: (sub: Schema, key: string) => Schema): Schema {
  const out: Schema = {};
  for (const [key, value] of Object.entries(schema)) {
    if ((key === 'properties' || key === 'patternProperties') && isObject(value)) {
      out[key] = Object.fromEntries(Object.entries(value).map(([name, sub]) => [name, isObject(sub) ? f(sub, name) : sub]));
    } else if ((key === 'items' || key === 'additionalProperties' || key === 'not') && isObject(value)) {
      out[key] = f(value, key);
    } else if ((key === 'allOf' || key === 'anyOf' || key === 'oneOf') && Array.isArray(value)) {
      out[key] = value.map((sub) => (isObject(sub) ? f(sub, key) : sub));
    } else {
      out[key] = value;
    }
  }
  return out;
}

function withoutDescriptions(schema: Schema): Schema {
  const stripped = mapSubSchemas(schema, (sub) => withoutDescriptions(sub));
  if (typeof stripped.description === 'string') delete stripped.description;
  return stripped;
}

/** Cuts one version's schema out of a CRD manifest (YAML), for checking in. */
export function extractCrdSchema(crdText: string, version: string, source: CrdSource): CrdSchemaFixture {
  const crd = parseAllDocuments(crdText).map((d) => d.toJS() as Schema).find((d) => d?.kind === 'CustomResourceDefinition');
  if (!crd) throw new Error(`${source.path}: no CustomResourceDefinition in it`);
  const spec = crd.spec as { group: string; names: { kind: string }; versions: { name: string; schema?: { openAPIV3Schema?: Schema } }[] };
  const found = spec.versions.find((v) => v.name === version);
  if (!found?.schema?.openAPIV3Schema) {
    throw new Error(`${source.path}: version "${version}" has no schema; it has ${spec.versions.map((v) => v.name).join(', ')}`);
  }
  return {
    source,
    transformation: TRANSFORMATION.replace('VERSION', version),
    group: spec.group,
    version,
    kind: spec.names.kind,
    schema: withoutDescriptions(found.schema.openAPIV3Schema),
  };
}

export function loadCrdSchema(file: string): CrdSchemaFixture {
  const fixture = JSON.parse(readFileSync(path.join(SCHEMA_DIR, file), 'utf8')) as CrdSchemaFixture;
  for (const field of ['repository', 'path', 'ref', 'commit'] as const) {
    if (typeof fixture.source?.[field] !== 'string') throw new Error(`${file}: source.${field} is missing`);
  }
  if (!isObject(fixture.schema)) throw new Error(`${file}: schema is missing`);
  return fixture;
}

/**
 * The JSON schema that ajv checks: the Kubernetes extensions turned into what the API server does with them
 * (int-or-string, preserved unknown fields), and unknown fields refused elsewhere.
 */
export function strictSchema(schema: Schema, atRoot = true): Schema {
  const converted = mapSubSchemas(schema, (sub, key) => (atRoot && key === 'metadata' ? looseMetadata(sub) : strictSchema(sub, false)));
  const preserve = converted['x-kubernetes-preserve-unknown-fields'] === true;
  const embedded = converted['x-kubernetes-embedded-resource'] === true;
  if (converted['x-kubernetes-int-or-string'] === true && converted.anyOf === undefined) {
    converted.anyOf = [{ type: 'integer' }, { type: 'string' }];
  }
  for (const key of Object.keys(converted)) if (key.startsWith('x-kubernetes-')) delete converted[key];
  if (embedded && isObject(converted.properties) && isObject(converted.properties.metadata)) {
    converted.properties = { ...converted.properties, metadata: looseMetadata(converted.properties.metadata) };
  }
  if (isObject(converted.properties) && converted.additionalProperties === undefined && !preserve) {
    converted.additionalProperties = false;
  }
  return converted;
}

/** ObjectMeta: the CRD may constrain some fields (a name pattern); the API server validates the rest itself. */
function looseMetadata(schema: Schema): Schema {
  const { additionalProperties: _ignored, ...rest } = strictSchema(schema, false);
  return rest;
}

const INT32 = 2 ** 31;
function newAjv(): Ajv {
  const ajv = new Ajv({ strict: true, strictTypes: false, allErrors: true });
  // The formats Kubernetes knows that these schemas use; an unknown one fails at compile time.
  ajv.addFormat('int32', { type: 'number', validate: (n: number) => Number.isInteger(n) && n >= -INT32 && n < INT32 });
  ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isSafeInteger(n) });
  ajv.addFormat('date-time', { type: 'string', validate: (s: string) => !Number.isNaN(Date.parse(s)) && /^\d{4}-\d\d-\d\dT/.test(s) });
  return ajv;
}

/** Validates objects of the fixtures' kinds; returns one message per invalid object. */
export class CrdValidator {
  private readonly validators = new Map<string, ValidateFunction>();

  constructor(fixtures: readonly CrdSchemaFixture[]) {
    const ajv = newAjv();
    for (const f of fixtures) this.validators.set(`${f.group}/${f.version}/${f.kind}`, ajv.compile(strictSchema(f.schema)));
  }

  knows(apiVersion: string, kind: string): boolean {
    return this.validators.has(`${apiVersion}/${kind}`);
  }

  errors(object: { apiVersion: string; kind: string; metadata?: { name?: string } }): string[] {
    const validate = this.validators.get(`${object.apiVersion}/${object.kind}`);
    if (!validate) throw new Error(`no CRD schema checked in for ${object.apiVersion} ${object.kind}`);
    // Called as a plain predicate: the object is not narrowed to a type.
    if ((validate as (data: unknown) => boolean)(object)) return [];
    const where = `${object.kind}/${object.metadata?.name}`;
    return (validate.errors ?? []).map((e) => {
      const extra = e.keyword === 'additionalProperties' ? ` "${String(e.params.additionalProperty)}"` : '';
      return `${where}: ${e.instancePath || '/'} ${e.message}${extra}`;
    });
  }
}
