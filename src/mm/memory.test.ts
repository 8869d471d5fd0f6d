// Unit tests for mm/memory.ts (and the THP fault paths of huge_memory.ts, MADV_COLLAPSE): one `it`
// per kernel rule, named after the rule and the kernel function that applies it. Expectations come
// from the kernel source (mm/memory.c, mm/huge_memory.c, mm/khugepaged.c, mm/gup.c) as summarised in
// ../../../shared/spec/cow-fork.md and accounting.md.

import { describe, it, expect } from 'vitest';
import { Machine } from './machine.js';
import { ZERO_PFN, PAGE_SIZE, PMD_SIZE, PMD_ORDER } from './memmap.js';
import type { Process } from './task.js';
import { do_exit } from '../kernel/exit.js';
import { EAGAIN, EFAULT, ENOMEM } from '../uapi/errno.js';
import { do_mmap, do_munmap } from './mmap.js';
import { do_mprotect_pkey } from './mprotect.js';
import { do_madvise } from './madvise.js';
import { userAccess } from './user_access.js';
import { pin_user_pages, unpin_user_pages, get_user_pages, put_page } from './gup.js';
import { FOLL_WRITE, FOLL_LONGTERM } from './foll_flags.js';
import { pte_pfn, pte_write, pte_dirty, pte_present, pte_special } from './pgtable.js';
import { is_huge_zero_folio } from './huge_mm.js';
import { __split_huge_pmd } from './huge_memory.js';
import { AddressSpace } from './fs.js';
import { fork, pinCounters } from '../../test/support.js';
import { lru_add_drain, lruBatchRefs } from './swap.js';

const PAGE = PAGE_SIZE;

function pte(p: Process, addr: number): number {
  return p.mm.pt.pte(addr);
}

function pfnAt(p: Process, addr: number): number {
  return pte_pfn(pte(p, addr));
}

describe('do_anonymous_page()', () => {
  it(
    'do_anonymous_page(): a read fault of untouched private anon memory maps the shared zero page (special PTE, ' +
      'read-only, no reference, no RSS)',
    () => {
      const m = new Machine({ memory: 256 << 20 });
      const p = m.spawn('app');
      const a = do_mmap(m, p, { size: 16 * PAGE, type: 'anon' });
      const free = m.alloc.nr_free_pages();
      const zeroRefs = m.mem.refcount[ZERO_PFN];
      expect(userAccess(m, p, a, 4 * PAGE, false)).toBe(0);
      for (let i = 0; i < 4; i++) {
        const e = pte(p, a + i * PAGE);
        expect(pte_pfn(e)).toBe(ZERO_PFN);
        expect(pte_special(e)).toBe(true);
        expect(pte_write(e)).toBe(false);
      }
      expect(m.mem.refcount[ZERO_PFN]).toBe(zeroRefs);
      expect(p.mm.rss_anon).toBe(0);
      expect(m.alloc.nr_free_pages()).toBe(free);
    },
  );

  it(
    'do_anonymous_page() / wp_page_copy(): a write allocates a new exclusive anon page (refcount 1, mapcount 1), ' +
      'mapped writable and dirty; over the zero page too',
    () => {
      const m = new Machine({ memory: 256 << 20 });
      const p = m.spawn('app');
      const a = do_mmap(m, p, { size: 16 * PAGE, type: 'anon' });
      const free = m.alloc.nr_free_pages();
      expect(userAccess(m, p, a, PAGE, true)).toBe(0); // untouched page
      expect(userAccess(m, p, a + PAGE, PAGE, false)).toBe(0); // zero page first ...
      expect(userAccess(m, p, a + PAGE, PAGE, true)).toBe(0); // ... then written
      for (const addr of [a, a + PAGE]) {
        const e = pte(p, addr);
        const pfn = pte_pfn(e);
        expect(pfn).not.toBe(ZERO_PFN);
        expect(pte_write(e)).toBe(true);
        expect(pte_dirty(e)).toBe(true);
        expect(m.mem.folio_test_anon(pfn)).toBe(true);
        expect(m.mem.folio_order(pfn)).toBe(0);
        expect(m.mem.PageAnonExclusive(pfn)).toBe(true);
        // The mapping's reference, and the lru_add batch's until the batch is moved (folio_add_lru_vma()).
        expect(m.mem.refcount[pfn]).toBe(2);
        expect(lruBatchRefs(m, pfn)).toBe(1);
        expect(m.mem.mapcount[pfn]).toBe(1);
      }
      lru_add_drain(m);
      for (const addr of [a, a + PAGE]) expect(m.mem.refcount[pte_pfn(pte(p, addr))]).toBe(1);
      expect(p.mm.rss_anon).toBe(2);
      expect(m.alloc.nr_free_pages()).toBe(free - 2);
    },
  );
});

