/**
 * Request decoding as Canton's JSON Ledger API does it (release line 3.4), written for the double
 * from the server's rules rather than from our client's schemas:
 *
 * - Canton decodes every request body with circe (`community/ledger/ledger-json-api/src/main/
 *   scala/com/digitalasset/canton/http/json/v2/`), configured in JsSchema.scala with
 *   `Configuration.default.copy(useDefaults = true, strictDecoding = false)`: unknown keys are
 *   ignored; a field with a default in the Scala class takes it when absent (and when `null` does
 *   not decode); an `Option` field without a default is `None` when absent or null; any other
 *   field without a default is required ("Missing required field").
 * - `deriveConfiguredCodec` (`configured` here) is used for the hand-written `Js*` request
 *   classes: only the defaults declared in the Scala class apply.
 * - `deriveRelaxedCodec` (`relaxed` here; CirceRelaxedCodec.scala) is used for the
 *   protobuf-generated (ScalaPB) messages: before decoding, every ABSENT field is filled by its
 *   Scala type: Seq -> [], Option -> null, Boolean -> false, numbers -> 0, String/bytes -> "",
 *   Map -> {}, a oneof -> {"Empty": {}}, and an enum -> {"Unrecognized": {…}}, which the
 *   string-only enum decoder then refuses. So a protobuf message's enum fields are required
 *   while everything else is optional.
 * - ADTs (protobuf oneofs, JsCommand.Command) are objects with one key naming the case
 *   (circe-generic-extras without a discriminator).
 * - tapir reports all failures in one 400 `text/plain` body: "Invalid value for: body (<msg> at
 *   '<path>', …)" (its JsonDecodeException: field names joined with ".", array indices appended
 *   to the field, e.g. `commands[0].ExerciseCommand.choice`).
 */

export type PathSegment = string | number;
export type Path = readonly PathSegment[];

export interface Issue {
  readonly path: Path;
  readonly message: string;
}

/** The Scala type of a field, which decides how CirceRelaxedCodec pre-fills it when absent. */
export type FieldKind = 'string' | 'bool' | 'number' | 'bytes' | 'seq' | 'map' | 'option' | 'enum' | 'oneof' | 'other';

export const FAILED: unique symbol = Symbol('failed');
export type Failed = typeof FAILED;

export interface Codec<T> {
  readonly kind: FieldKind;
  /** Decodes a present value (possibly null); on failure records issues and returns FAILED. */
  read(json: unknown, path: Path, issues: Issue[]): T | Failed;
  /** Records only: the fields a body must carry (for the README's table and its test). */
  readonly required?: readonly string[];
}

export type Decoded<C> = C extends Codec<infer T> ? T : never;

/** circe's rendering of a value in a type error (its `noSpaces`), shortened for huge bodies. */
function shown(json: unknown): string {
  const s = JSON.stringify(json) ?? 'undefined';
  return s.length > 200 ? `${s.slice(0, 200)}…` : s;
}

