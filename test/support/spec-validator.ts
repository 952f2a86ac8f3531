/**
 * Validates JSON against a named component schema of the project's API specs:
 * the JSON Ledger API (OpenAPI 3.0 + AsyncAPI 2.6 for websocket frames) and the token-standard
 * registry APIs (OpenAPI 3.0). Used to prove that what the ledger double sends, and what our
 * schemas accept, is what the spec says.
 *
 *   expectSpecValid(ledgerApiSpec(), 'JsGetUpdatesResponse', body)
 *   expectSpecValid(ledgerAsyncApiSpec(), 'Either_JsCantonError_JsGetUpdatesResponse', frame)
 *
 * The spec documents are not JSON Schema as ajv knows it, so each is rewritten once on load:
 * OpenAPI 3.0 `nullable: true` becomes a `null` alternative, and the 2020-12 `prefixItems` the
 * AsyncAPI file uses for tuples becomes draft-07 array-form `items`. `$ref`s stay as they are and
 * resolve against the document, which is registered with ajv under its own id.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import formatsModule from 'ajv-formats';
import { parse as parseYaml } from 'yaml';
import { isJsCantonErrorFrame } from '../../src/ledger/schema/errors.js';

// ajv-formats is CommonJS; under NodeNext its default import is the module object.
const addFormats = formatsModule.default;

export const SPECS_DIR = process.env['CXI_SPECS_DIR'] ?? fileURLToPath(new URL('../../../shared/specs/', import.meta.url));

export interface SpecValidationOptions {
  /**
   * Property names treated as optional wherever the spec requires them. For data from nodes
   * older than 3.4.12: `['acsDelta', 'representativePackageId']`.
   */
  readonly relaxRequired?: readonly string[];
  /**
   * Accept `null` for properties that are not required. Canton's encoder writes null for unset
   * optional fields (recorded data has `"tracestate": null`), which the spec does not declare.
   */
  readonly nullForOptional?: boolean;
}

export interface SpecValidationResult {
  readonly valid: boolean;
  /** One line per problem: "<JSON pointer>: <message> [<schema path>]". */
  readonly errors: readonly string[];
}

export type SpecValidator = (value: unknown) => SpecValidationResult;

export interface LoadedSpec {
  /** File name relative to SPECS_DIR, e.g. "ledger-api-3.4.12/openapi.yaml". */
  readonly name: string;
  readonly schemaNames: readonly string[];
  /** The raw `components.schemas` as written in the file (before any rewriting). */
  readonly schemas: Readonly<Record<string, unknown>>;
  /** A (cached) validator for `components.schemas[schemaName]`. Throws on an unknown name. */
  validator(schemaName: string, options?: SpecValidationOptions): SpecValidator;
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonObject = { [k: string]: Json };

function isObject(v: Json | undefined): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Keywords whose value is a single subschema. */
const SUBSCHEMA_KEYS = new Set(['not', 'additionalProperties', 'additionalItems', 'contains', 'propertyNames', 'if', 'then', 'else']);
/** Keywords whose value is a list of subschemas. */
const SUBSCHEMA_LIST_KEYS = new Set(['allOf', 'anyOf', 'oneOf', 'prefixItems']);
/** Keywords whose value maps names to subschemas. */
const SUBSCHEMA_MAP_KEYS = new Set(['properties', 'patternProperties', 'definitions', '$defs']);

/**
 * Rewrites one schema node to draft-07, recursing only into schema positions, so that a property
 * that happens to be called "nullable" or "required" is left alone.
 */
function toDraft7(node: Json, options: SpecValidationOptions): Json {
  if (!isObject(node)) return node;
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(node)) {
    if (SUBSCHEMA_KEYS.has(key)) out[key] = toDraft7(value, options);
    else if (SUBSCHEMA_LIST_KEYS.has(key) && Array.isArray(value)) out[key] = value.map((v) => toDraft7(v, options));
    else if (SUBSCHEMA_MAP_KEYS.has(key) && isObject(value)) {
      out[key] = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toDraft7(v, options)]));
    } else if (key === 'items') {
      out[key] = Array.isArray(value) ? value.map((v) => toDraft7(v, options)) : toDraft7(value, options);
    } else out[key] = value;
  }

  if (Array.isArray(out['prefixItems'])) {
    out['items'] = out['prefixItems'];
    delete out['prefixItems'];
  }

  if (options.relaxRequired?.length && Array.isArray(out['required'])) {
    const relaxed = new Set(options.relaxRequired);
    out['required'] = out['required'].filter((r) => typeof r !== 'string' || !relaxed.has(r));
  }

  if (options.nullForOptional && isObject(out['properties'])) {
    const required = new Set(Array.isArray(out['required']) ? out['required'] : []);
    out['properties'] = Object.fromEntries(Object.entries(out['properties']).map(([k, v]) => [k, required.has(k) ? v : orNull(v)]));
  }

  if (out['nullable'] === true) {
    delete out['nullable'];
    return orNull(out);
  }
  delete out['nullable'];
  return out;
}

function orNull(schema: Json): Json {
  return { anyOf: [schema, { type: 'null' }] };
}

/** Drop the "case key missing" noise of oneOf branches that were never meant to match. */
function relevantErrors(errors: readonly ErrorObject[]): ErrorObject[] {
  const isBranchMiss = (e: ErrorObject) => e.keyword === 'required' && /\/oneOf\/\d+\/required$/.test(e.schemaPath);
  const substantive = errors.filter((e) => !isBranchMiss(e) && e.keyword !== 'oneOf');
  return substantive.length > 0 ? errors.filter((e) => !isBranchMiss(e)) : [...errors];
}

