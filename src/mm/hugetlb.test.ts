// Unit tests for the hugetlb pools and faults (mm/hugetlb.ts, mm/hugetlb_fault.ts) and for pinning
// hugetlb pages through GUP: one `it` per kernel rule of mm/hugetlb.c (hugetlb_reserve_pages,
// alloc_hugetlb_folio, hugetlb_no_page, hugetlb_wp) and mm/gup.c (follow_huge_pmd/pud,
// try_grab_folio). Expectations from ../../../shared/spec/accounting.md and the kernel source.

import { describe, it, expect } from 'vitest';
import { Machine } from './machine.js';
import { type Process } from './task.js';
import { do_exit } from '../kernel/exit.js';
import { EFAULT, ENOMEM } from '../uapi/errno.js';
import { do_mmap, do_munmap } from './mmap.js';
import { userAccess } from './user_access.js';
import { pin_user_pages, pin_user_pages_fast, unpin_user_pages, get_user_pages, put_page } from './gup.js';
import { FOLL_LONGTERM, FOLL_WRITE } from './foll_flags.js';
import { PAGE_SIZE, PMD_SIZE, PUD_SIZE, PMD_ORDER, PUD_ORDER } from './memmap.js';
import { pte_pfn, pte_write } from './pgtable.js';
import { fork, pinCounters } from '../../test/support.js';
import { checkInvariants } from '../tools/invariants.js';

const PAGE = PAGE_SIZE;

describe('hugetlb pools (nr_hugepages)', () => {
  it(
    'set_max_huge_pages(): nr_hugepages=N takes N free huge pages out of the buddy allocator; free pool folios hold ' +
      'no reference',
    () => {
      const plain = new Machine({ memory: 256 << 20 });
      const m = new Machine({ memory: 256 << 20, hugetlb: { '2M': 4 } });
      const h = m.hugetlb.hstate(PMD_ORDER);
      expect(h.nr_huge_pages).toBe(4);
      expect(m.hugetlb.nrFree(PMD_ORDER)).toBe(4);
      expect(h.resv_huge_pages).toBe(0);
      expect(m.alloc.nr_free_pages()).toBe(plain.alloc.nr_free_pages() - 4 * 512);
      expect(m.vmstat.get('nr_free_pages')).toBe(plain.vmstat.get('nr_free_pages') - 4 * 512);
      for (const f of h.freelist) {
        expect(m.mem.folio_test_hugetlb(f)).toBe(true);
        expect(m.mem.folio_order(f)).toBe(PMD_ORDER);
        expect(m.mem.refcount[f]).toBe(0);
      }
    },
  );

  it('set_max_huge_pages(): asking for more huge pages than memory holds gives as many as could be allocated', () => {
    const m = new Machine({ memory: 64 << 20, hugetlb: { '2M': 100 } });
    const n = m.hugetlb.hstate(PMD_ORDER).nr_huge_pages;
    expect(n).toBeGreaterThan(0);
    expect(n).toBeLessThan(32); // 64 MiB minus the reserved low memory
    expect(m.hugetlb.nrFree(PMD_ORDER)).toBe(n);
  });

  it('hugetlb pools per size: a 1 GiB pool holds order-18 folios', () => {
    const m = new Machine({ hugetlb: { '1G': 1 } });
    expect(m.hugetlb.hstate(PUD_ORDER).nr_huge_pages).toBe(1);
    const f = m.hugetlb.hstate(PUD_ORDER).freelist[0]!;
    expect(m.mem.folio_order(f)).toBe(PUD_ORDER);
    expect(f % (1 << PUD_ORDER)).toBe(0);
  });
});