function wrongType(json: unknown, expected: string, path: Path, issues: Issue[]): Failed {
  issues.push({ path, message: `Got value '${shown(json)}' with wrong type, expecting ${expected}` });
  return FAILED;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function own(o: Record<string, unknown>, k: string): unknown {
  return Object.prototype.hasOwnProperty.call(o, k) ? o[k] : undefined;
}

// ------------------------------------------------------------------------ scalars

export const str: Codec<string> = {
  kind: 'string',
  read: (json, path, issues) => (typeof json === 'string' ? json : wrongType(json, 'string', path, issues)),
};

export const bool: Codec<boolean> = {
  kind: 'bool',
  read: (json, path, issues) => (typeof json === 'boolean' ? json : wrongType(json, 'bool', path, issues)),
};

/**
 * circe's Int/Long decoders: a JSON number without a fractional part, or a string holding one,
 * within range.
 */
function integer(bits: 32 | 64): Codec<number> {
  const max = bits === 32 ? 2 ** 31 - 1 : Number.MAX_SAFE_INTEGER;
  const min = bits === 32 ? -(2 ** 31) : Number.MIN_SAFE_INTEGER;
  const name = bits === 32 ? 'int' : 'long';
  return {
    kind: 'number',
    read: (json, path, issues) => {
      const n = typeof json === 'number' ? json : typeof json === 'string' && /^-?\d+$/.test(json) ? Number(json) : undefined;
      if (n === undefined) return wrongType(json, name, path, issues);
      if (!Number.isInteger(n) || n > max || n < min) {
        issues.push({ path, message: `${name} value out of range: ${shown(json)}` });
        return FAILED;
      }
      return n;
    },
  };
}
export const int = integer(32);
export const long = integer(64);

/** `protobuf.ByteString`: a base64 string (java.util.Base64's basic decoder; padding optional). */
export const bytes: Codec<string> = {
  kind: 'bytes',
  read: (json, path, issues) => {
    if (typeof json !== 'string') return wrongType(json, 'string', path, issues);
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(json) || json.replace(/=+$/, '').length % 4 === 1) {
      issues.push({ path, message: `The string is not a valid Base64: ${json.length > 80 ? `${json.slice(0, 80)}…` : json}` });
      return FAILED;
    }
    return json;
  },
};

/** `protobuf.timestamp.Timestamp` via circe's `decodeInstant` (java.time.Instant.parse). */
export const timestamp: Codec<string> = {
  kind: 'other',
  read: (json, path, issues) => {
    if (typeof json !== 'string') return wrongType(json, 'string', path, issues);
    if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/.test(json) || Number.isNaN(Date.parse(json))) {
      issues.push({ path, message: `Text '${json}' could not be parsed as an Instant` });
      return FAILED;
    }
    return json;
  },
};

/** A protobuf enum through JsSchema's `stringDecoderForEnum`: its name, or "UNRECOGNIZED". */
export function enumOf<const V extends string>(values: readonly V[]): Codec<V | 'UNRECOGNIZED'> {
  return {
    kind: 'enum',
    read: (json, path, issues) => {
      if (typeof json !== 'string') return wrongType(json, 'string', path, issues);
      if (json === 'UNRECOGNIZED' || (values as readonly string[]).includes(json)) return json as V | 'UNRECOGNIZED';
      issues.push({ path, message: `Unrecognized enum value ${json}. Supported values: [${values.join(', ')}]` });
      return FAILED;
    },
  };
}

/** A `circe.Json` field (Daml values in commands): any JSON, checked later by the transcoder. */
export const anyJson: Codec<unknown> = { kind: 'other', read: (json) => json };

/** A string that must pass `check` (which returns an error message or undefined). */
export function refined(base: Codec<string>, check: (s: string) => string | undefined): Codec<string> {
  return {
    kind: base.kind,
    read: (json, path, issues) => {
      const v = base.read(json, path, issues);
      if (v === FAILED) return v;
      const problem = check(v);
      if (problem === undefined) return v;
      issues.push({ path, message: problem });
      return FAILED;
    },
  };
}

// ------------------------------------------------------------------------ containers

export function option<T>(inner: Codec<T>): Codec<T | undefined> {
  return {
    kind: 'option',
    read: (json, path, issues) => (json === null || json === undefined ? undefined : inner.read(json, path, issues)),
  };
}

export function seq<T>(inner: Codec<T>): Codec<T[]> {
  return {
    kind: 'seq',
    read: (json, path, issues) => {
      if (!Array.isArray(json)) return wrongType(json, 'array', path, issues);
      const out: T[] = [];
      let failed = false;
      json.forEach((el, i) => {
        const v = inner.read(el, [...path, i], issues);
        if (v === FAILED) failed = true;
        else out.push(v);
      });
      return failed ? FAILED : out;
    },
  };
}