function formatError(e: ErrorObject): string {
  let where = e.instancePath === '' ? '(root)' : e.instancePath;
  let message = e.message ?? e.keyword;
  if (e.keyword === 'required' && typeof e.params['missingProperty'] === 'string') {
    where = `${e.instancePath}/${e.params['missingProperty']}`;
    message = 'is required but missing';
  } else if (e.keyword === 'enum' && Array.isArray(e.params['allowedValues'])) {
    message = `must be one of ${JSON.stringify(e.params['allowedValues'])}`;
  }
  const schemaPath = e.schemaPath.replace(/^[^#]*#/, '#');
  return `${where}: ${message} [${schemaPath}]`;
}

const specCache = new Map<string, LoadedSpec>();

/** Loads (once) a spec file under SPECS_DIR. */
export function loadSpec(name: string): LoadedSpec {
  const cached = specCache.get(name);
  if (cached) return cached;

  const doc = parseYaml(readFileSync(path.join(SPECS_DIR, name), 'utf8')) as Json;
  const components = isObject(doc) ? doc['components'] : undefined;
  const schemas = isObject(components) ? components['schemas'] : undefined;
  if (!isObject(schemas)) throw new Error(`${name}: no components.schemas`);

  const documentId = `https://specs.invalid/${name}`;
  const ajvByOptions = new Map<string, Ajv>();
  const validators = new Map<string, ValidateFunction>();

  const ajvFor = (options: SpecValidationOptions): Ajv => {
    const key = JSON.stringify(options);
    let ajv = ajvByOptions.get(key);
    if (!ajv) {
      // strict: false because spec documents carry OpenAPI annotations (example, …) ajv does not know.
      ajv = new Ajv({ strict: false, allErrors: true });
      addFormats(ajv);
      ajv.addFormat('int8', { type: 'number', validate: (n: number) => Number.isInteger(n) && n >= -128 && n <= 127 });
      const rewritten = Object.fromEntries(Object.entries(schemas).map(([k, v]) => [k, toDraft7(v, options)]));
      ajv.addSchema({ $id: documentId, components: { schemas: rewritten } });
      ajvByOptions.set(key, ajv);
    }
    return ajv;
  };

  const spec: LoadedSpec = {
    name,
    schemaNames: Object.keys(schemas),
    schemas,
    validator(schemaName, options = {}) {
      if (!(schemaName in schemas)) {
        throw new Error(`${name} has no component schema "${schemaName}"`);
      }
      const key = `${schemaName} ${JSON.stringify(options)}`;
      let validate = validators.get(key);
      if (!validate) {
        validate = ajvFor(options).compile({ $ref: `${documentId}#/components/schemas/${schemaName}` });
        validators.set(key, validate);
      }
      const v = validate;
      return (value) => {
        const valid = v(value);
        return { valid, errors: valid ? [] : relevantErrors(v.errors ?? []).map(formatError) };
      };
    },
  };
  specCache.set(name, spec);
  return spec;
}

export type LedgerApiVersion = '3.4.12' | '3.5.1';

/** The JSON Ledger API OpenAPI document (HTTP request/response bodies). */
export function ledgerApiSpec(version: LedgerApiVersion = '3.4.12'): LoadedSpec {
  return loadSpec(`ledger-api-${version}/openapi.yaml`);
}

/** The JSON Ledger API AsyncAPI document (websocket frames, e.g. `Either_JsCantonError_…`). */
export function ledgerAsyncApiSpec(version: LedgerApiVersion = '3.4.12'): LoadedSpec {
  return loadSpec(`ledger-api-${version}/asyncapi.yaml`);
}

/** Registry transfer-instruction API (transfer factory, choice contexts). */
export function transferInstructionSpec(): LoadedSpec {
  return loadSpec('transfer-instruction-v1.yaml');
}

/** Registry token metadata API (registry info, instruments). */
export function tokenMetadataSpec(): LoadedSpec {
  return loadSpec('token-metadata-v1.yaml');
}

type SpecRef = LoadedSpec | (() => LoadedSpec);

function resolve(spec: SpecRef): LoadedSpec {
  return typeof spec === 'function' ? spec() : spec;
}

/** The problems found, empty when valid. */
export function specErrors(spec: SpecRef, schemaName: string, value: unknown, options?: SpecValidationOptions): readonly string[] {
  return resolve(spec).validator(schemaName, options)(value).errors;
}

/** Throws an Error listing every failing JSON path when `value` is not valid. */
export function expectSpecValid(spec: SpecRef, schemaName: string, value: unknown, options?: SpecValidationOptions): void {
  const s = resolve(spec);
  const { valid, errors } = s.validator(schemaName, options)(value);
  if (!valid) {
    throw new Error(`not a valid ${schemaName} per ${s.name}:\n${errors.map((e) => `  - ${e}`).join('\n')}`);
  }
}

/**
 * Websocket frames are an untagged Either<JsCantonError, element>. The AsyncAPI models that as
 * `Either_JsCantonError_<Element>` = oneOf [JsCantonError, Element], which no error frame can
 * satisfy: the element schemas have no required properties, so an error matches both branches.
 * Hence a frame is checked against JsCantonError when it is an error frame and against the
 * element schema (from the AsyncAPI document) otherwise.
 */
export function expectWsFrameValid(
  elementSchemaName: string,
  frame: unknown,
  options?: SpecValidationOptions,
  version: LedgerApiVersion = '3.4.12',
): void {
  const name = isJsCantonErrorFrame(frame) ? 'JsCantonError' : elementSchemaName;
  expectSpecValid(ledgerAsyncApiSpec(version), name, frame, options);
}