describe('reservations (hugetlb_reserve_pages)', () => {
  it(
    'hugetlb_reserve_pages(): mmap reserves every huge page of the mapping (HugePages_Rsvd); the first fault ' +
      'consumes the reservation',
    () => {
      const m = new Machine({ memory: 256 << 20, hugetlb: { '2M': 3 } });
      const p = m.spawn('app');
      const a = do_mmap(m, p, { size: 2 * PMD_SIZE, type: 'hugetlb', shared: false });
      expect(a).toBeGreaterThan(0);
      const h = m.hugetlb.hstate(PMD_ORDER);
      expect(h.resv_huge_pages).toBe(2);
      expect(m.hugetlb.nrFree(PMD_ORDER)).toBe(3);
      expect(userAccess(m, p, a, 1, true)).toBe(0);
      expect(h.resv_huge_pages).toBe(1);
      expect(m.hugetlb.nrFree(PMD_ORDER)).toBe(2);
      expect(p.mm.rss_anon).toBe(512);
    },
  );

  it(
    'hugetlb_reserve_pages(): mmap fails with -ENOMEM when the pool cannot cover the mapping (hugetlb_file_setup), ' +
      'also when free pages are all reserved by another mapping',
    () => {
      const m = new Machine({ memory: 256 << 20, hugetlb: { '2M': 2 } });
      const p = m.spawn('app');
      expect(do_mmap(m, p, { size: 3 * PMD_SIZE, type: 'hugetlb', shared: false })).toBe(-ENOMEM);
      const a = do_mmap(m, p, { size: 2 * PMD_SIZE, type: 'hugetlb', shared: false });
      expect(a).toBeGreaterThan(0);
      // Both free folios are reserved for `a` (not yet faulted).
      expect(m.hugetlb.nrFree(PMD_ORDER)).toBe(2);
      expect(do_mmap(m, p, { size: PMD_SIZE, type: 'hugetlb', shared: true })).toBe(-ENOMEM);
      // Unmapping gives the reservations back.
      expect(do_munmap(m, p, a, 2 * PMD_SIZE)).toBe(0);
      expect(m.hugetlb.hstate(PMD_ORDER).resv_huge_pages).toBe(0);
      expect(do_mmap(m, p, { size: PMD_SIZE, type: 'hugetlb', shared: true })).toBeGreaterThan(0);
    },
  );
});

