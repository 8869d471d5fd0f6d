// The one renderer of gupsim's human tables (run, probe, diff, tour, vmstat): columns as wide as
// their widest cell, whatever the label lengths, the last column left free; rows may carry indented
// detail lines. Counters are shown one way everywhere: `total (+delta)`.

/** A table row: its cells, and lines printed under it (indented, outside the columns). */
export interface Row {
  cells: string[];
  details?: string[];
}

export interface TableOptions {
  /** Spaces between columns (default 2). */
  gap?: number;
  /** Prefix of every line (default none). */
  indent?: string;
  /** Indent of a row's detail lines, after `indent` (default 6 spaces). */
  detailIndent?: string;
  /** Columns to right-align (numbers). */
  right?: number[];
}

/** Lines of a table: a header row, then the rows. Trailing spaces are trimmed. */
export function renderTable(headers: string[], rows: Row[], o: TableOptions = {}): string[] {
  const gap = ' '.repeat(o.gap ?? 2);
  const indent = o.indent ?? '';
  const detail = o.detailIndent ?? '      ';
  const right = new Set(o.right ?? []);
  const ncol = headers.length;
  const width = headers.map((h) => h.length);
  for (const r of rows)
    r.cells.forEach((c, i) => {
      if (i < ncol) width[i] = Math.max(width[i] ?? 0, c.length);
    });
  const line = (cells: string[]) =>
    (
      indent +
      cells
        .map((c, i) => {
          if (i === cells.length - 1 && !right.has(i)) return c;
          return right.has(i) ? c.padStart(width[i]!) : c.padEnd(width[i]!);
        })
        .join(gap)
    ).trimEnd();
  const out = [line(headers)];
  for (const r of rows) {
    out.push(line(r.cells));
    for (const d of r.details ?? []) out.push(`${indent}${detail}${d}`.trimEnd());
  }
  return out;
}

/** A counter as `total (+delta)`; the delta is left out when it is 0. */
export function counter(total: number, delta: number): string {
  if (delta === 0) return String(total);
  return `${total} (${delta > 0 ? '+' : ''}${delta})`;
}
