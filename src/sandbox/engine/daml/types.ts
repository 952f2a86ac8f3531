/**
 * Daml-LF type descriptions, as far as the double needs them to read JSON the way the real
 * servers do. Two readers interpret them: `codegen-json.ts` (the Java codegen's `fromJson`, what a
 * Splice registry uses on `choiceArguments`) and `transcode-json.ts` (Canton's JSON API v2
 * transcoder, what a participant uses on a command's `choiceArgument`). They agree on the shapes
 * but not on the details (array records, unknown fields, error wording), hence one description
 * and two readers.
 */

export type DamlType =
  | RecordType
  | VariantType
  | { readonly kind: 'enum'; readonly name: string; readonly constructors: readonly string[] }
  | { readonly kind: 'optional'; readonly of: DamlType }
  | { readonly kind: 'list'; readonly of: DamlType }
  | { readonly kind: 'textMap'; readonly of: DamlType }
  | { readonly kind: 'genMap'; readonly key: DamlType; readonly value: DamlType }
  | { readonly kind: 'numeric'; readonly scale: number }
  | { readonly kind: 'party' | 'text' | 'int64' | 'time' | 'date' | 'contractId' | 'unit' | 'bool' };

export interface RecordType {
  readonly kind: 'record';
  /** Qualified name, for messages only. */
  readonly name: string;
  /** In declaration order (array records are positional). A thunk so that types can recurse. */
  readonly fields: () => readonly (readonly [string, DamlType])[];
}

export interface VariantType {
  readonly kind: 'variant';
  readonly name: string;
  readonly constructors: () => readonly (readonly [string, DamlType])[];
}

/**
 * A decoded Daml value in the JSON shape the ledger itself prints: records as objects with every
 * declared field (an absent Optional is null), variants {tag, value}, Numeric as a string with
 * exactly `scale` fractional digits, Int64 as a string, maps as objects (TextMap) or pair lists
 * (GenMap), unit as {}.
 */
export type DamlValue = null | boolean | string | DamlValue[] | { [k: string]: DamlValue };
export type DamlRecordValue = { [k: string]: DamlValue };

export const t = {
  party: { kind: 'party' },
  text: { kind: 'text' },
  int64: { kind: 'int64' },
  time: { kind: 'time' },
  date: { kind: 'date' },
  contractId: { kind: 'contractId' },
  unit: { kind: 'unit' },
  bool: { kind: 'bool' },
  numeric: (scale: number): DamlType => ({ kind: 'numeric', scale }),
  optional: (of: DamlType): DamlType => ({ kind: 'optional', of }),
  list: (of: DamlType): DamlType => ({ kind: 'list', of }),
  textMap: (of: DamlType): DamlType => ({ kind: 'textMap', of }),
  genMap: (key: DamlType, value: DamlType): DamlType => ({ kind: 'genMap', key, value }),
  enumeration: (name: string, constructors: readonly string[]): DamlType => ({ kind: 'enum', name, constructors }),
  record: (name: string, fields: () => readonly (readonly [string, DamlType])[]): RecordType => ({
    kind: 'record',
    name,
    fields: memo(fields),
  }),
  variant: (name: string, constructors: () => readonly (readonly [string, DamlType])[]): VariantType => ({
    kind: 'variant',
    name,
    constructors: memo(constructors),
  }),
} as const satisfies Record<string, DamlType | ((...args: never[]) => DamlType)>;

function memo<T>(f: () => T): () => T {
  let v: T | undefined;
  return () => (v ??= f());
}

export function isOptional(ty: DamlType): boolean {
  return ty.kind === 'optional';
}

/** Numeric(scale) as the ledger prints it: plain digits, exactly `scale` fractional digits. */
export function canonicalNumeric(digits: string, scale: number): string {
  const m = /^(-?)(\d*)(?:\.(\d*))?$/.exec(digits);
  if (!m) throw new RangeError(`not a plain decimal: ${digits}`);
  const int = (m[2] ?? '').replace(/^0+(?=\d)/, '') || '0';
  const frac = (m[3] ?? '').padEnd(scale, '0');
  const zero = /^0*$/.test(int + frac);
  return `${m[1] === '-' && !zero ? '-' : ''}${int}${scale > 0 ? `.${frac}` : ''}`;
}
