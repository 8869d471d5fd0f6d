// Unit tests for MADV_COLLAPSE (mm/khugepaged.ts): the per-PMD walk of madvise_collapse() and its
// result mapping (madvise_collapse_errno()), as read from mm/khugepaged.c.

import { describe, it, expect } from 'vitest';
import { Machine } from './machine.js';
import { type Process } from './task.js';
import { EAGAIN, EINVAL } from '../uapi/errno.js';
import { do_mmap } from './mmap.js';
import { do_madvise } from './madvise.js';
import { userAccess } from './user_access.js';
import { pin_user_pages, unpin_user_pages } from './gup.js';
import { FOLL_WRITE } from './foll_flags.js';
import { PAGE_SIZE, PMD_SIZE } from './memmap.js';

const PAGE = PAGE_SIZE;

/** A PMD-aligned anon region of `pmds` PMDs, not THP-faulted (MADV_NOHUGEPAGE off again after). */
function region(m: Machine, p: Process, pmds: number): number {
  const a = do_mmap(m, p, { size: pmds * PMD_SIZE, type: 'anon' });
  expect(a % PMD_SIZE).toBe(0);
  expect(do_madvise(m, p, a, pmds * PMD_SIZE, 'nohugepage')).toBe(0);
  return a;
}

function allowCollapse(m: Machine, p: Process, a: number, len: number): void {
  expect(do_madvise(m, p, a, len, 'hugepage')).toBe(0);
}

describe('MADV_COLLAPSE (madvise_collapse)', () => {
  it(
    'madvise_collapse(): a pinned page fails its own PMD range (SCAN_PAGE_COUNT) but the next range is still ' +
      'collapsed; the result is -EAGAIN',
    () => {
      const m = new Machine({ memory: 256 << 20 });
      const p = m.spawn('app');
      const a = region(m, p, 2);
      expect(userAccess(m, p, a, 8 * PAGE, true)).toBe(0);
      expect(userAccess(m, p, a + PMD_SIZE, 8 * PAGE, true)).toBe(0);
      allowCollapse(m, p, a, 2 * PMD_SIZE);
      const pages = new Int32Array(1);
      expect(pin_user_pages(m, p, a, 1, FOLL_WRITE, pages)).toBe(1);
      expect(do_madvise(m, p, a, 2 * PMD_SIZE, 'collapse')).toBe(-EAGAIN);
      expect(p.mm.pt.pmdLeaf(a)).toBeFalsy();
      expect(p.mm.pt.pmdLeaf(a + PMD_SIZE)).toBeTruthy();
      unpin_user_pages(m, pages, 1);
    },
  );

  it('thp_vma_allowable_order(TVA_FORCED_COLLAPSE): an anon VMA never written (no anon_vma) is -EINVAL', () => {
    const m = new Machine({ memory: 256 << 20 });
    const p = m.spawn('app');
    const a = region(m, p, 1);
    allowCollapse(m, p, a, PMD_SIZE);
    expect(do_madvise(m, p, a, PMD_SIZE, 'collapse')).toBe(-EINVAL);
    expect(p.mm.pt.pmdLeaf(a)).toBeFalsy();
  });

  it(
    'find_pmd_or_thp_or_none(): a PMD range without a page table is not collapsed (SCAN_PMD_NULL, -EINVAL); the ' +
      'populated range is',
    () => {
      const m = new Machine({ memory: 256 << 20 });
      const p = m.spawn('app');
      const a = region(m, p, 2);
      expect(userAccess(m, p, a, PAGE, true)).toBe(0);
      allowCollapse(m, p, a, 2 * PMD_SIZE);
      expect(do_madvise(m, p, a, 2 * PMD_SIZE, 'collapse')).toBe(-EINVAL);
      expect(p.mm.pt.pmdLeaf(a)).toBeTruthy();
      expect(p.mm.pt.pmdLeaf(a + PMD_SIZE)).toBeFalsy();
    },
  );

  it('madvise_collapse(): a range covering no whole PMD is 0 from a PMD boundary, -EINVAL from inside a PMD', () => {
    const m = new Machine({ memory: 256 << 20 });
    const p = m.spawn('app');
    const a = region(m, p, 1);
    expect(userAccess(m, p, a, PAGE, true)).toBe(0);
    allowCollapse(m, p, a, PMD_SIZE);
    expect(do_madvise(m, p, a, PAGE, 'collapse')).toBe(0);
    expect(do_madvise(m, p, a + PAGE, PAGE, 'collapse')).toBe(-EINVAL);
    expect(p.mm.pt.pmdLeaf(a)).toBeFalsy();
  });
});