/** `Map[String, T]`: a JSON object. Keys stay data (no prototype keys). */
export function map<T>(inner: Codec<T>): Codec<Record<string, T>> {
  return {
    kind: 'map',
    read: (json, path, issues) => {
      if (!isObject(json)) return wrongType(json, 'object', path, issues);
      const entries: [string, T][] = [];
      let failed = false;
      for (const [k, el] of Object.entries(json)) {
        const v = inner.read(el, [...path, k], issues);
        if (v === FAILED) failed = true;
        else entries.push([k, v]);
      }
      return failed ? FAILED : Object.fromEntries(entries);
    },
  };
}

// ------------------------------------------------------------------------ records

/** A field of a Scala case class: its codec, and its default value if the class declares one. */
export interface Field<T> {
  readonly codec: Codec<T>;
  readonly hasDefault: boolean;
  readonly default?: T;
}

/** A field declared without a default: required unless its codec is an `option`. */
export function field<T>(codec: Codec<T>): Field<T> {
  return { codec, hasDefault: false };
}

/** A field declared with a default (`= ""`, `= Seq.empty`, `= None`, …). */
export function withDefault<T>(codec: Codec<T>, value: T): Field<T> {
  return { codec, hasDefault: true, default: value };
}

type Fields = Record<string, Field<unknown>>;
type FieldType<X> = X extends Field<infer T> ? T : never;
type Simplify<T> = { [K in keyof T]: T[K] } & {};
/** The decoded object: a field that may be `undefined` (an absent Option) is an optional key. */
export type RecordOf<F extends Fields> = Simplify<
  { [K in keyof F as undefined extends FieldType<F[K]> ? never : K]: FieldType<F[K]> } & {
    [K in keyof F as undefined extends FieldType<F[K]> ? K : never]?: FieldType<F[K]>;
  }
>;

/** What CirceRelaxedCodec puts in place of an absent field of this kind (`undefined` = nothing). */
function relaxedFill(kind: FieldKind): unknown {
  switch (kind) {
    case 'seq':
      return [];
    case 'option':
      return null;
    case 'bool':
      return false;
    case 'number':
      return 0;
    case 'string':
    case 'bytes':
      return '';
    case 'map':
      return {};
    case 'oneof':
      return { Empty: {} };
    case 'enum':
      return { Unrecognized: { unrecognizedValue: 0 } };
    case 'other':
      return undefined;
  }
}

/** Whether a body without this field fails to decode. */
function isRequired(f: Field<unknown>, relaxedFilling: boolean): boolean {
  if (relaxedFilling && f.codec.kind === 'enum') return true;
  if (relaxedFilling && relaxedFill(f.codec.kind) !== undefined) return false;
  return !f.hasDefault && f.codec.kind !== 'option';
}

function record<F extends Fields>(fields: F, relaxedFilling: boolean): Codec<RecordOf<F>> {
  return {
    kind: 'other',
    required: Object.entries(fields)
      .filter(([, f]) => isRequired(f, relaxedFilling))
      .map(([name]) => name),
    read: (json, path, issues) => {
      if (!isObject(json)) return wrongType(json, 'object', path, issues);
      const out: Record<string, unknown> = {};
      let failed = false;
      for (const [name, f] of Object.entries(fields)) {
        const at = [...path, name];
        let value = own(json, name);
        if (value === undefined && relaxedFilling) value = relaxedFill(f.codec.kind);
        if (value === undefined) {
          if (f.hasDefault) out[name] = f.default;
          else if (f.codec.kind === 'option') out[name] = undefined;
          else {
            issues.push({ path: at, message: 'Missing required field' });
            failed = true;
          }
          continue;
        }
        const scratch: Issue[] = [];
        const v = f.codec.read(value, at, scratch);
        if (v !== FAILED) out[name] = v;
        // circe-generic-extras' orDefault: a null that does not decode takes the default.
        else if (value === null && f.hasDefault) out[name] = f.default;
        else {
          issues.push(...scratch);
          failed = true;
        }
      }
      return failed ? FAILED : (out as RecordOf<F>);
    },
  };
}

