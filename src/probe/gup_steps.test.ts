import { describe, it, expect } from 'vitest';
import { follNames, runsOf, selectEntries } from './gup_steps.js';

describe('raw GUP steps through the module', () => {
  it('spells flags as the kernel does; numbers are read with 6.18 values', () => {
    expect(follNames(['FOLL_WRITE', 'longterm'])).toEqual({ names: ['FOLL_WRITE', 'FOLL_LONGTERM'] });
    expect(follNames(undefined)).toEqual({ names: [] });
    const n = follNames(0x101);
    expect(n.names).toEqual(['FOLL_WRITE', 'FOLL_LONGTERM']);
    expect(n.note).toMatch(/6\.18/);
    expect(follNames(1 << 30).names).toEqual(['0x40000000']);
  });

  it('releases every entry of the range, released ones too, as the model does (a double release is made)', () => {
    const r = [false, false, true, false, true];
    expect(selectEntries(r, 0, 5)).toEqual({ indices: [0, 1, 2, 3, 4], again: true });
    expect(selectEntries(r, 0, 2)).toEqual({ indices: [0, 1], again: false });
    expect(selectEntries(r, 2, 3)).toEqual({ indices: [2], again: true });
    expect(selectEntries([true, true], 0, 2)).toEqual({ indices: [0, 1], again: true });
    expect(selectEntries([false], 0, 10)).toEqual({ indices: [0], again: false });
    expect(selectEntries([], 0, 3)).toEqual({ indices: [], again: false });
    expect(runsOf([0, 1, 3, 4, 5, 9])).toEqual([
      [0, 2],
      [3, 3],
      [9, 1],
    ]);
  });
});
