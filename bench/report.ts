import type { Summary } from './measure';

// What the benchmark prints and writes: one table of rows, each naming its
// engine, and the same figures (and more) as JSON results.

export const ENGINES = ['mysql', 'postgresql'] as const;
export type EngineKey = (typeof ENGINES)[number];

export interface Row {
  /** The engine of the grants or the floor the figure is of; none for the Temporal floor. */
  engine?: EngineKey;
  figure: string;
  unit: string;
  count: number;
  median: number;
  p99?: number;
  max?: number;
  note?: string;
}

export const rows: Row[] = [];
export const results: Record<string, unknown> = {};

export const add = (figure: string, unit: string, s: Summary | { count: number; median: number }, note?: string, engine?: EngineKey) => {
  rows.push({ ...(engine ? { engine } : {}), figure, unit, count: s.count, median: s.median, ...('p99' in s ? { p99: s.p99, max: s.max } : {}), ...(note ? { note } : {}) });
};

export const log = (line: string) => process.stderr.write(`[bench] ${line}\n`);

export function table(): string {
  const fmt = (n: number | undefined) => (n === undefined || Number.isNaN(n) ? '' : n >= 100 ? n.toFixed(0) : n.toFixed(1));
  const lines = [['engine', 'figure', 'unit', 'n', 'median', 'p99', 'max', 'note'], ...rows.map((r) => [r.engine ?? '', r.figure, r.unit, String(r.count), fmt(r.median), fmt(r.p99), fmt(r.max), r.note ?? ''])];
  const widths = lines[0]!.map((_, i) => Math.max(...lines.map((l) => l[i]!.length)));
  return lines.map((l) => l.map((c, i) => (i >= 3 && i <= 6 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n');
}