/** `deriveConfiguredCodec` of a hand-written Js* class: only its declared defaults apply. */
export function configured<F extends Fields>(fields: F): Codec<RecordOf<F>> {
  return record(fields, false);
}

/** `deriveRelaxedCodec` of a protobuf-generated message (see the header). */
export function relaxed<F extends Fields>(fields: F): Codec<RecordOf<F>> {
  return record(fields, true);
}

/**
 * A ScalaPB message field: every one has a default in the generated class, so after the relaxed
 * pre-fill a `null` falls back to it too. Enums have no usable default here (the pre-fill wins).
 */
export function proto<T>(codec: Codec<T>): Field<T> {
  const fill = relaxedFill(codec.kind);
  if (codec.kind === 'enum' || codec.kind === 'other') return field(codec);
  const issues: Issue[] = [];
  const v = codec.read(fill, [], issues);
  return v === FAILED ? field(codec) : withDefault(codec, v);
}

// ------------------------------------------------------------------------ ADTs

export type OneOf<C extends Record<string, Codec<unknown>>> = {
  [K in keyof C & string]: { [P in K]: Decoded<C[K]> };
}[keyof C & string];

/**
 * A sealed trait decoded by circe-generic-extras without a discriminator: an object whose key
 * names the case. circe tries the cases in shapeless' order (alphabetical by class name) and takes
 * the first key present; other keys are ignored.
 */
export function adt<const C extends Record<string, Codec<unknown>>>(
  typeName: string,
  cases: C,
  kind: FieldKind = 'other',
): Codec<OneOf<C>> {
  const names = Object.keys(cases).sort();
  return {
    kind,
    read: (json, path, issues) => {
      if (!isObject(json)) return wrongType(json, 'object', path, issues);
      const name = names.find((n) => own(json, n) !== undefined);
      if (name === undefined) {
        const key = Object.keys(json)[0];
        issues.push({
          path,
          message:
            key === undefined
              ? `type ${typeName} has no class/object/case named ''.`
              : `type ${typeName} has no class/object/case named '${key}'.`,
        });
        return FAILED;
      }
      const v = (cases[name] as Codec<unknown>).read(own(json, name), [...path, name], issues);
      return v === FAILED ? FAILED : ({ [name]: v } as OneOf<C>);
    },
  };
}

/** The `Empty` case object of a protobuf oneof: any JSON object. */
export const emptyCase: Codec<Record<string, never>> = {
  kind: 'other',
  read: (json, path, issues) => (isObject(json) ? {} : wrongType(json, 'object', path, issues)),
};

/** A protobuf oneof (kind 'oneof', so an absent one is `{"Empty": {}}` in a relaxed message). */
export function oneof<const C extends Record<string, Codec<unknown>>>(typeName: string, cases: C) {
  return adt(typeName, { ...cases, Empty: emptyCase }, 'oneof');
}

/** A oneof case class `Case(value: T)` (ScalaPB): decoded relaxed, `value` has no default. */
export function valueCase<T>(inner: Codec<T>) {
  return relaxed({ value: field(inner) });
}

// ------------------------------------------------------------------------ entry point

export type DecodeResult<T> = { ok: true; value: T } | { ok: false; issues: readonly Issue[] };

export function decodeWith<T>(codec: Codec<T>, json: unknown): DecodeResult<T> {
  const issues: Issue[] = [];
  const value = codec.read(json, [], issues);
  if (value === FAILED) return { ok: false, issues: issues.length > 0 ? issues : [{ path: [], message: 'invalid value' }] };
  return { ok: true, value };
}

/** tapir's path: field names joined with ".", an array index appended to its field ("a[0].b"). */
export function formatPath(path: Path): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? p : `.${p}`;
  return out;
}

/** tapir's detail text for a body that does not decode: "msg at 'path', msg at 'path'". */
export function issuesDetail(issues: readonly Issue[]): string {
  return issues.map((i) => (i.path.length > 0 ? `${i.message} at '${formatPath(i.path)}'` : i.message)).join(', ');
}