describe('mm_forbids_zeropage() (machine.zero_page: false)', () => {
  it(
    'do_anonymous_page(): a read fault allocates a zeroed exclusive anon page instead of the zero page, mapped ' +
      'dirty and writable in a writable VMA, read-only and clean in a read-only one',
    () => {
      const m = new Machine({ memory: 256 << 20, zero_page: false });
      const p = m.spawn('app');
      const rw = do_mmap(m, p, { size: 16 * PAGE, type: 'anon' });
      const ro = do_mmap(m, p, { size: 16 * PAGE, type: 'anon', prot: 'r' });
      const free = m.alloc.nr_free_pages();
      const zeroRefs = m.mem.refcount[ZERO_PFN];
      expect(userAccess(m, p, rw, 2 * PAGE, false)).toBe(0);
      expect(userAccess(m, p, ro, PAGE, false)).toBe(0);
      for (const [addr, writable] of [
        [rw, true],
        [rw + PAGE, true],
        [ro, false],
      ] as const) {
        const e = pte(p, addr);
        const pfn = pte_pfn(e);
        expect(pfn).not.toBe(ZERO_PFN);
        expect(pte_special(e)).toBe(false);
        expect(pte_write(e)).toBe(writable);
        expect(pte_dirty(e)).toBe(writable);
        expect(m.mem.folio_test_anon(pfn)).toBe(true);
        expect(m.mem.PageAnonExclusive(pfn)).toBe(true);
        expect(m.mem.mapcount[pfn]).toBe(1);
      }
      expect(m.mem.refcount[ZERO_PFN]).toBe(zeroRefs);
      expect(p.mm.rss_anon).toBe(3);
      expect(m.alloc.nr_free_pages()).toBe(free - 3);
    },
  );

  it('alloc_anon_folio(): the read fault takes the mTHP order the policy allows, as a write would', () => {
    const m = new Machine({ memory: 256 << 20, zero_page: false, mthp: { '64K': 'always' } });
    const p = m.spawn('app');
    const a = do_mmap(m, p, { size: 256 << 10, type: 'anon', align: 64 << 10 });
    expect(userAccess(m, p, a + PAGE, 1, false)).toBe(0);
    const folio = m.mem.page_folio(pfnAt(p, a));
    expect(m.mem.folio_order(folio)).toBe(4);
    expect(pte_write(pte(p, a + 15 * PAGE))).toBe(true);
    expect(m.vmstat.mthp.get(4)).toEqual({ anon_fault_alloc: 1, anon_fault_fallback: 0 });
  });

  it('do_huge_pmd_anonymous_page(): a read fault allocates the THP even with use_zero_page=1', () => {
    const m = new Machine({ memory: 256 << 20, zero_page: false });
    const p = m.spawn('app');
    const a = do_mmap(m, p, { size: PMD_SIZE, type: 'anon' });
    expect(do_madvise(m, p, a, PMD_SIZE, 'hugepage')).toBe(0);
    expect(userAccess(m, p, a, 1, false)).toBe(0);
    expect(m.huge_zero_folio).toBe(-1);
    expect(m.vmstat.get('thp_zero_page_alloc')).toBe(0);
    const e = p.mm.pt.pmdLeaf(a);
    expect(m.mem.folio_order(pte_pfn(e))).toBe(PMD_ORDER);
    expect(pte_write(e)).toBe(true);
    expect(m.vmstat.get('thp_fault_alloc')).toBe(1);
  });

  it(
    'try_grab_folio(): a read-only pin of never-touched memory faults in real pages and counts every pin ' +
      '(no zero page to skip)',
    () => {
      for (const zero_page of [true, false]) {
        const m = new Machine({ memory: 256 << 20, zero_page });
        const p = m.spawn('app');
        const a = do_mmap(m, p, { size: 8 * PAGE, type: 'anon' });
        const pages = new Int32Array(8);
        expect(pin_user_pages(m, p, a, 8, 0, pages)).toBe(8);
        expect(pinCounters(m)).toEqual([zero_page ? 0 : 8, 0]);
        expect([...pages].every((pfn) => pfn === ZERO_PFN)).toBe(zero_page);
        unpin_user_pages(m, pages, 8);
        expect(pinCounters(m)).toEqual(zero_page ? [0, 0] : [8, 8]);
      }
    },
  );
});

describe('THP and mTHP fault policy (thp_vma_allowable_orders)', () => {
  function thpFault(
    cfg: Partial<ConstructorParameters<typeof Machine>[0]>,
    advice?: 'hugepage' | 'nohugepage',
  ): { m: Machine; p: Process; a: number } {
    const m = new Machine({ memory: 256 << 20, ...cfg });
    const p = m.spawn('app');
    const a = do_mmap(m, p, { size: PMD_SIZE, type: 'anon' });
    expect(a % PMD_SIZE).toBe(0);
    if (advice) expect(do_madvise(m, p, a, PMD_SIZE, advice)).toBe(0);
    expect(userAccess(m, p, a + 5 * PAGE, 1, true)).toBe(0);
    return { m, p, a };
  }

  function expectThp(m: Machine, p: Process, a: number): void {
    const e = p.mm.pt.pmdLeaf(a);
    expect(e).not.toBe(0);
    const folio = pte_pfn(e);
    expect(m.mem.folio_order(folio)).toBe(PMD_ORDER);
    expect(m.mem.folio_test_anon(folio)).toBe(true);
    expect(m.mem.PageAnonExclusive(folio)).toBe(true);
    expect(m.mem.refcount[folio]).toBe(1);
    expect(m.mem.folio_entire_mapcount(folio)).toBe(1);
    expect(pte_write(e)).toBe(true);
    expect(pte_dirty(e)).toBe(true);
    expect(p.mm.rss_anon).toBe(512);
    expect(m.vmstat.get('thp_fault_alloc')).toBe(1);
    expect(m.vmstat.get('nr_anon_transparent_hugepages')).toBe(1);
  }

  function expectSmall(m: Machine, p: Process, a: number): void {
    expect(p.mm.pt.pmdLeaf(a)).toBe(0);
    const pfn = pfnAt(p, a + 5 * PAGE);
    expect(m.mem.folio_order(m.mem.page_folio(pfn))).toBe(0);
    expect(pte_present(pte(p, a))).toBe(false);
    expect(p.mm.rss_anon).toBe(1);
    expect(m.vmstat.get('thp_fault_alloc')).toBe(0);
  }

  it('do_huge_pmd_anonymous_page(): enabled=always maps a PMD-sized THP on the first write without madvise', () => {
    const { m, p, a } = thpFault({ thp: 'always' });
    expectThp(m, p, a);
  });

  it('thp_vma_allowable_orders(): enabled=always but MADV_NOHUGEPAGE (VM_NOHUGEPAGE) gives base pages', () => {
    const { m, p, a } = thpFault({ thp: 'always' }, 'nohugepage');
    expectSmall(m, p, a);
  });

  it('thp_vma_allowable_orders(): enabled=madvise gives base pages without MADV_HUGEPAGE ...', () => {
    const { m, p, a } = thpFault({ thp: 'madvise' });
    expectSmall(m, p, a);
  });

  it('thp_vma_allowable_orders(): ... and a THP with MADV_HUGEPAGE (VM_HUGEPAGE)', () => {
    const { m, p, a } = thpFault({ thp: 'madvise' }, 'hugepage');
    expectThp(m, p, a);
  });

  it('thp_vma_allowable_orders(): enabled=never gives base pages even with MADV_HUGEPAGE', () => {
    const { m, p, a } = thpFault({ thp: 'never' }, 'hugepage');
    expectSmall(m, p, a);
  });

  it(
    'alloc_anon_folio(): an mTHP size set to always (hugepages-64kB/enabled) gives order-4 folios, PTE-mapped, one ' +
      'reference and one mapcount per PTE',
    () => {
      const m = new Machine({ memory: 256 << 20, mthp: { '64K': 'always' } });
      const p = m.spawn('app');
      const a = do_mmap(m, p, { size: 256 << 10, type: 'anon', align: 64 << 10 });
      expect(a % (64 << 10)).toBe(0);
      // A write in the second 64K block faults the whole naturally aligned block in.
      expect(userAccess(m, p, a + 16 * PAGE + 5 * PAGE, 1, true)).toBe(0);
      const folio = m.mem.page_folio(pfnAt(p, a + 16 * PAGE));
      expect(m.mem.folio_order(folio)).toBe(4);
      for (let k = 0; k < 16; k++) {
        const e = pte(p, a + (16 + k) * PAGE);
        expect(pte_pfn(e)).toBe(folio + k);
        expect(pte_write(e)).toBe(true);
        expect(m.mem.mapcount[folio + k]).toBe(1);
        expect(m.mem.PageAnonExclusive(folio + k)).toBe(true);
      }
      expect(m.mem.refcount[folio]).toBe(16);
      expect(m.mem.folio_mapcount(folio)).toBe(16);
      expect(p.mm.pt.pmdLeaf(a)).toBe(0);
      expect(pte_present(pte(p, a))).toBe(false);
      expect(pte_present(pte(p, a + 32 * PAGE))).toBe(false);
      expect(p.mm.rss_anon).toBe(16);
      expect(m.vmstat.mthp.get(4)?.anon_fault_alloc).toBe(1);
    },
  );

  it(
    '__split_huge_pmd_locked(): a dirty anon PMD sets PG_dirty on the folio; the PTEs inherit dirty, exclusive and ' +
      'one reference each',
    () => {
      const { m, p, a } = thpFault({ thp: 'always' });
      const folio = pte_pfn(p.mm.pt.pmdLeaf(a));
      expect(m.mem.folio_test_dirty(folio)).toBe(false);
      __split_huge_pmd(m, p.mm.vma_lookup(a)!, a);
      expect(m.mem.folio_test_dirty(folio)).toBe(true);
      expect(pte_dirty(pte(p, a + 7 * PAGE))).toBe(true);
      expect(m.mem.PageAnonExclusive(folio + 7)).toBe(true);
      expect(m.mem.refcount[folio]).toBe(512);
    },
  );

  it(
    'alloc_anon_folio(): an mTHP allocation that fails falls back to order 0 without counting /proc/vmstat ' +
      'thp_fault_fallback (only PMD-sized fallbacks do)',
    () => {
      const m = new Machine({ memory: 256 << 20, mthp: { '64K': 'always' } });
      const p = m.spawn('app');
      const a = do_mmap(m, p, { size: 256 << 10, type: 'anon', align: 64 << 10 });
      const real = m.folio_alloc.bind(m);
      m.folio_alloc = (order: number, movable?: boolean) => (order > 0 ? -1 : real(order, movable));
      expect(userAccess(m, p, a, 1, true)).toBe(0);
      expect(m.mem.folio_order(m.mem.page_folio(pfnAt(p, a)))).toBe(0);
      expect(m.vmstat.get('thp_fault_fallback')).toBe(0);
      expect(m.vmstat.mthp.get(4)).toEqual({ anon_fault_alloc: 0, anon_fault_fallback: 1 });
    },
  );

  it('alloc_anon_folio(): mTHP sizes default to never (only 2M inherits the top-level setting): order-0 pages', () => {
    const m = new Machine({ memory: 256 << 20, thp: 'always' });
    const p = m.spawn('app');
    const a = do_mmap(m, p, { size: 256 << 10, type: 'anon', align: 64 << 10 });
    expect(userAccess(m, p, a, 1, true)).toBe(0);
    expect(m.mem.folio_order(m.mem.page_folio(pfnAt(p, a)))).toBe(0);
    expect(pte_present(pte(p, a + PAGE))).toBe(false);
  });
});