describe('pinning hugetlb pages (follow_huge_pmd / follow_huge_pud)', () => {
  it(
    'try_grab_folio(): pinning a 2M hugetlb page counts one unit per subpage: _pincount and _refcount += n, ' +
      'nr_foll_pin_acquired += n',
    () => {
      const m = new Machine({ memory: 256 << 20, hugetlb: { '2M': 1 } });
      const p = m.spawn('app');
      const a = do_mmap(m, p, { size: PMD_SIZE, type: 'hugetlb', shared: false });
      expect(userAccess(m, p, a, 1, true)).toBe(0);
      const folio = pte_pfn(p.mm.pt.pmdLeaf(a));
      expect(m.mem.refcount[folio]).toBe(1);
      const all = new Int32Array(512);
      expect(pin_user_pages(m, p, a, 512, FOLL_WRITE, all)).toBe(512);
      for (let i = 0; i < 512; i++) expect(all[i]).toBe(folio + i);
      expect(m.mem.folioPincount(folio)).toBe(512);
      expect(m.mem.refcount[folio]).toBe(1 + 512);
      expect(pinCounters(m)).toEqual([512, 0]);
      // A partial range inside the huge page: only the pages asked for.
      const some = new Int32Array(3);
      expect(pin_user_pages(m, p, a + 100 * PAGE, 3, FOLL_WRITE, some)).toBe(3);
      expect(Array.from(some)).toEqual([folio + 100, folio + 101, folio + 102]);
      expect(m.mem.folioPincount(folio)).toBe(515);
      expect(m.mem.refcount[folio]).toBe(1 + 515);
      unpin_user_pages(m, some, 3);
      unpin_user_pages(m, all, 512);
      expect(m.mem.folioPincount(folio)).toBe(0);
      expect(m.mem.refcount[folio]).toBe(1);
      expect(pinCounters(m)).toEqual([515, 515]);
      expect(m.warns.records).toEqual([]);
    },
  );

  it('gup_fast_pmd_leaf(): pin_user_pages_fast() pins a hugetlb PMD leaf in one grab of n units', () => {
    const m = new Machine({ memory: 256 << 20, hugetlb: { '2M': 1 } });
    const p = m.spawn('app');
    const a = do_mmap(m, p, { size: PMD_SIZE, type: 'hugetlb', shared: false });
    expect(userAccess(m, p, a, 1, true)).toBe(0);
    const folio = pte_pfn(p.mm.pt.pmdLeaf(a));
    const pages = new Int32Array(16);
    expect(pin_user_pages_fast(m, p, a + 8 * PAGE, 16, FOLL_WRITE, pages)).toBe(16);
    expect(pages[0]).toBe(folio + 8);
    expect(m.mem.folioPincount(folio)).toBe(16);
    expect(m.mem.refcount[folio]).toBe(17);
    unpin_user_pages(m, pages, 16);
  });

  it('follow_huge_pud(): a 1G hugetlb page is mapped by a PUD leaf and pinned per subpage like a 2M one', () => {
    const m = new Machine({ hugetlb: { '1G': 1 } });
    const p = m.spawn('app');
    const a = do_mmap(m, p, { size: PUD_SIZE, type: 'hugetlb', hugeOrder: PUD_ORDER, shared: false });
    expect(a).toBeGreaterThan(0);
    expect(a % PUD_SIZE).toBe(0);
    expect(userAccess(m, p, a + 12345 * PAGE, 1, true)).toBe(0);
    const e = p.mm.pt.pudLeaf(a);
    expect(e).not.toBe(0);
    expect(pte_write(e)).toBe(true);
    expect(p.mm.pt.pmdLeaf(a)).toBe(0);
    const folio = pte_pfn(e);
    expect(m.mem.folio_order(folio)).toBe(PUD_ORDER);
    expect(m.mem.folio_test_hugetlb(folio)).toBe(true);
    expect(p.mm.rss_anon).toBe(1 << PUD_ORDER);
    const pages = new Int32Array(4);
    expect(pin_user_pages(m, p, a + 1000 * PAGE, 4, FOLL_WRITE, pages)).toBe(4);
    expect(Array.from(pages)).toEqual([folio + 1000, folio + 1001, folio + 1002, folio + 1003]);
    expect(m.mem.folioPincount(folio)).toBe(4);
    expect(m.mem.refcount[folio]).toBe(5);
    expect(pinCounters(m)).toEqual([4, 0]);
    // The fast path takes PUD leaves too.
    const fast = new Int32Array(2);
    expect(pin_user_pages_fast(m, p, a + PUD_SIZE - 2 * PAGE, 2, FOLL_WRITE, fast)).toBe(2);
    expect(fast[1]).toBe(folio + (1 << PUD_ORDER) - 1);
    expect(m.mem.folioPincount(folio)).toBe(6);
    unpin_user_pages(m, pages, 4);
    unpin_user_pages(m, fast, 2);
    expect(m.mem.folioPincount(folio)).toBe(0);
    expect(m.warns.records).toEqual([]);
  });
});

