import { z } from 'zod';

/**
 * Protobuf `oneof` as the JSON Ledger API encodes it: a single-key object whose key names the case.
 *
 * Hand-rolled instead of `z.union` of one-key objects because a union reports a broken case as an
 * opaque "invalid_union" at the parent path; here the present key selects the case, so an error
 * inside it keeps its full path (e.g. `update.Transaction.value.updateId`), which is what the
 * "fail closed, name the field" rule of ingestion needs. An unknown case (a newer server) fails
 * with the keys it saw rather than being silently stripped to `{}`.
 *
 * Whether a case wraps its payload in `{value: …}` differs per case in the spec, so callers pass
 * the exact per-case schema (see `valueWrapped`).
 */
type Cases = Record<string, z.ZodType>;

export type OneOfOutput<S extends Cases> = {
  [K in keyof S & string]: { [P in K]: z.output<S[K]> };
}[keyof S & string];

export type OneOfInput<S extends Cases> = {
  [K in keyof S & string]: { [P in K]: z.input<S[K]> };
}[keyof S & string];

export function oneOf<const S extends Cases>(name: string, cases: S): z.ZodType<OneOfOutput<S>, OneOfInput<S>> {
  const caseKeys = Object.keys(cases);
  const shape: Record<string, z.ZodType> = {};
  for (const [k, schema] of Object.entries(cases)) shape[k] = schema.optional();

  const schema = z
    .looseObject(shape)
    .superRefine((value, ctx) => {
      const present = caseKeys.filter((k) => value[k] !== undefined);
      if (present.length === 1) return;
      const seen = Object.keys(value);
      ctx.addIssue({
        code: 'custom',
        message:
          present.length === 0
            ? `${name}: expected exactly one of [${caseKeys.join(', ')}], got keys [${seen.join(', ')}]`
            : `${name}: expected exactly one case, got [${present.join(', ')}]`,
      });
    })
    .transform((value) => {
      const key = caseKeys.find((k) => value[k] !== undefined);
      // superRefine guarantees exactly one key; an object with only that key is the oneOf value.
      return (key === undefined ? {} : { [key]: value[key] }) as OneOfOutput<S>;
    });
  // The runtime schema enforces exactly one case; the cast only restores the precise union type
  // that TypeScript cannot derive from a dynamically built shape.
  return schema as unknown as z.ZodType<OneOfOutput<S>, OneOfInput<S>>;
}

/** The `{"value": …}` wrapper that most (not all) oneof cases use. */
export function valueWrapped<T extends z.ZodType>(inner: T) {
  return z.object({ value: inner });
}

/** A oneof case whose message has no fields, e.g. `{"Empty": {}}`: any object, contents ignored. */
export const EmptyCase = z.object({});