describe('huge zero folio (transparent_hugepage/use_zero_page)', () => {
  it(
    'do_huge_pmd_anonymous_page(): a read fault of a THP-eligible range maps the huge zero folio (allocated once, ' +
      'shared by every mapping)',
    () => {
      const m = new Machine({ memory: 256 << 20 });
      const p = m.spawn('app');
      const a = do_mmap(m, p, { size: 2 * PMD_SIZE, type: 'anon' });
      expect(do_madvise(m, p, a, 2 * PMD_SIZE, 'hugepage')).toBe(0);
      expect(userAccess(m, p, a, 1, false)).toBe(0);
      expect(userAccess(m, p, a + PMD_SIZE, 1, false)).toBe(0);
      const e1 = p.mm.pt.pmdLeaf(a);
      const e2 = p.mm.pt.pmdLeaf(a + PMD_SIZE);
      expect(is_huge_zero_folio(m, pte_pfn(e1))).toBe(true);
      expect(pte_pfn(e2)).toBe(pte_pfn(e1));
      expect(pte_write(e1)).toBe(false);
      expect(m.vmstat.get('thp_zero_page_alloc')).toBe(1);
      expect(p.mm.rss_anon).toBe(0);
    },
  );

  it(
    'do_huge_zero_wp_pmd(): a write to the huge zero PMD replaces it with a new THP mapped writable and dirty ' +
      '(map_anon_folio_pmd)',
    () => {
      const m = new Machine({ memory: 256 << 20 });
      const p = m.spawn('app');
      const a = do_mmap(m, p, { size: PMD_SIZE, type: 'anon' });
      expect(do_madvise(m, p, a, PMD_SIZE, 'hugepage')).toBe(0);
      expect(userAccess(m, p, a, 1, false)).toBe(0);
      const zero = m.huge_zero_folio;
      expect(userAccess(m, p, a + 9 * PAGE, 1, true)).toBe(0);
      const e = p.mm.pt.pmdLeaf(a);
      const folio = pte_pfn(e);
      expect(folio).not.toBe(zero);
      expect(m.mem.folio_order(folio)).toBe(PMD_ORDER);
      expect(m.mem.PageAnonExclusive(folio)).toBe(true);
      expect(pte_write(e)).toBe(true);
      expect(pte_dirty(e)).toBe(true);
      expect(m.huge_zero_folio).toBe(zero); // the huge zero folio stays for other users
      expect(p.mm.rss_anon).toBe(512);
    },
  );

  it(
    'do_huge_pmd_anonymous_page(): with use_zero_page=0 a read fault allocates the THP, mapped writable and dirty ' +
      'like a write fault (map_anon_folio_pmd)',
    () => {
      const m = new Machine({ memory: 256 << 20, use_zero_page: false });
      const p = m.spawn('app');
      const a = do_mmap(m, p, { size: PMD_SIZE, type: 'anon' });
      expect(do_madvise(m, p, a, PMD_SIZE, 'hugepage')).toBe(0);
      expect(userAccess(m, p, a, 1, false)).toBe(0);
      expect(m.huge_zero_folio).toBe(-1);
      const e = p.mm.pt.pmdLeaf(a);
      expect(m.mem.folio_order(pte_pfn(e))).toBe(PMD_ORDER);
      expect(pte_write(e)).toBe(true);
      expect(pte_dirty(e)).toBe(true);
    },
  );

  it(
    'gup_must_unshare() + do_huge_zero_wp_pmd(): a FOLL_LONGTERM R/O pin of a huge zero PMD unshares it into a new ' +
      'exclusive THP (FAULT_FLAG_UNSHARE takes the same path as a write)',
    () => {
      const m = new Machine({ memory: 256 << 20 });
      const p = m.spawn('app');
      const a = do_mmap(m, p, { size: PMD_SIZE, type: 'anon' });
      expect(do_madvise(m, p, a, PMD_SIZE, 'hugepage')).toBe(0);
      expect(userAccess(m, p, a, 1, false)).toBe(0);
      const zero = m.huge_zero_folio;
      const pages = new Int32Array(4);
      expect(pin_user_pages(m, p, a, 4, FOLL_LONGTERM, pages)).toBe(4);
      const e = p.mm.pt.pmdLeaf(a);
      const folio = pte_pfn(e);
      expect(folio).not.toBe(zero);
      expect(pages[0]).toBe(folio);
      expect(pages[3]).toBe(folio + 3);
      expect(m.mem.folioPincount(folio)).toBe(4);
      expect(m.mem.folioPincount(zero)).toBe(0);
      expect(pte_write(e)).toBe(true); // map_anon_folio_pmd(): maybe_pmd_mkwrite(pmd_mkdirty())
      unpin_user_pages(m, pages, 4);
      expect(m.warns.records).toEqual([]);
    },
  );
});

