// How report values are written, the same in the terminal, the markdown report and the playground.

import { isMeasured, type Cell, type Outcome, type Table } from './types.js';

/** An integer with thousands separators from five digits on (2,097,152); other numbers as they are. */
export function fmtNumber(n: number): string {
  if (Number.isInteger(n) && Math.abs(n) >= 10000) return n.toLocaleString('en-US');
  return String(n);
}

export function fmtCell(c: Cell): string {
  if (isMeasured(c)) return typeof c.measured === 'number' ? fmtNumber(c.measured) : c.measured;
  if (c === null) return '-';
  if (typeof c === 'boolean') return c ? 'yes' : 'no';
  if (typeof c === 'number') return fmtNumber(c);
  return c;
}

/**
 * Whether column j of a table aligns right: as the table says, else when every cell that is neither
 * empty nor measured is a number (measured cells do not decide: whether the host could be measured
 * must not change the layout).
 */
export function alignRight(t: Table, j: number): boolean {
  if (t.align) return t.align[j] === 'right';
  const fixed = t.rows.map((r) => r[j]).filter((c) => c !== null && c !== undefined && !isMeasured(c));
  return fixed.length > 0 && fixed.every((c) => typeof c === 'number');
}

export function outcomeText(o: Outcome): string {
  return `the claim ${o}`;
}

/** Bytes as the kernel documentation writes sizes: 4 KiB, 2 MiB, 1 GiB. */
export function fmtBytes(b: number): string {
  const units: Array<[number, string]> = [
    [2 ** 30, 'GiB'],
    [2 ** 20, 'MiB'],
    [2 ** 10, 'KiB'],
  ];
  for (const [u, s] of units) if (b >= u && b % u === 0) return `${b / u} ${s}`;
  return `${b} B`;
}
