import { fail } from './errors.js';
import { daysToIsoDate, microsToIso } from './time.js';
import type { Value } from './types.js';

/** JSON as the JSON Ledger API writes Daml values (the Daml-LF JSON encoding). */
export type DamlJson = null | boolean | string | DamlJson[] | { [key: string]: DamlJson };

/**
 * A protobuf Daml value in the Daml-LF JSON encoding the JSON Ledger API uses, so a decoded
 * prepared transaction can be compared with what we sent in `choiceArgument`:
 * records → objects by label; Int64 and Numeric → strings; Optional → null | value (nested
 * optionals as [] / [value]); variants → {tag, value}; enums → the constructor; TextMap → object;
 * GenMap → [[key, value], ...]; Timestamp → ISO with microseconds; Date → YYYY-MM-DD;
 * Party, Text, ContractId → strings; Unit → {}.
 */
export function damlValueToJson(v: Value): DamlJson {
  switch (v.kind) {
    case 'unit':
      return {};
    case 'bool':
      return v.value;
    case 'int64':
      return v.value.toString();
    case 'numeric':
    case 'party':
    case 'text':
    case 'contractId':
      return v.value;
    case 'timestamp':
      return microsToIso(v.value);
    case 'date':
      return daysToIsoDate(v.value);
    case 'optional':
      return optionalToJson(v);
    case 'list':
      return v.elements.map(damlValueToJson);
    case 'textMap':
      return uniqueObject(
        v.entries.map((e) => [e.key, damlValueToJson(e.value)]),
        'text map key',
      );
    case 'genMap':
      return v.entries.map((e) => [damlValueToJson(e.key), damlValueToJson(e.value)]);
    case 'record':
      return uniqueObject(
        v.fields.map((f) => {
          if (f.label === '') fail('VALUE', 'record field without a label cannot be written as Daml-LF JSON');
          return [f.label, damlValueToJson(f.value)];
        }),
        'record field',
      );
    case 'variant':
      return { tag: v.tag, value: damlValueToJson(v.value) };
    case 'enum':
      return v.tag;
  }
}

/** None → null; Some x → x, except when x is itself optional: Some None → [], Some (Some y) → [...]. */
function optionalToJson(v: Extract<Value, { kind: 'optional' }>): DamlJson {
  if (!v.value) return null;
  const inner = v.value;
  if (inner.kind !== 'optional') return damlValueToJson(inner);
  return inner.value ? [optionalToJson(inner)] : [];
}

/** Object.fromEntries defines own properties, so "__proto__" stays a plain key, never a prototype. */
function uniqueObject(entries: [string, DamlJson][], what: string): { [key: string]: DamlJson } {
  const seen = new Set<string>();
  for (const [k] of entries) {
    if (seen.has(k)) fail('VALUE', `duplicate ${what} "${k}"`);
    seen.add(k);
  }
  return Object.fromEntries(entries);
}
