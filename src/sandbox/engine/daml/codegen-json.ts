import { Decimal } from 'decimal.js';
import { canonicalNumeric, type DamlRecordValue, type DamlType, type DamlValue, type RecordType, type VariantType } from './types.js';

/**
 * Daml-LF JSON read as the Java codegen's `fromJson` reads it (what a Splice registry does with
 * `choiceArguments`: `TransferFactory_Transfer.fromJson(body.choiceArguments.noSpaces)`).
 * Derived from Canton's community/bindings-java/.../codegen/json/JsonLfDecoders.java and
 * JsonLfReader.java (release-line-3.4) and the codegen's FromJsonGenerator.scala
 * (digital-asset/daml, sdk/language-support/java/codegen): a streaming reader over the JSON text,
 * so errors carry Jackson's line and column. Rules:
 * - records: an object (fields in any order, a repeated field wins last) or an array (positional);
 *   an unknown field is an error unless its value is null; a missing field is an error unless it
 *   is Optional (the codegen passes `Optional.empty()` as its default);
 * - variants: `{"tag", "value"}` in either order, nothing else; enums: the constructor name;
 * - Int64: a JSON integer or a string `Long.parseLong` accepts; Numeric: a number or a string
 *   `new BigDecimal` accepts, |x| < 10^(38-scale), rounded half-even to the scale;
 * - Time: `Instant.parse` (ISO-8601 with seconds and an offset); Date: `LocalDate.parse`;
 * - Party, Text, ContractId: a string (not validated further); Unit: exactly `{}`;
 * - TextMap: an object; GenMap: a list of [key, value] pairs; Optional: null or the value
 *   (nested: [] / [value]).
 */

/** `com.daml.ledger.javaapi.data.codegen.json.JsonLfDecoder.Error`. */
export class JsonLfDecodeError extends Error {
  override readonly name = 'JsonLfDecodeError';
  constructor(
    readonly detail: string,
    readonly line: number,
    readonly column: number,
  ) {
    super(`${detail} at line: ${line}, column: ${column}`);
  }

  /** What Java's `Throwable.toString()` prints, i.e. what Splice interpolates into its messages. */
  javaString(): string {
    return `com.daml.ledger.javaapi.data.codegen.json.JsonLfDecoder$Error: ${this.message}`;
  }
}

/** Decodes `json` (already parsed) as the JSON text `JSON.stringify` gives, i.e. circe's `noSpaces`. */
export function decodeCodegenJson(ty: DamlType, json: unknown): DamlValue {
  const text = JSON.stringify(json) ?? 'null';
  const reader = new Reader(tokenize(text), 0, text.length);
  return decode(ty, reader);
}

type TokenType = '{' | '}' | '[' | ']' | 'field' | 'string' | 'int' | 'float' | 'true' | 'false' | 'null';

interface Token {
  readonly type: TokenType;
  /** Offset of the token's first character in the text. */
  readonly start: number;
  /** Offset just past the token. */
  readonly end: number;
  /** Jackson's `getText()`: the unescaped string, the number as written, or the punctuation. */
  readonly text: string;
}

/** The JSON text comes from JSON.stringify, so it is well-formed and on one line. */
function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  const containers: ('{' | '[')[] = [];
  let expectName = false;
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === ',' || c === ':' || c === ' ') {
      if (c === ',' && containers.at(-1) === '{') expectName = true;
      i++;
      continue;
    }
    if (c === '{' || c === '[') {
      tokens.push({ type: c, start: i, end: i + 1, text: c });
      containers.push(c);
      expectName = c === '{';
      i++;
    } else if (c === '}' || c === ']') {
      tokens.push({ type: c, start: i, end: i + 1, text: c });
      containers.pop();
      expectName = false;
      i++;
    } else if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      const value = JSON.parse(text.slice(i, j + 1)) as string;
      tokens.push({ type: expectName ? 'field' : 'string', start: i, end: j + 1, text: value });
      expectName = false;
      i = j + 1;
    } else {
      const m = /^(?:true|false|null|-?\d+(\.\d+)?([eE][+-]?\d+)?)/.exec(text.slice(i))!;
      const lit = m[0];
      const type: TokenType =
        lit === 'true' || lit === 'false' || lit === 'null' ? lit : m[1] !== undefined || m[2] !== undefined ? 'float' : 'int';
      tokens.push({ type, start: i, end: i + lit.length, text: lit });
      i += lit.length;
    }
  }
  return tokens;
}

class Reader {
  private pos: number;
  constructor(
    private readonly tokens: readonly Token[],
    from: number,
    /** Where the input ends: the location reported once every token is consumed. */
    private readonly endOffset: number,
    private readonly until = tokens.length,
  ) {
    this.pos = from;
  }

