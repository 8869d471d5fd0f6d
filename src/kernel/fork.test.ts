// Unit tests for kernel/fork.ts: one `it` per kernel rule of fork()'s page-table copy
// (mm/memory.c copy_page_range / copy_present_ptes / copy_present_page, mm/huge_memory.c
// copy_huge_pmd, mm/hugetlb.c copy_hugetlb_page_range) and the COW faults that follow.
// Expectations come from the kernel source (see ../../../shared/spec/cow-fork.md) and the measured
// facts (../../../shared/oracle/FACTS.md: "fork neither acquires nor releases pins").

import { describe, it, expect } from 'vitest';
import { Machine } from '../mm/machine.js';
import { ZERO_PFN, PAGE_SIZE, PMD_SIZE, PMD_ORDER } from '../mm/memmap.js';
import type { Process } from '../mm/task.js';
import { kernel_clone, type ForkStats } from './fork.js';
import { do_exit } from './exit.js';
import { ENOMEM } from '../uapi/errno.js';
import { do_mmap } from '../mm/mmap.js';
import { do_madvise } from '../mm/madvise.js';
import { userAccess } from '../mm/user_access.js';
import { pin_user_pages, unpin_user_pages, get_user_pages, folio_maybe_dma_pinned } from '../mm/gup.js';
import { FOLL_WRITE, FOLL_LONGTERM } from '../mm/foll_flags.js';
import { pte_pfn, pte_write, pte_dirty, pte_present } from '../mm/pgtable.js';
import { is_huge_zero_folio } from '../mm/huge_mm.js';
import { fork, pinCounters } from '../../test/support.js';
import { lru_add_drain, lruBatchRefs } from '../mm/swap.js';

const PAGE = PAGE_SIZE;

function pte(p: Process, addr: number): number {
  return p.mm.pt.pte(addr);
}

function pfnAt(p: Process, addr: number): number {
  return pte_pfn(pte(p, addr));
}

/**
 * A private anonymous mapping of `pages` base pages, written (so every page is an exclusive anon page),
 * with the LRU batch that took them drained (as long after the faults).
 */
function anonWritten(m: Machine, p: Process, pages: number): number {
  const a = do_mmap(m, p, { size: pages * PAGE, type: 'anon' });
  expect(a).toBeGreaterThan(0);
  expect(do_madvise(m, p, a, pages * PAGE, 'nohugepage')).toBe(0);
  expect(userAccess(m, p, a, pages * PAGE, true)).toBe(0);
  lru_add_drain(m);
  return a;
}

