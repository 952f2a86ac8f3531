import Table from 'cli-table3';

export interface Column<T> {
  header: string;
  value: (row: T) => unknown;
}

/**
 * Colour only for a person at a terminal: never when the output goes to a pipe or a file (another
 * program would read the escape codes as text), never with NO_COLOR set (no-color.org);
 * FORCE_COLOR (not "0") asks for it anyway.
 */
export function useColour(stream: { isTTY?: boolean } = process.stdout, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '') return env.FORCE_COLOR !== '0';
  return stream.isTTY === true;
}

function table(options: { head?: string[] } = {}): Table.Table {
  // cli-table3 colours its header and borders unless told otherwise, whatever the stream.
  return new Table({ ...options, ...(useColour() ? {} : { style: { head: [], border: [] } }) });
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isScalar = (v: unknown) => v === null || v === undefined || typeof v !== 'object';
const scalar = (v: unknown) => (v === null || v === undefined ? '' : String(v));

/**
 * A value as table text, never as a JSON blob: scalars as they are, lists of scalars joined, a
 * small object of scalars as `key: value` pairs; anything deeper is only counted, `--json` has it.
 */
function cell(v: unknown): string {
  if (isScalar(v)) return scalar(v);
  if (Array.isArray(v)) {
    if (v.every(isScalar)) return v.map(scalar).join(', ');
    return `${v.length} item${v.length === 1 ? '' : 's'} (--json for them)`;
  }
  const entries = Object.entries(v as Record<string, unknown>);
  if (entries.length === 0) return '';
  if (entries.every(([, x]) => isScalar(x))) return entries.map(([k, x]) => `${k}: ${scalar(x)}`).join(', ');
  return `${entries.length} fields (--json for them)`;
}

/** A record's nested objects as dotted keys (`instrument.admin`), so each line holds one value. */
function flatten(record: Record<string, unknown>, prefix = '', depth = 0, out: [string, string][] = []): [string, string][] {
  for (const [k, v] of Object.entries(record)) {
    const key = prefix === '' ? k : `${prefix}.${k}`;
    if (isPlainObject(v) && Object.keys(v).length > 0 && depth < 3) flatten(v, key, depth + 1, out);
    else out.push([key, cell(v)]);
  }
  return out;
}

/** Rows as a terminal table, or as JSON for scripts. */
export function printRows<T>(rows: readonly T[], columns: readonly Column<T>[], json: boolean): void {
  if (json) {
    console.log(JSON.stringify(rows, null, 2));
    return;
  }
  const t = table({ head: columns.map((c) => c.header) });
  for (const r of rows) t.push(columns.map((c) => cell(c.value(r))));
  console.log(rows.length === 0 ? '(none)' : t.toString());
}

/** One record as aligned "key: value" lines, or JSON. */
export function printRecord(record: Record<string, unknown>, json: boolean): void {
  if (json) {
    console.log(JSON.stringify(record, null, 2));
    return;
  }
  const t = table();
  for (const [k, v] of flatten(record)) t.push({ [k]: v });
  console.log(t.toString());
}