describe('hugetlb COW faults (hugetlb_wp)', () => {
  /** A private 2M hugetlb page written by the parent, then shared with a child by fork (no pins). */
  function sharedAfterFork(pool: number): { m: Machine; p: Process; c: Process; a: number; folio: number } {
    const m = new Machine({ memory: 256 << 20, hugetlb: { '2M': pool } });
    const p = m.spawn('parent');
    const a = do_mmap(m, p, { size: PMD_SIZE, type: 'hugetlb', shared: false });
    expect(userAccess(m, p, a, 1, true)).toBe(0);
    const folio = pte_pfn(p.mm.pt.pmdLeaf(a));
    const c = fork(m, p);
    expect(pte_pfn(c.mm.pt.pmdLeaf(a))).toBe(folio);
    expect(m.mem.refcount[folio]).toBe(2);
    expect(m.mem.PageAnonExclusive(folio)).toBe(false);
    return { m, p, c, a, folio };
  }

  it(
    'hugetlb_wp(): a write to a hugetlb page shared after fork copies it into a new pool folio (allocated without a ' +
      'reservation)',
    () => {
      const { m, c, a, folio } = sharedAfterFork(2);
      expect(userAccess(m, c, a, 1, true)).toBe(0);
      const copy = pte_pfn(c.mm.pt.pmdLeaf(a));
      expect(copy).not.toBe(folio);
      expect(m.mem.folio_test_hugetlb(copy)).toBe(true);
      expect(m.mem.PageAnonExclusive(copy)).toBe(true);
      expect(m.mem.refcount[folio]).toBe(1);
      expect(m.hugetlb.nrFree(PMD_ORDER)).toBe(0);
    },
  );

  it(
    'alloc_hugetlb_folio() -> vmf_error(): with the pool exhausted a GUP write fault is VM_FAULT_SIGBUS, so ' +
      'pin_user_pages() fails with -EFAULT (not -ENOMEM)',
    () => {
      const { m, c, a, folio } = sharedAfterFork(1);
      expect(m.hugetlb.nrFree(PMD_ORDER)).toBe(0);
      const pages = new Int32Array(1);
      expect(pin_user_pages(m, c, a, 1, FOLL_WRITE, pages)).toBe(-EFAULT);
      expect(m.why?.fn).toBe('faultin_page');
      expect(pinCounters(m)).toEqual([0, 0]);
      expect(pte_pfn(c.mm.pt.pmdLeaf(a))).toBe(folio);
      // The CPU's store gets SIGBUS (-EFAULT here) the same way.
      expect(userAccess(m, c, a, 1, true)).toBe(-EFAULT);
    },
  );

  it(
    'hugetlb_wp(): an unshare fault (R/O pin of a shared hugetlb page) allocates like a write fault; pool ' +
      'exhaustion is VM_FAULT_SIGBUS -> -EFAULT as well',
    () => {
      const { m, c, a } = sharedAfterFork(1);
      const pages = new Int32Array(1);
      expect(pin_user_pages(m, c, a, 1, 0, pages)).toBe(-EFAULT);
      expect(m.why?.fn).toBe('faultin_page');
      expect(pinCounters(m)).toEqual([0, 0]);
    },
  );

  it(
    'hugetlb_wp(): with a free pool folio, a R/O pin of a shared hugetlb page unshares it (new exclusive folio, ' +
      'mapped read-only) and pins the copy',
    () => {
      const { m, p, c, a, folio } = sharedAfterFork(2);
      const pages = new Int32Array(1);
      expect(pin_user_pages(m, c, a, 1, 0, pages)).toBe(1);
      const e = c.mm.pt.pmdLeaf(a);
      const copy = pte_pfn(e);
      expect(copy).not.toBe(folio);
      expect(pages[0]).toBe(copy);
      expect(pte_write(e)).toBe(false);
      expect(m.mem.PageAnonExclusive(copy)).toBe(true);
      expect(m.mem.folioPincount(copy)).toBe(1);
      expect(pte_pfn(p.mm.pt.pmdLeaf(a))).toBe(folio);
      unpin_user_pages(m, pages, 1);
    },
  );

  it(
    'hugetlb_wp(): reuse is decided by folio_mapcount() == 1, not by the refcount: an extra FOLL_GET reference does ' +
      'not force a copy (the hugetlb vmsplice case cow.c marks XFAIL)',
    () => {
      const { m, p, c, a, folio } = sharedAfterFork(1);
      // A FOLL_GET reference taken in the child (vmsplice-like), then the child exits.
      const got = new Int32Array(1);
      expect(get_user_pages(m, c, a, 1, 0, got)).toBe(1);
      expect(got[0]).toBe(folio);
      do_exit(m, c);
      expect(m.mem.refcount[folio]).toBe(2);
      expect(m.mem.folio_mapcount(folio)).toBe(1);
      // The parent's write reuses the folio (no pool folio would be free for a copy anyway).
      expect(userAccess(m, p, a, 1, true)).toBe(0);
      const e = p.mm.pt.pmdLeaf(a);
      expect(pte_pfn(e)).toBe(folio);
      expect(pte_write(e)).toBe(true);
      expect(m.mem.PageAnonExclusive(folio)).toBe(true);
      put_page(m, got[0]!);
      expect(m.mem.refcount[folio]).toBe(1);
    },
  );
});