describe('fork(): COW sharing without pins (copy_present_ptes)', () => {
  it(
    'copy_present_ptes(): without MMF_HAS_PINNED anon pages are shared: same PFN, both PTEs write-protected, ' +
      'PageAnonExclusive cleared, refcount and mapcount +1',
    () => {
      const m = new Machine({ memory: 256 << 20 });
      const p = m.spawn('parent');
      const a = anonWritten(m, p, 4);
      const before = [0, 1, 2, 3].map((i) => pfnAt(p, a + i * PAGE));
      for (const pfn of before) {
        expect(m.mem.refcount[pfn]).toBe(1);
        expect(m.mem.mapcount[pfn]).toBe(1);
        expect(m.mem.PageAnonExclusive(pfn)).toBe(true);
      }
      const free = m.alloc.nr_free_pages();
      const c = fork(m, p);
      expect(m.alloc.nr_free_pages()).toBe(free); // nothing copied
      for (let i = 0; i < 4; i++) {
        const pfn = before[i]!;
        expect(pfnAt(p, a + i * PAGE)).toBe(pfn);
        expect(pfnAt(c, a + i * PAGE)).toBe(pfn);
        expect(pte_write(pte(p, a + i * PAGE))).toBe(false);
        expect(pte_write(pte(c, a + i * PAGE))).toBe(false);
        expect(m.mem.PageAnonExclusive(pfn)).toBe(false);
        expect(m.mem.refcount[pfn]).toBe(2);
        expect(m.mem.mapcount[pfn]).toBe(2);
      }
      expect(c.mm.rss_anon).toBe(4);
      expect(m.warns.records).toEqual([]);
    },
  );

  it(
    'wp_page_copy(): after fork a write in the child copies; the parent then reuses its page ' +
      '(wp_can_reuse_anon_folio: refcount 1)',
    () => {
      const m = new Machine({ memory: 256 << 20 });
      const p = m.spawn('parent');
      const a = anonWritten(m, p, 1);
      const orig = pfnAt(p, a);
      const c = fork(m, p);
      expect(userAccess(m, c, a, 1, true)).toBe(0);
      const copy = pfnAt(c, a);
      expect(copy).not.toBe(orig);
      expect(pte_write(pte(c, a))).toBe(true);
      expect(m.mem.PageAnonExclusive(copy)).toBe(true);
      expect(m.mem.refcount[copy]).toBe(2); // its mapping's, and the lru_add batch's (a new folio)
      // The original is now referenced by the parent's mapping only.
      expect(m.mem.refcount[orig]).toBe(1);
      expect(m.mem.mapcount[orig]).toBe(1);
      expect(pte_write(pte(p, a))).toBe(false);
      // The parent's write reuses it in place: no copy, PageAnonExclusive set again.
      const free = m.alloc.nr_free_pages();
      expect(userAccess(m, p, a, 1, true)).toBe(0);
      expect(pfnAt(p, a)).toBe(orig);
      expect(pte_write(pte(p, a))).toBe(true);
      expect(m.mem.PageAnonExclusive(orig)).toBe(true);
      expect(m.alloc.nr_free_pages()).toBe(free);
    },
  );

  it('wp_page_copy(): after fork a write in the parent copies and the child keeps the original page', () => {
    const m = new Machine({ memory: 256 << 20 });
    const p = m.spawn('parent');
    const a = anonWritten(m, p, 1);
    const orig = pfnAt(p, a);
    const c = fork(m, p);
    expect(userAccess(m, p, a, 1, true)).toBe(0);
    expect(pfnAt(p, a)).not.toBe(orig);
    expect(pfnAt(c, a)).toBe(orig);
    expect(m.mem.refcount[orig]).toBe(1);
    expect(m.mem.mapcount[orig]).toBe(1);
  });

  it('mmf_init_flags(): MMF_HAS_PINNED is not inherited by the child (not in MMF_INIT_MASK)', () => {
    const m = new Machine({ memory: 256 << 20 });
    const p = m.spawn('parent');
    const a = anonWritten(m, p, 1);
    const pages = new Int32Array(1);
    expect(pin_user_pages(m, p, a, 1, FOLL_WRITE, pages)).toBe(1);
    expect(p.mm.has_pinned).toBe(true);
    const c = fork(m, p);
    expect(c.mm.has_pinned).toBe(false);
  });
});