describe('write-protect faults: reuse or copy (do_wp_page)', () => {
  it(
    'do_wp_page(): a write to a read-only PTE of an exclusive anon page reuses the page ' + '(wp_page_reuse), no copy',
    () => {
      const m = new Machine({ memory: 256 << 20 });
      const p = m.spawn('app');
      const a = do_mmap(m, p, { size: 4 * PAGE, type: 'anon' });
      expect(userAccess(m, p, a, PAGE, true)).toBe(0);
      const pfn = pfnAt(p, a);
      expect(do_mprotect_pkey(m, p, a, 4 * PAGE, 'r')).toBe(0);
      expect(pte_write(pte(p, a))).toBe(false);
      expect(do_mprotect_pkey(m, p, a, 4 * PAGE, 'rw')).toBe(0);
      const free = m.alloc.nr_free_pages();
      expect(userAccess(m, p, a, PAGE, true)).toBe(0);
      expect(pfnAt(p, a)).toBe(pfn);
      expect(pte_write(pte(p, a))).toBe(true);
      expect(m.mem.PageAnonExclusive(pfn)).toBe(true);
      expect(m.alloc.nr_free_pages()).toBe(free);
    },
  );

  it(
    'wp_can_reuse_anon_folio(): a non-exclusive anon page whose only reference is our mapping (the child exited) is ' +
      'reused and marked exclusive',
    () => {
      const m = new Machine({ memory: 256 << 20 });
      const p = m.spawn('app');
      const a = do_mmap(m, p, { size: PAGE, type: 'anon' });
      expect(userAccess(m, p, a, PAGE, true)).toBe(0);
      const pfn = pfnAt(p, a);
      const c = fork(m, p);
      do_exit(m, c);
      expect(m.mem.PageAnonExclusive(pfn)).toBe(false);
      expect(m.mem.refcount[pfn]).toBe(1);
      expect(userAccess(m, p, a, PAGE, true)).toBe(0);
      expect(pfnAt(p, a)).toBe(pfn);
      expect(m.mem.PageAnonExclusive(pfn)).toBe(true);
    },
  );

  it(
    '__wp_can_reuse_large_anon_folio(): a PTE-mapped large folio is reused when every reference is a mapping of ' +
      'this mm ...',
    () => {
      const m = new Machine({ memory: 256 << 20, mthp: { '64K': 'always' } });
      const p = m.spawn('app');
      const a = do_mmap(m, p, { size: 64 << 10, type: 'anon', align: 64 << 10 });
      expect(userAccess(m, p, a, 64 << 10, true)).toBe(0);
      const folio = pfnAt(p, a);
      do_exit(m, fork(m, p));
      expect(m.mem.refcount[folio]).toBe(16);
      expect(userAccess(m, p, a + 5 * PAGE, 1, true)).toBe(0);
      expect(pfnAt(p, a + 5 * PAGE)).toBe(folio + 5);
      expect(m.mem.PageAnonExclusive(folio + 5)).toBe(true);
      expect(m.mem.PageAnonExclusive(folio + 6)).toBe(false);
    },
  );

  it(
    '__wp_can_reuse_large_anon_folio(): ... but not when a single page of it is still mapped ' +
      '(folio_large_mapcount() <= 1): that page is copied so the large folio can be freed',
    () => {
      const m = new Machine({ memory: 256 << 20, mthp: { '64K': 'always' } });
      const p = m.spawn('app');
      const a = do_mmap(m, p, { size: 64 << 10, type: 'anon', align: 64 << 10 });
      expect(userAccess(m, p, a, 64 << 10, true)).toBe(0);
      const folio = pfnAt(p, a);
      expect(do_madvise(m, p, a + PAGE, 15 * PAGE, 'dontneed')).toBe(0);
      do_exit(m, fork(m, p));
      expect(m.mem.folio_mapcount(folio)).toBe(1);
      expect(m.mem.refcount[folio]).toBe(1);
      expect(m.mem.PageAnonExclusive(folio)).toBe(false);
      expect(userAccess(m, p, a, 1, true)).toBe(0);
      const copy = pfnAt(p, a);
      expect(copy).not.toBe(folio);
      expect(m.mem.folio_order(copy)).toBe(0);
      expect(m.mem.refcount[folio]).toBe(0); // the last reference went with the mapping
    },
  );

  it(
    'wp_page_copy(): a write to an anon page still shared with another process copies it; an extra (FOLL_GET) ' +
      'reference also forces the copy',
    () => {
      const m = new Machine({ memory: 256 << 20 });
      const p = m.spawn('app');
      const a = do_mmap(m, p, { size: 2 * PAGE, type: 'anon' });
      expect(userAccess(m, p, a, 2 * PAGE, true)).toBe(0);
      const shared = pfnAt(p, a);
      const gotten = pfnAt(p, a + PAGE);
      const c = fork(m, p);
      expect(userAccess(m, p, a, PAGE, true)).toBe(0);
      expect(pfnAt(p, a)).not.toBe(shared);
      expect(pfnAt(c, a)).toBe(shared);
      // The child exits, but a FOLL_GET reference (e.g. vmsplice) keeps the refcount above 1.
      const g = new Int32Array(1);
      expect(get_user_pages(m, p, a + PAGE, 1, 0, g)).toBe(1);
      do_exit(m, c);
      expect(m.mem.refcount[gotten]).toBe(2);
      expect(userAccess(m, p, a + PAGE, PAGE, true)).toBe(0);
      expect(pfnAt(p, a + PAGE)).not.toBe(gotten);
      put_page(m, g[0]!);
      expect(m.mem.refcount[gotten]).toBe(0); // freed with the last reference
    },
  );
});