describe('the mmap owner keeps its pages (hugetlb_wp -> unmap_ref_private)', () => {
  /** A private 2M page the parent (the mmap owner) wrote, shared with a fork child; pool exhausted. */
  function ownerWithChild(): { m: Machine; p: Process; c: Process; a: number; folio: number } {
    const m = new Machine({ memory: 256 << 20, hugetlb: { '2M': 1 } });
    const p = m.spawn('parent');
    const a = do_mmap(m, p, { size: PMD_SIZE, type: 'hugetlb', shared: false });
    expect(userAccess(m, p, a, 1, true)).toBe(0);
    const folio = pte_pfn(p.mm.pt.pmdLeaf(a));
    const c = fork(m, p);
    expect(m.mem.folio_mapcount(folio)).toBe(2);
    expect(m.hugetlb.nrFree(PMD_ORDER)).toBe(0);
    return { m, p, c, a, folio };
  }

  it(
    "hugetlb_wp(): the owner's write to a page its child shares, with no huge page to copy into, unmaps the page " +
      "from the child and reuses it; the child's next access is SIGBUS (HPAGE_RESV_UNMAPPED)",
    () => {
      const { m, p, c, a, folio } = ownerWithChild();
      expect(userAccess(m, p, a, 1, true)).toBe(0);
      const e = p.mm.pt.pmdLeaf(a);
      expect(pte_pfn(e)).toBe(folio);
      expect(pte_write(e)).toBe(true);
      expect(m.mem.PageAnonExclusive(folio)).toBe(true);
      expect(m.mem.folio_mapcount(folio)).toBe(1);
      expect(c.mm.pt.pmdLeaf(a)).toBe(0);
      expect(c.mm.rss_anon).toBe(0);
      expect(userAccess(m, c, a, 1, false)).toBe(-EFAULT);
      expect(m.hugetlb.counters(PMD_ORDER)).toMatchObject({ nr_hugepages: 1, free_hugepages: 0, resv_hugepages: 0 });
    },
  );

  it(
    "hugetlb_wp(): the owner's FOLL_WRITE|FOLL_LONGTERM pin and its R/O pin (an unshare fault) of the shared page " +
      'succeed the same way, on the page the owner already had',
    () => {
      for (const flags of [FOLL_WRITE | FOLL_LONGTERM, 0]) {
        const { m, p, c, a, folio } = ownerWithChild();
        const pages = new Int32Array(1);
        expect(pin_user_pages(m, p, a, 1, flags, pages)).toBe(1);
        expect(pages[0]).toBe(folio);
        expect(c.mm.pt.pmdLeaf(a)).toBe(0);
        expect(pte_write(p.mm.pt.pmdLeaf(a))).toBe(flags !== 0);
        unpin_user_pages(m, pages, 1);
      }
    },
  );

  it("hugetlb_wp(): the child's write is no owner's: with the pool exhausted it is SIGBUS and nothing changes", () => {
    const { m, p, c, a, folio } = ownerWithChild();
    expect(userAccess(m, c, a, 1, true)).toBe(-EFAULT);
    expect(pte_pfn(c.mm.pt.pmdLeaf(a))).toBe(folio);
    expect(pte_pfn(p.mm.pt.pmdLeaf(a))).toBe(folio);
  });
});

