/**
 * Reads the Prometheus text exposition format (what GET /metrics answers) into samples, enough
 * for tests to ask "what is the value of this series" and "the sum over these series".
 */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

function unescape(v: string): string {
  return v.replace(/\\(.)/g, (_m, c: string) => (c === 'n' ? '\n' : c));
}

function parseValue(v: string): number {
  if (v === '+Inf') return Number.POSITIVE_INFINITY;
  if (v === '-Inf') return Number.NEGATIVE_INFINITY;
  return Number(v);
}

export function parseExposition(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = SAMPLE.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(LABEL)) labels[l[1]!] = unescape(l[2]!);
    out.push({ name: m[1]!, labels, value: parseValue(m[3]!) });
  }
  return out;
}

/** Metric names declared with `# TYPE` (a labelled metric with no series yet has only these). */
export function declaredMetrics(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) out.set(m[1]!, m[2]!);
  return out;
}

export class Scrape {
  constructor(
    readonly samples: readonly Sample[],
    /** name → type (counter, gauge, histogram…) */
    readonly declared: ReadonlyMap<string, string> = new Map(),
  ) {}

  static parse(text: string): Scrape {
    return new Scrape(parseExposition(text), declaredMetrics(text));
  }

  series(name: string, match: Record<string, string> = {}): Sample[] {
    return this.samples.filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v));
  }

  has(name: string): boolean {
    return this.samples.some((s) => s.name === name);
  }

  /** Sum over the matching series (0 when none). */
  sum(name: string, match: Record<string, string> = {}): number {
    return this.series(name, match).reduce((a, s) => a + s.value, 0);
  }

  /** The one matching series' value; undefined when absent. */
  value(name: string, match: Record<string, string> = {}): number | undefined {
    const found = this.series(name, match);
    if (found.length > 1) throw new Error(`${found.length} series of ${name} match ${JSON.stringify(match)}`);
    return found[0]?.value;
  }
}