describe('unshare faults (FAULT_FLAG_UNSHARE) for R/O pins', () => {
  it(
    'gup_must_unshare() / do_wp_page(): a R/O pin (FOLL_PIN without FOLL_WRITE) of an anon page shared after fork ' +
      'gives the pinning process its own exclusive copy, mapped read-only; the other process keeps the old page',
    () => {
      const m = new Machine({ memory: 256 << 20 });
      const p = m.spawn('app');
      const a = do_mmap(m, p, { size: PAGE, type: 'anon' });
      expect(userAccess(m, p, a, PAGE, true)).toBe(0);
      const old = pfnAt(p, a);
      const c = fork(m, p);
      const pages = new Int32Array(1);
      expect(pin_user_pages(m, p, a, 1, 0, pages)).toBe(1);
      const copy = pages[0]!;
      expect(copy).not.toBe(old);
      expect(pfnAt(p, a)).toBe(copy);
      expect(pte_write(pte(p, a))).toBe(false); // unsharing does not make the PTE writable
      expect(m.mem.PageAnonExclusive(copy)).toBe(true);
      expect(m.mem.refcount[copy]).toBe(1 + 1024 + 1); // + the lru_add batch's: a new folio
      expect(pfnAt(c, a)).toBe(old);
      expect(m.mem.refcount[old]).toBe(1);
      expect(m.mem.mapcount[old]).toBe(1);
      expect(pinCounters(m)).toEqual([1, 0]);
      unpin_user_pages(m, pages, 1);
      expect(m.warns.records).toEqual([]);
    },
  );

  it(
    'gup_must_unshare(): FOLL_GET never unshares: get_user_pages() of a page shared after fork returns the ' +
      'shared page',
    () => {
      const m = new Machine({ memory: 256 << 20 });
      const p = m.spawn('app');
      const a = do_mmap(m, p, { size: PAGE, type: 'anon' });
      expect(userAccess(m, p, a, PAGE, true)).toBe(0);
      const old = pfnAt(p, a);
      fork(m, p);
      const pages = new Int32Array(1);
      expect(get_user_pages(m, p, a, 1, 0, pages)).toBe(1);
      expect(pages[0]).toBe(old);
      expect(pfnAt(p, a)).toBe(old);
      expect(m.mem.refcount[old]).toBe(4); // 2 mappings, the GUP reference, the lru_add batch's
      expect(lruBatchRefs(m, old)).toBe(1);
    },
  );

  it(
    'gup_must_unshare(): a FOLL_LONGTERM R/O pin of the zero page in a private mapping replaces it with a ' +
      'new anon page',
    () => {
      const m = new Machine({ memory: 256 << 20 });
      const p = m.spawn('app');
      const a = do_mmap(m, p, { size: 4 * PAGE, type: 'anon' });
      expect(userAccess(m, p, a, PAGE, false)).toBe(0);
      expect(pfnAt(p, a)).toBe(ZERO_PFN);
      const pages = new Int32Array(1);
      expect(pin_user_pages(m, p, a, 1, FOLL_LONGTERM, pages)).toBe(1);
      const pfn = pages[0]!;
      expect(pfn).not.toBe(ZERO_PFN);
      expect(pfnAt(p, a)).toBe(pfn);
      expect(pte_special(pte(p, a))).toBe(false);
      expect(m.mem.folio_test_anon(pfn)).toBe(true);
      expect(m.mem.PageAnonExclusive(pfn)).toBe(true);
      expect(m.mem.refcount[pfn]).toBe(1 + 1024 + 1); // + the lru_add batch's
      expect(pinCounters(m)).toEqual([1, 0]);
    },
  );

  it(
    'try_grab_folio(): a short-term R/O pin returns the zero page itself, with no refcount change and no vmstat ' +
      '(is_zero_folio)',
    () => {
      const m = new Machine({ memory: 256 << 20 });
      const p = m.spawn('app');
      const a = do_mmap(m, p, { size: 4 * PAGE, type: 'anon' });
      expect(userAccess(m, p, a, PAGE, false)).toBe(0);
      const refs = m.mem.refcount[ZERO_PFN];
      const pages = new Int32Array(2);
      // The second page is untouched: the pin's read fault maps the zero page there too.
      expect(pin_user_pages(m, p, a, 2, 0, pages)).toBe(2);
      expect(Array.from(pages)).toEqual([ZERO_PFN, ZERO_PFN]);
      expect(pfnAt(p, a + PAGE)).toBe(ZERO_PFN);
      expect(m.mem.refcount[ZERO_PFN]).toBe(refs);
      expect(pinCounters(m)).toEqual([0, 0]);
      unpin_user_pages(m, pages, 2);
      expect(pinCounters(m)).toEqual([0, 0]);
      expect(m.warns.records).toEqual([]);
    },
  );
});