describe('hugetlb pages in movable memory (htlb_alloc_mask, folio_isolate_hugetlb)', () => {
  it(
    'htlb_alloc_mask(): 2M pool pages are allocated movable, so with movable: they sit in ZONE_MOVABLE; ' +
      'gigantic (1G) pages are not',
    () => {
      const m = new Machine({ memory: 4 * PUD_SIZE, movable: 2 * PUD_SIZE, hugetlb: { '2M': 4, '1G': 1 } });
      for (const f of m.hugetlb.hstate(PMD_ORDER).freelist) expect(m.alloc.zoneOf(f)).toBe('MOVABLE');
      for (const f of m.hugetlb.hstate(PUD_ORDER).freelist) expect(m.alloc.zoneOf(f)).not.toBe('MOVABLE');
    },
  );

  it('htlb_alloc_mask(): with cma: the 2M pool may sit in CMA pageblocks', () => {
    const m = new Machine({ memory: 1 << 30, cma: 768 << 20, hugetlb: { '2M': 2 } });
    for (const f of m.hugetlb.hstate(PMD_ORDER).freelist) expect(m.alloc.is_migrate_cma_page(f)).toBe(true);
  });

  it(
    'collect_longterm_unpinnable_folios() -> folio_isolate_hugetlb(): a FOLL_LONGTERM pin of a hugetlb page in ' +
      'ZONE_MOVABLE migrates it into a fresh pinnable folio (alloc_migrate_hugetlb_folio) instead of failing; the ' +
      'old folio, now temporary, leaves the pool',
    () => {
      const m = new Machine({ memory: 1 << 30, movable: 256 << 20, hugetlb: { '2M': 2 } });
      const p = m.spawn('app');
      const a = do_mmap(m, p, { size: PMD_SIZE, type: 'hugetlb', shared: false });
      expect(userAccess(m, p, a, PAGE, true)).toBe(0);
      const old = pte_pfn(p.mm.pt.pmdLeaf(a));
      expect(m.alloc.zoneOf(old)).toBe('MOVABLE');
      const free = m.alloc.nr_free_pages();
      const pages = new Int32Array(4);
      expect(pin_user_pages(m, p, a, 4, FOLL_WRITE | FOLL_LONGTERM, pages)).toBe(4);
      const now = pte_pfn(p.mm.pt.pmdLeaf(a));
      expect(now).not.toBe(old);
      expect(pages[0]).toBe(now);
      expect(m.alloc.zoneOf(now)).not.toBe('MOVABLE');
      expect(m.mem.folio_test_hugetlb(now)).toBe(true);
      expect(m.mem.folioPincount(now)).toBe(4);
      expect(m.vmstat.get('pgmigrate_success')).toBe(512);
      // The pool keeps its size; the movable free page stays in it, the old mapped one went to the buddy.
      expect(m.hugetlb.counters(PMD_ORDER)).toMatchObject({ nr_hugepages: 2, free_hugepages: 1, resv_hugepages: 0 });
      expect(m.alloc.nr_free_pages()).toBe(free);
      expect(m.mem.folio_test_hugetlb(old)).toBe(false);
      expect(pinCounters(m)).toEqual([8, 4]);
      unpin_user_pages(m, pages, 4);
      expect(checkInvariants(m)).toEqual([]);
    },
  );

  it(
    'alloc_hugetlb_folio_nodemask(): when the pool has a free pinnable page nobody reserved, the migration takes ' +
      'it, and the old folio goes back on the free list',
    () => {
      // 2 MiB of ZONE_MOVABLE: the pool's first page lands there, the second in DMA32.
      const m = new Machine({ memory: 1 << 30, movable: PMD_SIZE, hugetlb: { '2M': 2 } });
      const [dma, movable] = m.hugetlb.hstate(PMD_ORDER).freelist.slice().reverse();
      expect(m.alloc.zoneOf(movable!)).toBe('MOVABLE');
      expect(m.alloc.zoneOf(dma!)).not.toBe('MOVABLE');
      const p = m.spawn('app');
      const a = do_mmap(m, p, { size: 2 * PMD_SIZE, type: 'hugetlb', shared: false, noreserve: true });
      expect(userAccess(m, p, a, 2 * PMD_SIZE, true)).toBe(0);
      expect(do_munmap(m, p, a, PMD_SIZE)).toBe(0);
      const b = a + PMD_SIZE;
      expect(pte_pfn(p.mm.pt.pmdLeaf(b))).toBe(movable);
      const pages = new Int32Array(1);
      expect(pin_user_pages(m, p, b, 1, FOLL_WRITE | FOLL_LONGTERM, pages)).toBe(1);
      expect(pages[0]).toBe(dma);
      expect(m.hugetlb.hstate(PMD_ORDER).freelist).toEqual([movable]);
      expect(m.hugetlb.counters(PMD_ORDER)).toMatchObject({ nr_hugepages: 2, free_hugepages: 1 });
      unpin_user_pages(m, pages, 1);
      expect(checkInvariants(m)).toEqual([]);
    },
  );
});