describe('fork(): early copy of maybe-pinned anon pages (MMF_HAS_PINNED && folio_maybe_dma_pinned)', () => {
  it(
    'copy_present_page(): a FOLL_PIN-ned exclusive anon page is copied for the child at fork; the parent keeps its ' +
      'PFN, writable, pinned and exclusive; no vmstat pin traffic',
    () => {
      const m = new Machine({ memory: 256 << 20 });
      const p = m.spawn('parent');
      const a = anonWritten(m, p, 2);
      const pages = new Int32Array(1);
      // io_uring-style registration of the first page.
      expect(pin_user_pages(m, p, a, 1, FOLL_WRITE | FOLL_LONGTERM, pages)).toBe(1);
      const pinned = pages[0]!;
      const other = pfnAt(p, a + PAGE);
      expect(m.mem.refcount[pinned]).toBe(1 + 1024);
      const pins = pinCounters(m);
      const free = m.alloc.nr_free_pages();
      const c = fork(m, p);
      // FACTS.md: fork neither acquires nor releases pins.
      expect(pinCounters(m)).toEqual(pins);
      // Parent: same frame, still writable, exclusive, pinned.
      expect(pfnAt(p, a)).toBe(pinned);
      expect(pte_write(pte(p, a))).toBe(true);
      expect(m.mem.PageAnonExclusive(pinned)).toBe(true);
      expect(m.mem.refcount[pinned]).toBe(1 + 1024);
      expect(m.mem.mapcount[pinned]).toBe(1);
      expect(folio_maybe_dma_pinned(m, pinned)).toBe(true);
      // Child: its own exclusive copy, mapped dirty and writable (the VMA is VM_WRITE).
      const copy = pfnAt(c, a);
      expect(copy).not.toBe(pinned);
      expect(m.mem.folio_test_anon(copy)).toBe(true);
      expect(m.mem.PageAnonExclusive(copy)).toBe(true);
      // Its mapping's, and the lru_add batch's: copy_present_page() puts the copy on the LRU
      // (folio_add_lru_vma()), and the kernel's fork drains nothing.
      expect(m.mem.refcount[copy]).toBe(2);
      expect(lruBatchRefs(m, copy)).toBe(1);
      expect(m.mem.mapcount[copy]).toBe(1);
      expect(pte_write(pte(c, a))).toBe(true);
      expect(pte_dirty(pte(c, a))).toBe(true);
      // The page that is not pinned is shared COW as usual.
      expect(pfnAt(c, a + PAGE)).toBe(other);
      expect(m.mem.refcount[other]).toBe(2);
      expect(pte_write(pte(p, a + PAGE))).toBe(false);
      expect(m.alloc.nr_free_pages()).toBe(free - 1);
      // Writes on either side never fault the pinned page away from the parent.
      expect(userAccess(m, p, a, 1, true)).toBe(0);
      expect(userAccess(m, c, a, 1, true)).toBe(0);
      expect(pfnAt(p, a)).toBe(pinned);
      expect(pfnAt(c, a)).toBe(copy);
      unpin_user_pages(m, pages, 1);
      expect(m.warns.records).toEqual([]);
    },
  );

  it(
    'copy_huge_pmd(): a pinned PMD-mapped THP makes fork split the parent PMD (same folio, now PTE-mapped) and copy ' +
      'every PageAnonExclusive subpage into an order-0 page for the child',
    () => {
      const m = new Machine({ memory: 256 << 20 });
      const p = m.spawn('parent');
      const a = do_mmap(m, p, { size: PMD_SIZE, type: 'anon' });
      expect(a % PMD_SIZE).toBe(0);
      expect(do_madvise(m, p, a, PMD_SIZE, 'hugepage')).toBe(0);
      expect(userAccess(m, p, a, PMD_SIZE, true)).toBe(0);
      const folio = pte_pfn(p.mm.pt.pmdLeaf(a));
      expect(m.mem.folio_order(folio)).toBe(PMD_ORDER);
      const pages = new Int32Array(1);
      expect(pin_user_pages(m, p, a + 7 * PAGE, 1, FOLL_WRITE, pages)).toBe(1);
      expect(pages[0]).toBe(folio + 7);
      const pins = pinCounters(m);
      const free = m.alloc.nr_free_pages();
      const splits = m.vmstat.get('thp_split_pmd');
      const c = fork(m, p);
      expect(pinCounters(m)).toEqual(pins);
      expect(m.vmstat.get('thp_split_pmd')).toBe(splits + 1);
      // Parent: the PMD became 512 writable PTEs on the same folio (__split_huge_pmd propagates
      // PageAnonExclusive to every subpage); the THP itself is not split.
      expect(p.mm.pt.pmdLeaf(a)).toBe(0);
      expect(m.mem.folio_order(folio)).toBe(PMD_ORDER);
      expect(m.mem.folioPincount(folio)).toBe(1);
      expect(m.mem.folio_entire_mapcount(folio)).toBe(0);
      expect(m.mem.refcount[folio]).toBe(512 + 1); // one reference per PTE + the pin
      // folio_maybe_dma_pinned() is folio-wide: in copy_present_ptes() every exclusive subpage of the
      // pinned folio fails folio_try_dup_anon_rmap_pte() and is copied, not only the pinned one.
      const copies = new Set<number>();
      for (let i = 0; i < 512; i++) {
        const e = pte(p, a + i * PAGE);
        expect(pte_pfn(e)).toBe(folio + i);
        expect(pte_write(e)).toBe(true);
        expect(m.mem.PageAnonExclusive(folio + i)).toBe(true);
        expect(m.mem.mapcount[folio + i]).toBe(1);
        const cp = pfnAt(c, a + i * PAGE);
        expect(cp < folio || cp >= folio + 512).toBe(true);
        expect(m.mem.folio_order(m.mem.page_folio(cp))).toBe(0);
        expect(m.mem.PageAnonExclusive(cp)).toBe(true);
        copies.add(cp);
      }
      expect(copies.size).toBe(512);
      expect(c.mm.rss_anon).toBe(512);
      expect(m.alloc.nr_free_pages()).toBe(free - 512);
      unpin_user_pages(m, pages, 1);
      expect(m.warns.records).toEqual([]);
    },
  );

  it(
    'copy_present_ptes(): a pinned mTHP (PTE-mapped large folio) has all its exclusive subpages copied to order-0 ' +
      'pages for the child',
    () => {
      const m = new Machine({ memory: 256 << 20, mthp: { '64K': 'always' } });
      const p = m.spawn('parent');
      const a = do_mmap(m, p, { size: 64 << 10, type: 'anon', align: 64 << 10 });
      expect(userAccess(m, p, a, 64 << 10, true)).toBe(0);
      const folio = pfnAt(p, a);
      expect(m.mem.folio_order(folio)).toBe(4);
      const pages = new Int32Array(1);
      expect(pin_user_pages(m, p, a + 3 * PAGE, 1, FOLL_WRITE, pages)).toBe(1);
      const pins = pinCounters(m);
      const c = fork(m, p);
      expect(pinCounters(m)).toEqual(pins);
      for (let i = 0; i < 16; i++) {
        expect(pfnAt(p, a + i * PAGE)).toBe(folio + i);
        expect(pte_write(pte(p, a + i * PAGE))).toBe(true);
        expect(m.mem.PageAnonExclusive(folio + i)).toBe(true);
        const cp = pfnAt(c, a + i * PAGE);
        expect(cp < folio || cp >= folio + 16).toBe(true);
        expect(m.mem.folio_order(m.mem.page_folio(cp))).toBe(0);
      }
      expect(m.mem.refcount[folio]).toBe(16 + 1);
      expect(m.mem.folioPincount(folio)).toBe(1);
    },
  );

  it(
    '__folio_try_dup_anon_rmap(): subpages of a pinned large folio that are no longer exclusive are shared; only ' +
      'the PageAnonExclusive (pinned) subpage is copied',
    () => {
      const m = new Machine({ memory: 256 << 20, mthp: { '64K': 'always' } });
      const p = m.spawn('parent');
      const a = do_mmap(m, p, { size: 64 << 10, type: 'anon', align: 64 << 10 });
      expect(userAccess(m, p, a, 64 << 10, true)).toBe(0);
      const folio = pfnAt(p, a);
      // A first fork without any pin shares the folio: PageAnonExclusive is cleared on every subpage.
      const c1 = fork(m, p, 'c1');
      for (let i = 0; i < 16; i++) expect(m.mem.PageAnonExclusive(folio + i)).toBe(false);
      do_exit(m, c1);
      expect(m.mem.refcount[folio]).toBe(16);
      // A R/O pin of subpage 3 unshares it: every reference is a mapping of this mm, so the folio is
      // reused (__wp_can_reuse_large_anon_folio) and only subpage 3 is marked exclusive again.
      const pages = new Int32Array(1);
      expect(pin_user_pages(m, p, a + 3 * PAGE, 1, 0, pages)).toBe(1);
      expect(pages[0]).toBe(folio + 3);
      expect(m.mem.PageAnonExclusive(folio + 3)).toBe(true);
      expect(m.mem.PageAnonExclusive(folio + 2)).toBe(false);
      const c2 = fork(m, p, 'c2');
      for (let i = 0; i < 16; i++) {
        const cp = pfnAt(c2, a + i * PAGE);
        if (i === 3) {
          expect(cp < folio || cp >= folio + 16).toBe(true);
        } else {
          expect(cp).toBe(folio + i);
          expect(m.mem.mapcount[folio + i]).toBe(2);
        }
      }
      expect(pfnAt(p, a + 3 * PAGE)).toBe(folio + 3);
      expect(m.mem.mapcount[folio + 3]).toBe(1);
      expect(m.mem.refcount[folio]).toBe(16 + 15 + 1); // parent PTEs + child's 15 shared PTEs + the pin
    },
  );

  it(
    'copy_hugetlb_page_range(): a pinned anon hugetlb page gets a new pool folio for the child (allocated without a ' +
      'reservation); the parent keeps its folio',
    () => {
      const m = new Machine({ memory: 256 << 20, hugetlb: { '2M': 2 } });
      const p = m.spawn('parent');
      const a = do_mmap(m, p, { size: PMD_SIZE, type: 'hugetlb', shared: false });
      expect(a).toBeGreaterThan(0);
      expect(userAccess(m, p, a, PMD_SIZE, true)).toBe(0);
      const folio = pte_pfn(p.mm.pt.pmdLeaf(a));
      expect(m.mem.folio_test_hugetlb(folio)).toBe(true);
      const pages = new Int32Array(512);
      expect(pin_user_pages(m, p, a, 512, FOLL_WRITE, pages)).toBe(512);
      expect(m.hugetlb.nrFree(PMD_ORDER)).toBe(1);
      const pins = pinCounters(m);
      const c = fork(m, p);
      expect(pinCounters(m)).toEqual(pins);
      const pe = p.mm.pt.pmdLeaf(a);
      expect(pte_pfn(pe)).toBe(folio);
      expect(pte_write(pe)).toBe(true);
      expect(m.mem.PageAnonExclusive(folio)).toBe(true);
      expect(m.mem.folioPincount(folio)).toBe(512);
      const ce = c.mm.pt.pmdLeaf(a);
      const copy = pte_pfn(ce);
      expect(copy).not.toBe(folio);
      expect(m.mem.folio_test_hugetlb(copy)).toBe(true);
      expect(m.mem.PageAnonExclusive(copy)).toBe(true);
      expect(m.mem.refcount[copy]).toBe(1);
      expect(pte_write(ce)).toBe(true);
      expect(m.hugetlb.nrFree(PMD_ORDER)).toBe(0);
      unpin_user_pages(m, pages, 512);
      expect(m.warns.records).toEqual([]);
    },
  );

  it(
    'copy_hugetlb_page_range(): fork fails with -ENOMEM (dup_mm() -> copy_mm()) when the pool has no free folio for ' +
      'the pinned page, and the parent is left intact',
    () => {
      const m = new Machine({ memory: 256 << 20, hugetlb: { '2M': 1 } });
      const p = m.spawn('parent');
      const a = do_mmap(m, p, { size: PMD_SIZE, type: 'hugetlb', shared: false });
      expect(userAccess(m, p, a, PMD_SIZE, true)).toBe(0);
      const folio = pte_pfn(p.mm.pt.pmdLeaf(a));
      const pages = new Int32Array(1);
      expect(pin_user_pages(m, p, a, 1, FOLL_WRITE, pages)).toBe(1);
      expect(m.hugetlb.nrFree(PMD_ORDER)).toBe(0);
      const pins = pinCounters(m);
      expect(kernel_clone(m, p, 'child')).toBe(-ENOMEM);
      expect(m.process('child')).toBeUndefined();
      expect(pinCounters(m)).toEqual(pins);
      const pe = p.mm.pt.pmdLeaf(a);
      expect(pte_pfn(pe)).toBe(folio);
      expect(pte_write(pe)).toBe(true);
      expect(m.mem.PageAnonExclusive(folio)).toBe(true);
      expect(m.mem.refcount[folio]).toBe(2); // mapping + one pin unit
      expect(m.mem.folioPincount(folio)).toBe(1);
      expect(m.mem.folio_entire_mapcount(folio)).toBe(1);
    },
  );

  it(
    'folio_needs_cow_for_dma(): 1024 FOLL_GET references on a small page look pinned (refcount >= ' +
      'GUP_PIN_COUNTING_BIAS) and get it copied when MMF_HAS_PINNED is set (allowed false positive)',
    () => {
      const m = new Machine({ memory: 256 << 20 });
      const p = m.spawn('parent');
      const a = anonWritten(m, p, 2);
      // MMF_HAS_PINNED: one pin on another page, released again (the flag is never cleared).
      const pin = new Int32Array(1);
      expect(pin_user_pages(m, p, a + PAGE, 1, FOLL_WRITE, pin)).toBe(1);
      unpin_user_pages(m, pin, 1);
      expect(p.mm.has_pinned).toBe(true);
      const got = new Int32Array(1);
      for (let i = 0; i < 1024; i++) expect(get_user_pages(m, p, a, 1, 0, got)).toBe(1);
      const page = got[0]!;
      expect(m.mem.refcount[page]).toBe(1025);
      expect(folio_maybe_dma_pinned(m, page)).toBe(true);
      const c = fork(m, p);
      expect(pfnAt(p, a)).toBe(page);
      expect(pte_write(pte(p, a))).toBe(true);
      expect(m.mem.PageAnonExclusive(page)).toBe(true);
      expect(pfnAt(c, a)).not.toBe(page);
      expect(m.mem.refcount[page]).toBe(1025);
      // The page whose pin was released is shared COW.
      expect(pfnAt(c, a + PAGE)).toBe(pfnAt(p, a + PAGE));
    },
  );

  it(
    'folio_needs_cow_for_dma(): without MMF_HAS_PINNED nothing is copied early, even a page with 1024 FOLL_GET ' +
      'references',
    () => {
      const m = new Machine({ memory: 256 << 20 });
      const p = m.spawn('parent');
      const a = anonWritten(m, p, 1);
      const got = new Int32Array(1);
      for (let i = 0; i < 1024; i++) expect(get_user_pages(m, p, a, 1, 0, got)).toBe(1);
      expect(p.mm.has_pinned).toBe(false); // FOLL_GET does not set MMF_HAS_PINNED
      const page = got[0]!;
      const c = fork(m, p);
      expect(pfnAt(c, a)).toBe(page);
      expect(m.mem.refcount[page]).toBe(1026);
      expect(m.mem.PageAnonExclusive(page)).toBe(false);
      expect(pte_write(pte(p, a))).toBe(false);
    },
  );

  it(
    'dup_mmap(): a VMA with MADV_DONTFORK (VM_DONTCOPY) is not copied at all; the parent keeps its pages ' +
      'as they were',
    () => {
      const m = new Machine({ memory: 256 << 20 });
      const p = m.spawn('parent');
      const a = anonWritten(m, p, 4);
      const pages = new Int32Array(4);
      expect(pin_user_pages(m, p, a, 4, FOLL_WRITE | FOLL_LONGTERM, pages)).toBe(4);
      expect(do_madvise(m, p, a, 4 * PAGE, 'dontfork')).toBe(0);
      const free = m.alloc.nr_free_pages();
      const c = fork(m, p);
      expect(c.mm.vma_lookup(a)).toBeUndefined();
      expect(pte_present(pte(c, a))).toBe(false);
      expect(m.alloc.nr_free_pages()).toBe(free);
      for (let i = 0; i < 4; i++) {
        expect(pfnAt(p, a + i * PAGE)).toBe(pages[i]);
        expect(pte_write(pte(p, a + i * PAGE))).toBe(true);
        expect(m.mem.PageAnonExclusive(pages[i]!)).toBe(true);
        expect(m.mem.refcount[pages[i]!]).toBe(1 + 1024);
      }
      // The child faults fresh memory there only if it maps something itself: the address is unmapped.
      expect(userAccess(m, c, a, 1, false)).toBeLessThan(0);
    },
  );

  it(
    'copy_huge_pmd(): the huge zero PMD is shared with the child (a reference to the huge zero ' + 'folio, no copy)',
    () => {
      const m = new Machine({ memory: 256 << 20 });
      const p = m.spawn('parent');
      const a = do_mmap(m, p, { size: PMD_SIZE, type: 'anon' });
      expect(do_madvise(m, p, a, PMD_SIZE, 'hugepage')).toBe(0);
      expect(userAccess(m, p, a, PMD_SIZE, false)).toBe(0);
      const e = p.mm.pt.pmdLeaf(a);
      expect(is_huge_zero_folio(m, pte_pfn(e))).toBe(true);
      const free = m.alloc.nr_free_pages();
      const c = fork(m, p);
      const ce = c.mm.pt.pmdLeaf(a);
      expect(pte_pfn(ce)).toBe(m.huge_zero_folio);
      expect(pte_write(ce)).toBe(false);
      expect(m.alloc.nr_free_pages()).toBe(free);
      expect(c.mm.rss_anon).toBe(0);
      // Not the PTE-level zero page.
      expect(pte_pfn(ce)).not.toBe(ZERO_PFN);
    },
  );

  it(
    'copy_pte_range(): fork with a pinned page fails -ENOMEM when the copy cannot be allocated (folio_prealloc), ' +
      'the child is torn down and the parent is intact',
    () => {
      const m = new Machine({ memory: 256 << 20 });
      const p = m.spawn('parent');
      const a = anonWritten(m, p, 1);
      const pages = new Int32Array(1);
      expect(pin_user_pages(m, p, a, 1, FOLL_WRITE | FOLL_LONGTERM, pages)).toBe(1);
      const pinned = pages[0]!;
      const pins = pinCounters(m);
      const free = m.alloc.nr_free_pages();
      m.alloc.setFailureInjection({ after: 0, times: Infinity });
      expect(kernel_clone(m, p, 'child')).toBe(-ENOMEM);
      m.alloc.setFailureInjection(undefined);
      expect(m.process('child')).toBeUndefined();
      expect(pinCounters(m)).toEqual(pins);
      expect(m.alloc.nr_free_pages()).toBe(free);
      expect(pfnAt(p, a)).toBe(pinned);
      expect(pte_write(pte(p, a))).toBe(true);
      expect(m.mem.PageAnonExclusive(pinned)).toBe(true);
      expect(m.mem.refcount[pinned]).toBe(1 + 1024);
      expect(m.mem.mapcount[pinned]).toBe(1);
      expect(m.warns.records).toEqual([]);
      // Once memory is available again, fork works.
      const c = fork(m, p);
      expect(pfnAt(c, a)).not.toBe(pinned);
    },
  );
});