describe('shared and file mappings (do_fault)', () => {
  it(
    'shmem_fault(): pages of a MAP_SHARED|MAP_ANONYMOUS mapping are shmem page-cache pages: not anon, refcount = 1 ' +
      '(page cache) + 1 per mapping, even on a read fault',
    () => {
      const m = new Machine({ memory: 256 << 20 });
      const p = m.spawn('app');
      const a = do_mmap(m, p, { size: 4 * PAGE, type: 'anon', shared: true });
      expect(userAccess(m, p, a, PAGE, false)).toBe(0);
      expect(userAccess(m, p, a + PAGE, PAGE, true)).toBe(0);
      for (const addr of [a, a + PAGE]) {
        const pfn = pfnAt(p, addr);
        expect(pfn).not.toBe(ZERO_PFN);
        expect(m.mem.folio_test_anon(pfn)).toBe(false);
        expect(m.mem.mapping[pfn]).not.toBe(0);
        // The cache's, the mapping's, and the lru_add batch's (shmem adds its new folios to the LRU).
        expect(m.mem.refcount[pfn]).toBe(3);
        expect(m.mem.mapcount[pfn]).toBe(1);
      }
      lru_add_drain(m);
      expect(m.mem.refcount[pfnAt(p, a)]).toBe(2);
      expect(m.vmstat.get('nr_shmem')).toBe(2);
      // A second mapping (the child after fork faults it in) adds one reference, same page.
      const c = fork(m, p);
      expect(userAccess(m, c, a + PAGE, PAGE, true)).toBe(0);
      expect(pfnAt(c, a + PAGE)).toBe(pfnAt(p, a + PAGE));
      expect(m.mem.refcount[pfnAt(p, a + PAGE)]).toBe(3);
    },
  );

  it(
    'shmem_fault(): memfd pages are page-cache pages too (refcount = 1 cache + mappings), shared by every ' +
      'MAP_SHARED mapping',
    () => {
      const m = new Machine({ memory: 256 << 20 });
      const p = m.spawn('app');
      const a = do_mmap(m, p, { size: 4 * PAGE, type: 'memfd', name: 'buf' });
      expect(userAccess(m, p, a, 4 * PAGE, true)).toBe(0);
      for (let i = 0; i < 4; i++) {
        const pfn = pfnAt(p, a + i * PAGE);
        expect(m.mem.folio_test_anon(pfn)).toBe(false);
        expect(m.mem.refcount[pfn]).toBe(3); // + the lru_add batch's
        expect(pte_write(pte(p, a + i * PAGE))).toBe(true);
      }
      expect(m.vmstat.get('nr_shmem')).toBe(4);
      expect(m.vmstat.get('nr_file_pages')).toBe(4);
    },
  );

  it(
    'do_cow_fault() / wp_page_copy(): a write to a MAP_PRIVATE file mapping maps a private anon copy; the ' +
      'page-cache page keeps only the cache reference',
    () => {
      const m = new Machine({ memory: 256 << 20 });
      const p = m.spawn('app');
      const file: AddressSpace = m.newFile('disk', 'f', 64);
      const a = do_mmap(m, p, { size: 64 * PAGE, type: 'file', file, shared: false });
      // Read first: the page-cache page is mapped read-only. The miss reads ahead 32 pages
      // (do_sync_mmap_readahead) and fault-around maps the 16 cached pages of the window.
      expect(userAccess(m, p, a, PAGE, false)).toBe(0);
      const cache = file.lookup(0);
      expect(pfnAt(p, a)).toBe(cache);
      expect(pte_write(pte(p, a))).toBe(false);
      expect(m.mem.refcount[cache]).toBe(2);
      expect(file.lookup(31)).toBeGreaterThanOrEqual(0);
      expect(file.lookup(32)).toBe(-1);
      expect(p.mm.rss_file).toBe(16);
      // Write: COW into a new anon page.
      expect(userAccess(m, p, a, PAGE, true)).toBe(0);
      const anon = pfnAt(p, a);
      expect(anon).not.toBe(cache);
      expect(m.mem.folio_test_anon(anon)).toBe(true);
      expect(m.mem.PageAnonExclusive(anon)).toBe(true);
      expect(pte_write(pte(p, a))).toBe(true);
      expect(file.lookup(0)).toBe(cache);
      expect(m.mem.refcount[cache]).toBe(1);
      expect(m.mem.mapcount[cache]).toBe(0);
      // A first access that is a write, outside the mapped window, goes straight to the copy (do_cow_fault).
      expect(userAccess(m, p, a + 40 * PAGE, PAGE, true)).toBe(0);
      expect(m.mem.folio_test_anon(pfnAt(p, a + 40 * PAGE))).toBe(true);
      // Read ahead with pages 32..55 (24 new folios after the copy of page 0 and page 31 of the first
      // window): the lru_add batch (31 on 6.18) has not filled, so it still holds page 40.
      expect(m.mem.refcount[file.lookup(40)]).toBe(2);
      expect(lruBatchRefs(m, file.lookup(40))).toBe(1);
      expect(p.mm.rss_anon).toBe(2);
      expect(p.mm.rss_file).toBe(15);
    },
  );
});

describe('unmapping frees memory (zap_page_range_single)', () => {
  it('do_munmap(): unmapping written anon memory frees every page (nr_free_pages returns to its value)', () => {
    const m = new Machine({ memory: 256 << 20 });
    const p = m.spawn('app');
    const free = m.alloc.nr_free_pages();
    const vfree = m.vmstat.get('nr_free_pages');
    const a = do_mmap(m, p, { size: 16 * PAGE, type: 'anon' });
    expect(userAccess(m, p, a, 16 * PAGE, true)).toBe(0);
    expect(m.alloc.nr_free_pages()).toBe(free - 16);
    expect(m.vmstat.get('nr_free_pages')).toBe(vfree - 16);
    expect(do_munmap(m, p, a, 16 * PAGE)).toBe(0);
    expect(m.alloc.nr_free_pages()).toBe(free);
    expect(m.vmstat.get('nr_free_pages')).toBe(vfree);
    expect(p.mm.rss_anon).toBe(0);
    expect(p.mm.vma_lookup(a)).toBeUndefined();
  });

  it('madvise(MADV_DONTNEED): the pages are freed, the VMA stays, and the next read maps the zero page', () => {
    const m = new Machine({ memory: 256 << 20 });
    const p = m.spawn('app');
    const free = m.alloc.nr_free_pages();
    const a = do_mmap(m, p, { size: 16 * PAGE, type: 'anon' });
    expect(userAccess(m, p, a, 16 * PAGE, true)).toBe(0);
    expect(do_madvise(m, p, a, 16 * PAGE, 'dontneed')).toBe(0);
    expect(m.alloc.nr_free_pages()).toBe(free);
    expect(p.mm.vma_lookup(a)).toBeDefined();
    expect(pte_present(pte(p, a))).toBe(false);
    expect(userAccess(m, p, a, PAGE, false)).toBe(0);
    expect(pfnAt(p, a)).toBe(ZERO_PFN);
  });

  it('zap_page_range_single(): a THP is freed whole when its PMD is unmapped', () => {
    const m = new Machine({ memory: 256 << 20 });
    const p = m.spawn('app');
    const free = m.alloc.nr_free_pages();
    const a = do_mmap(m, p, { size: PMD_SIZE, type: 'anon' });
    expect(do_madvise(m, p, a, PMD_SIZE, 'hugepage')).toBe(0);
    expect(userAccess(m, p, a, 1, true)).toBe(0);
    expect(m.alloc.nr_free_pages()).toBe(free - 512);
    expect(do_munmap(m, p, a, PMD_SIZE)).toBe(0);
    expect(m.alloc.nr_free_pages()).toBe(free);
    expect(m.vmstat.get('nr_anon_transparent_hugepages')).toBe(0);
  });
});

