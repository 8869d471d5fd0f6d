// Helpers the experiments share to turn their data into report parts: series that keep only the
// points where a value changes, means, percentages, and the multi-policy comparison table.

import type { Cell, Series, Table } from './types.js';

/** Points (i, values[i]) where the value changes, plus the first and the last: a step series stays small. */
export function changePoints(
  values: ArrayLike<number>,
  xOf: (i: number) => number = (i) => i,
): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let i = 0; i < values.length; i++) {
    if (i === 0 || i === values.length - 1 || values[i] !== values[i - 1]) out.push([xOf(i), values[i]!]);
  }
  return out;
}

export function mean(xs: readonly number[]): number {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0;
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) throw new RangeError('median of nothing');
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** x rounded to `digits` decimals (a number, for tables and facts). */
export function round(x: number, digits = 1): number {
  const k = 10 ** digits;
  return Math.round(x * k) / k;
}

/** part / whole in percent, rounded; 0 when whole is 0. */
export function pct(part: number, whole: number, digits = 2): number {
  return whole ? round((100 * part) / whole, digits) : 0;
}

/** Series with identical points merged into one, named after all of them ("a = b = c"). */
export function mergeIdentical(series: Series[]): Series[] {
  const out: Series[] = [];
  for (const s of series) {
    const same = out.find((o) => JSON.stringify(o.points) === JSON.stringify(s.points) && o.style === s.style);
    if (same) same.name = `${same.name} = ${s.name}`;
    else out.push({ ...s, points: [...s.points] });
  }
  return out;
}

/** One measure of a policy comparison: its column label and which way is better. */
export interface Measure {
  label: string;
  better?: 'lower' | 'higher';
}

/**
 * A comparison of policies (or setups) on the same workload: one row per policy, one column per
 * measure; "(lower is better)" and "(higher is better)" are said once in the notes, the columns
 * marked with a down or up arrow.
 */
export function comparisonTable(
  title: string,
  subject: string,
  measures: Measure[],
  rows: Array<{ name: string; values: Cell[] }>,
  notes: string[] = [],
): Table {
  for (const r of rows)
    if (r.values.length !== measures.length)
      throw new Error(`gupsim bug: comparison row ${r.name} has ${r.values.length} values for ${measures.length}`);
  const arrow = (m: Measure) => (m.better === 'lower' ? ' ↓' : m.better === 'higher' ? ' ↑' : '');
  const marked = measures.some((m) => m.better);
  return {
    title,
    columns: [subject, ...measures.map((m) => m.label + arrow(m))],
    rows: rows.map((r) => [r.name, ...r.values]),
    notes: marked ? [...notes, '↓: lower is better; ↑: higher is better.'] : notes,
  };
}
