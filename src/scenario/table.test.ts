// The one table renderer (run, probe, diff, tour, vmstat): columns as wide as their widest cell,
// whatever the label lengths; detail lines under their row; counters as `total (+delta)`.

import { describe, it, expect } from 'vitest';
import { counter, renderTable } from './table.js';

/** Where each header's column starts in the header line. */
function starts(header: string, names: string[]): number[] {
  let from = 0;
  return names.map((n) => (from = header.indexOf(n, from)));
}

describe('renderTable', () => {
  it('keeps every column aligned whatever the label length', () => {
    for (const label of ['mmap', 'io_uring_register_buffers [a_very_long_label_indeed_longer_than_any_column]']) {
      const lines = renderTable(
        ['#', 'step', 'acquired', 'notes'],
        [{ cells: ['0', 'write', '1 (+1)', 'short'] }, { cells: ['12', label, '1024 (+1023)', 'a note'] }],
      );
      const at = starts(lines[0]!, ['#', 'step', 'acquired', 'notes']);
      for (const l of lines.slice(1)) {
        // Each cell starts where its header does, after at least two spaces.
        for (const c of [1, 2, 3]) expect(l.slice(at[c]! - 2, at[c]!)).toBe('  ');
        expect(l.slice(at[2]!).split(/\s{2,}/)[0]).toMatch(/^\d+( \(\+\d+\))?$/);
      }
      expect(lines[2]!.slice(at[1]!)).toMatch(new RegExp(`^${label.replace(/[[\]]/g, '\\$&')} `));
    }
  });

  it('prints detail lines indented under their row, and trims trailing spaces', () => {
    const lines = renderTable(['a', 'b'], [{ cells: ['x', ''], details: ['first', 'second'] }], { indent: '  ' });
    expect(lines).toEqual(['  a  b', '  x', '        first', '        second']);
  });

  it('right-aligns the columns asked for', () => {
    expect(renderTable(['n', 'x'], [{ cells: ['7', 'a'] }, { cells: ['123', 'b'] }], { right: [0] })).toEqual([
      '  n  x',
      '  7  a',
      '123  b',
    ]);
  });
});

describe('counter', () => {
  it('is total (+delta), the delta left out when 0', () => {
    expect(counter(256, 256)).toBe('256 (+256)');
    expect(counter(256, 0)).toBe('256');
    expect(counter(3, -2)).toBe('3 (-2)');
  });
});