describe('fork(): what the page-table copy shared, copied and split (ForkStats)', () => {
  const forkStats = (m: Machine, p: Process): ForkStats => {
    const st: ForkStats = { shared: 0, copied: 0, pmd_split: 0 };
    expect(typeof kernel_clone(m, p, 'child', st)).toBe('object');
    return st;
  };

  it('copy_present_ptes(): base pages are shared, a pinned one copied; the zero page is not counted', () => {
    const m = new Machine({ memory: 256 << 20 });
    const p = m.spawn('parent');
    const a = anonWritten(m, p, 4);
    const z = do_mmap(m, p, { size: 2 * PAGE, type: 'anon' });
    expect(do_madvise(m, p, z, 2 * PAGE, 'nohugepage')).toBe(0);
    expect(userAccess(m, p, z, 2 * PAGE, false)).toBe(0); // the zero page, twice
    const pages = new Int32Array(1);
    expect(pin_user_pages(m, p, a + PAGE, 1, FOLL_WRITE, pages)).toBe(1);
    expect(forkStats(m, p)).toEqual({ shared: 3, copied: 1, pmd_split: 0 });
  });

  it('copy_huge_pmd(): a THP is shared whole (512 pages); pinned, its PMD is split and its pages copied', () => {
    const thp = (pin: boolean) => {
      const m = new Machine({ memory: 256 << 20 });
      const p = m.spawn('parent');
      const a = do_mmap(m, p, { size: PMD_SIZE, type: 'anon' });
      expect(do_madvise(m, p, a, PMD_SIZE, 'hugepage')).toBe(0);
      expect(userAccess(m, p, a, PMD_SIZE, true)).toBe(0);
      expect(p.mm.pt.pmdLeaf(a)).not.toBe(0);
      if (pin) expect(pin_user_pages(m, p, a, 1, FOLL_WRITE, new Int32Array(1))).toBe(1);
      return forkStats(m, p);
    };
    expect(thp(false)).toEqual({ shared: 512, copied: 0, pmd_split: 0 });
    expect(thp(true)).toEqual({ shared: 0, copied: 512, pmd_split: 1 });
  });

  it('copy_hugetlb_page_range(): a hugetlb page is shared whole; pinned, it is copied into a pool page', () => {
    const huge = (pin: boolean) => {
      const m = new Machine({ memory: 256 << 20, hugetlb: { '2M': 2 } });
      const p = m.spawn('parent');
      const a = do_mmap(m, p, { size: PMD_SIZE, type: 'hugetlb', shared: false });
      expect(userAccess(m, p, a, PMD_SIZE, true)).toBe(0);
      if (pin) expect(pin_user_pages(m, p, a, 1, FOLL_WRITE, new Int32Array(1))).toBe(1);
      return forkStats(m, p);
    };
    expect(huge(false)).toEqual({ shared: 512, copied: 0, pmd_split: 0 });
    expect(huge(true)).toEqual({ shared: 0, copied: 512, pmd_split: 0 });
  });
});