describe('access errors', () => {
  it(
    'do_user_addr_fault(): after mprotect(PROT_READ) a store is refused with -EFAULT (SIGSEGV, access_error), a ' +
      'load still works',
    () => {
      const m = new Machine({ memory: 256 << 20 });
      const p = m.spawn('app');
      const a = do_mmap(m, p, { size: 4 * PAGE, type: 'anon' });
      expect(userAccess(m, p, a, 4 * PAGE, true)).toBe(0);
      const pfn = pfnAt(p, a);
      expect(do_mprotect_pkey(m, p, a, 4 * PAGE, 'r')).toBe(0);
      expect(userAccess(m, p, a, PAGE, true)).toBe(-EFAULT);
      expect(userAccess(m, p, a, PAGE, false)).toBe(0);
      expect(pfnAt(p, a)).toBe(pfn);
      expect(pte_write(pte(p, a))).toBe(false);
      // GUP refuses a write pin of the read-only VMA the same way (check_vma_flags).
      expect(pin_user_pages(m, p, a, 1, FOLL_WRITE, new Int32Array(1))).toBe(-EFAULT);
    },
  );

  it('do_anonymous_page(): an allocation failure on a write fault is VM_FAULT_OOM, -ENOMEM for the access', () => {
    const m = new Machine({ memory: 256 << 20 });
    const p = m.spawn('app');
    const a = do_mmap(m, p, { size: 4 * PAGE, type: 'anon' });
    m.alloc.setFailureInjection({ after: 0, times: Infinity });
    expect(userAccess(m, p, a, PAGE, true)).toBe(-ENOMEM);
    expect(pte_present(pte(p, a))).toBe(false);
    m.alloc.setFailureInjection(undefined);
    expect(userAccess(m, p, a, PAGE, true)).toBe(0);
  });

  it(
    'faultin_page(): pin_user_pages() returns -ENOMEM when the fault runs out of memory (vm_fault_to_errno), ' +
      'pinning nothing',
    () => {
      const m = new Machine({ memory: 256 << 20 });
      const p = m.spawn('app');
      const a = do_mmap(m, p, { size: 4 * PAGE, type: 'anon' });
      m.alloc.setFailureInjection({ after: 0, times: Infinity });
      const pages = new Int32Array(4);
      expect(pin_user_pages(m, p, a, 4, FOLL_WRITE, pages)).toBe(-ENOMEM);
      expect(m.why?.fn).toBe('faultin_page');
      expect(m.why?.errno).toBe(-ENOMEM);
      expect(pinCounters(m)).toEqual([0, 0]);
      m.alloc.setFailureInjection(undefined);
    },
  );

  it(
    '__get_user_pages(): when a later page fails to fault, the pages pinned so far are returned ' + '(partial success)',
    () => {
      const m = new Machine({ memory: 256 << 20 });
      const p = m.spawn('app');
      const a = do_mmap(m, p, { size: 4 * PAGE, type: 'anon' });
      expect(userAccess(m, p, a, 2 * PAGE, true)).toBe(0);
      m.alloc.setFailureInjection({ after: 0, times: Infinity });
      const pages = new Int32Array(4);
      expect(pin_user_pages(m, p, a, 4, FOLL_WRITE, pages)).toBe(2);
      expect(pinCounters(m)).toEqual([2, 0]);
      m.alloc.setFailureInjection(undefined);
      unpin_user_pages(m, pages, 2);
    },
  );
});

describe('MADV_COLLAPSE (madvise_collapse)', () => {
  function ptePopulated(m: Machine, p: Process, pages: number): number {
    const a = do_mmap(m, p, { size: PMD_SIZE, type: 'anon' });
    expect(a % PMD_SIZE).toBe(0);
    expect(userAccess(m, p, a, pages * PAGE, true)).toBe(0);
    expect(p.mm.pt.pmdLeaf(a)).toBe(0);
    return a;
  }

  it(
    'hpage_collapse_scan_pmd(): a pinned page (refcount above its expected count, SCAN_PAGE_COUNT) makes ' +
      'MADV_COLLAPSE fail with -EAGAIN and nothing changes',
    () => {
      const m = new Machine({ memory: 256 << 20 });
      const p = m.spawn('app');
      const a = ptePopulated(m, p, 8);
      const before = Array.from({ length: 8 }, (_, i) => pfnAt(p, a + i * PAGE));
      const pages = new Int32Array(1);
      expect(pin_user_pages(m, p, a + 3 * PAGE, 1, FOLL_WRITE, pages)).toBe(1);
      const free = m.alloc.nr_free_pages();
      expect(do_madvise(m, p, a, PMD_SIZE, 'collapse')).toBe(-EAGAIN);
      expect(p.mm.pt.pmdLeaf(a)).toBe(0);
      expect(Array.from({ length: 8 }, (_, i) => pfnAt(p, a + i * PAGE))).toEqual(before);
      expect(m.alloc.nr_free_pages()).toBe(free);
      unpin_user_pages(m, pages, 1);
    },
  );

  it(
    '__collapse_huge_page_isolate(): MADV_COLLAPSE also collapses pages shared with another process after fork ' +
      '(only khugepaged applies max_ptes_shared); the other process keeps the old pages',
    () => {
      const m = new Machine({ memory: 256 << 20 });
      const p = m.spawn('app');
      const a = ptePopulated(m, p, 8);
      const old = Array.from({ length: 8 }, (_, i) => pfnAt(p, a + i * PAGE));
      const c = fork(m, p);
      // mapcount 2, and the lru_add batch's (MADV_COLLAPSE drains the batches before it looks).
      for (const pfn of old) expect(m.mem.refcount[pfn]).toBe(3);
      expect(do_madvise(m, p, a, PMD_SIZE, 'collapse')).toBe(0);
      const folio = pte_pfn(p.mm.pt.pmdLeaf(a));
      expect(m.mem.folio_order(folio)).toBe(PMD_ORDER);
      for (let i = 0; i < 8; i++) {
        expect(pfnAt(c, a + i * PAGE)).toBe(old[i]);
        expect(m.mem.refcount[old[i]!]).toBe(1);
        expect(m.mem.mapcount[old[i]!]).toBe(1);
      }
    },
  );

  it(
    'collapse_huge_page(): without extra references MADV_COLLAPSE replaces the PTE-mapped pages with one THP mapped ' +
      'by a PMD and frees the old pages',
    () => {
      const m = new Machine({ memory: 256 << 20 });
      const p = m.spawn('app');
      const a = ptePopulated(m, p, 8);
      const old = Array.from({ length: 8 }, (_, i) => pfnAt(p, a + i * PAGE));
      const free = m.alloc.nr_free_pages();
      expect(do_madvise(m, p, a, PMD_SIZE, 'collapse')).toBe(0);
      const e = p.mm.pt.pmdLeaf(a);
      expect(e).not.toBe(0);
      const folio = pte_pfn(e);
      expect(m.mem.folio_order(folio)).toBe(PMD_ORDER);
      expect(m.mem.PageAnonExclusive(folio)).toBe(true);
      expect(m.mem.refcount[folio]).toBe(1);
      expect(m.mem.folio_entire_mapcount(folio)).toBe(1);
      for (const pfn of old) expect(m.mem.refcount[pfn]).toBe(0);
      expect(m.alloc.nr_free_pages()).toBe(free + 8 - 512);
      expect(p.mm.rss_anon).toBe(512);
    },
  );
});