  get current(): Token | undefined {
    return this.pos < this.until ? this.tokens[this.pos] : undefined;
  }

  is(type: TokenType): boolean {
    return this.current?.type === type;
  }

  /** JsonLfReader.locationStart: Jackson's 1-based column of the current token. */
  column(): number {
    return (this.current?.start ?? this.endOffset) + 1;
  }

  currentText(): string {
    return this.current?.text ?? 'nothing';
  }

  moveNext(): void {
    this.pos++;
  }

  fail(detail: string, column = this.column()): never {
    throw new JsonLfDecodeError(detail, 1, column);
  }

  parseExpected(expected: string, actual = this.currentText(), column = this.column()): never {
    this.fail(`Expected ${expected} but was ${actual}`, column);
  }

  expectIsAt(description: string, ...types: TokenType[]): Token {
    const cur = this.current;
    if (cur === undefined || !types.includes(cur.type)) this.parseExpected(description);
    return cur;
  }

  readStartObject(): void {
    this.expectIsAt('{', '{');
    this.moveNext();
  }

  readEndObject(): void {
    this.expectIsAt('}', '}');
    this.moveNext();
  }

  readStartArray(): void {
    this.expectIsAt('[', '[');
    this.moveNext();
  }

  readEndArray(): void {
    this.expectIsAt(']', ']');
    this.moveNext();
  }

  readFieldName(): { name: string; column: number } {
    const tok = this.expectIsAt('field', 'field');
    this.moveNext();
    return { name: tok.text, column: tok.start + 1 };
  }

  /** Reads a string that must be one of `expected` (an enum constructor or a variant tag). */
  readFromText(expected: readonly string[]): string {
    const tok = this.expectIsAt('text', 'string');
    if (!expected.includes(tok.text)) this.parseExpected(`one of [${expected.join(', ')}]`);
    this.moveNext();
    return tok.text;
  }

  /** JsonLfReader.UnknownValue.read: skips the current value, keeping its tokens for later. */
  skipValue(): { from: number; until: number; endOffset: number } {
    const from = this.pos;
    let depth = 0;
    do {
      const type = this.current?.type;
      if (type === '{' || type === '[') depth++;
      else if (type === '}' || type === ']') depth--;
      this.moveNext();
    } while (depth > 0 && this.current !== undefined);
    return { from, until: this.pos, endOffset: this.tokens[this.pos - 1]?.end ?? this.endOffset };
  }

  /** A reader over a value skipped earlier; its columns stay those of the whole text. */
  sub(v: { from: number; until: number; endOffset: number }): Reader {
    return new Reader(this.tokens, v.from, v.endOffset, v.until);
  }
}

const MAX_NUMERIC_PRECISION = 38;
const HalfEven = Decimal.clone({ precision: 100, rounding: Decimal.ROUND_HALF_EVEN, toExpNeg: -1000, toExpPos: 1000 });
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const BIG_DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const INSTANT = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(Z|[+-]\d{2}:\d{2}(:\d{2})?)$/;
const LOCAL_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

function validDate(y: string, m: string, d: string): boolean {
  const date = new Date(Date.UTC(Number(y), Number(m) - 1, Number(d)));
  return date.getUTCFullYear() === Number(y) && date.getUTCMonth() === Number(m) - 1 && date.getUTCDate() === Number(d);
}

