import Table from 'cli-table3';

export interface Column<T> {
  header: string;
  value: (row: T) => unknown;
}

function cell(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/** Rows as a terminal table, or as JSON for scripts. */
export function printRows<T>(rows: readonly T[], columns: readonly Column<T>[], json: boolean): void {
  if (json) {
    console.log(JSON.stringify(rows, null, 2));
    return;
  }
  const table = new Table({ head: columns.map((c) => c.header) });
  for (const r of rows) table.push(columns.map((c) => cell(c.value(r))));
  console.log(rows.length === 0 ? '(none)' : table.toString());
}

/** One record as aligned "key: value" lines, or JSON. */
export function printRecord(record: Record<string, unknown>, json: boolean): void {
  if (json) {
    console.log(JSON.stringify(record, null, 2));
    return;
  }
  const table = new Table();
  for (const [k, v] of Object.entries(record)) table.push({ [k]: cell(v) });
  console.log(table.toString());
}