describe('do_fault_around (filemap_map_pages): read faults map cached neighbours', () => {
  it('a read fault maps the cached pages of the aligned 64 KiB window, and no uncached ones', async () => {
    const { Machine } = await import('./machine.js');
    const { do_mmap } = await import('./mmap.js');
    const { userAccess } = await import('./user_access.js');
    const { lookupPage } = await import('../scenario/inspect.js');
    const m = new Machine({ memory: 256 << 20 });
    // tmpfs: no readahead, so only what the writer touched is cached.
    const f = m.newFile('tmpfs', 'data', 64);
    f.users++;
    const writer = m.spawn('writer');
    const wa = do_mmap(m, writer, { size: 64 * 4096, type: 'file', file: f, shared: true });
    // Cache pages 0..23 only.
    expect(userAccess(m, writer, wa, 24 * 4096, false)).toBe(0);
    const reader = m.spawn('reader');
    const ra = do_mmap(m, reader, { size: 64 * 4096, type: 'file', file: f, shared: false });
    expect(userAccess(m, reader, ra + 20 * 4096, 1, false)).toBe(0);
    // Window of page 20 is pages 16..31: 16..23 are cached and get mapped, 24..31 are not.
    for (let i = 16; i < 24; i++) expect(lookupPage(reader, ra + i * 4096), `page ${i}`).toBeDefined();
    for (let i = 24; i < 32; i++) expect(lookupPage(reader, ra + i * 4096), `page ${i}`).toBeUndefined();
    expect(lookupPage(reader, ra + 15 * 4096)).toBeUndefined();
    const pfn = lookupPage(reader, ra + 17 * 4096)!.pfn;
    // Page cache + two mappings + the lru_add batch (24 new shmem folios: the batch of 31 is not full).
    expect(m.mem.refcount[pfn]).toBe(4);
    expect(m.mem.mapcount[pfn]).toBe(2);
    expect(reader.mm.rss_file).toBe(8);
  });
});

describe('filemapWriteNewFile (generic_perform_write + __filemap_get_folio): a written file is cached', () => {
  it(
    'ext4: each write asks for a folio sized to the bytes left, capped by index alignment; every page is ' +
      'cached and clean',
    async () => {
      const { filemapWriteNewFile } = await import('./filemap.js');
      const m = new Machine({ memory: 256 << 20 });
      // 1 MiB + 384 KiB, written in 1 MiB calls: an order-8 folio, then 256 KiB (order 6) + 128 KiB (order 5).
      const f = m.newFile('disk', 'data', 352);
      filemapWriteNewFile(m, f, 352 * PAGE, 1 << 20);
      const orderAt = (i: number) => m.mem.folio_order(m.mem.page_folio(f.lookup(i)));
      expect(orderAt(0)).toBe(8);
      expect(orderAt(255)).toBe(8);
      expect(orderAt(256)).toBe(6);
      expect(orderAt(320)).toBe(5);
      for (let i = 0; i < 352; i++) expect(f.lookup(i), `page ${i}`).toBeGreaterThanOrEqual(0);
      expect(m.mem.folio_test_dirty(m.mem.page_folio(f.lookup(0)))).toBe(false);
      expect(m.vmstat.get('nr_file_pages')).toBe(352);
      // The page cache holds one reference per page, ext4's buffer heads one more (block_write_begin()).
      expect(m.mem.refcount[m.mem.page_folio(f.lookup(0))]).toBe(256 + 1);
    },
  );

  it('tmpfs (huge=never) caches order-0 folios; a write smaller than a page is one order-0 folio', async () => {
    const { filemapWriteNewFile } = await import('./filemap.js');
    const m = new Machine({ memory: 256 << 20 });
    const t = m.newFile('tmpfs', 'shm', 16);
    filemapWriteNewFile(m, t, 16 * PAGE, 1 << 20);
    for (let i = 0; i < 16; i++) expect(m.mem.folio_order(m.mem.page_folio(t.lookup(i)))).toBe(0);
    expect(m.vmstat.get('nr_shmem')).toBe(16);
    const d = m.newFile('disk', 'small', 2);
    filemapWriteNewFile(m, d, PAGE + 100, 1 << 20);
    expect(m.mem.folio_order(m.mem.page_folio(d.lookup(0)))).toBe(0);
    expect(m.mem.folio_order(m.mem.page_folio(d.lookup(1)))).toBe(0);
  });
});

describe('filemap_map_folio_range (6.18): fault-around maps a large folio whole where it can', () => {
  it(
    'a folio within i_size, the VMA and one page table is mapped whole; one larger than the VMA only in ' +
      'the window',
    async () => {
      const { filemapWriteNewFile } = await import('./filemap.js');
      const { lookupPage } = await import('../scenario/inspect.js');
      const m = new Machine({ memory: 256 << 20 });
      const f = m.newFile('disk', 'data', 256);
      f.users++;
      filemapWriteNewFile(m, f, 256 * PAGE, 1 << 20); // one order-8 folio
      const p = m.spawn('app');
      const a = do_mmap(m, p, { size: 256 * PAGE, type: 'file', file: f, shared: true, align: PMD_SIZE });
      expect(userAccess(m, p, a + 32 * PAGE, 1, false)).toBe(0);
      for (const i of [0, 31, 48, 255]) expect(lookupPage(p, a + i * PAGE), `page ${i}`).toBeDefined();
      expect(p.mm.rss_file).toBe(256);
      // Half the file: the folio is not within the VMA; the aligned 64 KiB window only.
      const q = m.spawn('half');
      const b = do_mmap(m, q, { size: 128 * PAGE, type: 'file', file: f, shared: true, align: PMD_SIZE });
      expect(userAccess(m, q, b + 32 * PAGE, 1, false)).toBe(0);
      for (let i = 32; i < 48; i++) expect(lookupPage(q, b + i * PAGE), `page ${i}`).toBeDefined();
      expect(lookupPage(q, b + 31 * PAGE)).toBeUndefined();
      expect(lookupPage(q, b + 48 * PAGE)).toBeUndefined();
    },
  );
});