function decode(ty: DamlType, r: Reader): DamlValue {
  switch (ty.kind) {
    case 'record':
      return decodeRecord(ty, r);
    case 'variant':
      return decodeVariant(ty, r);
    case 'enum': {
      return r.readFromText(ty.constructors);
    }
    case 'optional':
      if (r.is('null')) {
        r.moveNext();
        return null;
      }
      if (ty.of.kind !== 'optional') return decode(ty.of, r);
      // JsonLfDecoders.optionalNested: Some(None) is [], Some(Some x) is [x].
      r.readStartArray();
      if (r.is('null')) r.parseExpected('] or item');
      {
        const inner = r.is(']') ? null : decode(ty.of, r);
        r.readEndArray();
        return inner === null ? [] : [inner];
      }
    case 'list': {
      const out: DamlValue[] = [];
      r.readStartArray();
      while (r.current !== undefined && !r.is(']')) out.push(decode(ty.of, r));
      r.readEndArray();
      return out;
    }
    case 'textMap': {
      const entries: [string, DamlValue][] = [];
      r.readStartObject();
      while (r.current !== undefined && !r.is('}')) {
        const { name } = r.readFieldName();
        entries.push([name, decode(ty.of, r)]);
      }
      r.readEndObject();
      return Object.fromEntries(entries);
    }
    case 'genMap': {
      const out: DamlValue[] = [];
      r.readStartArray();
      while (r.current !== undefined && !r.is(']')) {
        r.readStartArray();
        const k = decode(ty.key, r);
        const v = decode(ty.value, r);
        r.readEndArray();
        out.push([k, v]);
      }
      r.readEndArray();
      return out;
    }
    case 'unit':
      r.readStartObject();
      r.readEndObject();
      return {};
    case 'bool': {
      const tok = r.expectIsAt('boolean', 'true', 'false');
      r.moveNext();
      return tok.type === 'true';
    }
    case 'int64': {
      const tok = r.expectIsAt('int64', 'int', 'string');
      const n = /^[+-]?\d+$/.test(tok.text) ? BigInt(tok.text) : undefined;
      if (n === undefined || n < INT64_MIN || n > INT64_MAX) r.parseExpected('int64');
      r.moveNext();
      return n.toString();
    }
    case 'numeric': {
      const tok = r.expectIsAt('numeric', 'int', 'float', 'string');
      if (!BIG_DECIMAL.test(tok.text)) r.parseExpected('numeric');
      const d = new HalfEven(tok.text);
      const orderMag = MAX_NUMERIC_PRECISION - ty.scale;
      if (!d.isZero() && d.abs().gte(new HalfEven(10).pow(orderMag))) r.parseExpected(`numeric in range (-10^${orderMag}, 10^${orderMag})`);
      r.moveNext();
      return canonicalNumeric(d.toFixed(ty.scale), ty.scale);
    }
    case 'time': {
      const tok = r.expectIsAt('timestamp', 'string');
      const m = INSTANT.exec(tok.text);
      if (!m || !validDate(m[1]!, m[2]!, m[3]!) || Number(m[4]) > 23 || Number(m[5]) > 59 || Number(m[6]) > 59) {
        r.parseExpected('valid ISO 8601 date and time in UTC');
      }
      r.moveNext();
      return tok.text;
    }
    case 'date': {
      const tok = r.expectIsAt('date', 'string');
      const m = LOCAL_DATE.exec(tok.text);
      if (!m || !validDate(m[1]!, m[2]!, m[3]!)) r.parseExpected('valid ISO 8601 date');
      r.moveNext();
      return tok.text;
    }
    case 'text':
    case 'party':
    case 'contractId': {
      const tok = r.expectIsAt('text', 'string');
      r.moveNext();
      return tok.text;
    }
  }
}

function decodeRecord(ty: RecordType, r: Reader): DamlRecordValue {
  const fields = ty.fields();
  const names = fields.map(([n]) => n);
  const args = new Map<string, DamlValue>();
  if (r.is('{')) {
    r.readStartObject();
    while (r.current !== undefined && !r.is('}')) {
      const field = r.readFieldName();
      const fieldType = fields.find(([n]) => n === field.name)?.[1];
      if (fieldType !== undefined) {
        args.set(field.name, decode(fieldType, r));
      } else if (r.is('null')) {
        // JsonLfReader.unknownField: a null-valued unknown field counts as absent.
        r.moveNext();
      } else {
        r.skipValue();
        r.fail(`Unknown field ${field.name} (known fields are [${names.join(', ')}])`, field.column);
      }
    }
    r.readEndObject();
  } else if (r.is('[')) {
    r.readStartArray();
    for (const [name, fieldType] of fields) args.set(name, decode(fieldType, r));
    r.readEndArray();
  } else {
    r.parseExpected('object or array');
  }
  const out: DamlRecordValue = {};
  for (const [name, fieldType] of fields) {
    const v = args.get(name);
    if (v !== undefined) out[name] = v;
    else if (fieldType.kind === 'optional') out[name] = null;
    else r.fail(`Missing field ${name}`);
  }
  return out;
}

function decodeVariant(ty: VariantType, r: Reader): DamlValue {
  const ctors = ty.constructors();
  const tags = ctors.map(([n]) => n);
  const typeOf = (tag: string): DamlType => ctors.find(([n]) => n === tag)![1];
  r.readStartObject();
  const field = r.readFieldName();
  let result: DamlValue;
  if (field.name === 'tag') {
    const tag = r.readFromText(tags);
    const valueField = r.readFieldName();
    if (valueField.name !== 'value') r.parseExpected('field value', valueField.name, valueField.column);
    result = { tag, value: decode(typeOf(tag), r) };
  } else if (field.name === 'value') {
    // The value comes first: keep it until the tag says how to read it.
    const unknown = r.skipValue();
    const tagField = r.readFieldName();
    if (tagField.name !== 'tag') r.parseExpected('field tag', tagField.name, tagField.column);
    const tag = r.readFromText(tags);
    result = { tag, value: decode(typeOf(tag), r.sub(unknown)) };
  } else {
    r.parseExpected('field tag or value', field.name, field.column);
  }
  r.readEndObject();
  return result;
}
