// Unit tests for the pin / reference arithmetic of src/mm/gup.ts: GUP_PIN_COUNTING_BIAS, _pincount,
// folio_maybe_dma_pinned, NR_FOLL_PIN_ACQUIRED/RELEASED, the release family, folio_add_pin(s),
// misuse and refcount overflow.
// Rules: mm/gup.c try_grab_folio(), try_grab_folio_fast(), gup_put_folio(), unpin_*(),
// folio_add_pin(s)() (Asphaltt/mm @ 2b4cbe0a) and include/linux/mm.h; see /work/shared/spec/accounting.md.

import { describe, it, expect } from 'vitest';
import { lru_add_drain } from './swap.js';
import { Machine, type MachineConfig } from './machine.js';
import { ZERO_PFN, GUP_PIN_COUNTING_BIAS, HPAGE_PMD_NR, PAGE_SIZE, PMD_ORDER, PMD_SIZE } from './memmap.js';
import type { Process } from './task.js';
import { ENOMEM, EFAULT } from '../uapi/errno.js';
import { do_mmap } from './mmap.js';
import { do_madvise } from './madvise.js';
import { userAccess } from './user_access.js';
import {
  get_user_pages,
  pin_user_pages,
  pin_user_pages_fast,
  unpin_user_page,
  unpin_user_pages,
  unpin_user_pages_dirty_lock,
  unpin_user_page_range_dirty_lock,
  unpin_folio,
  unpin_folios,
  unpin_user_folio,
  folio_add_pin,
  folio_add_pins,
  put_page,
  folio_maybe_dma_pinned,
} from './gup.js';
import { FOLL_WRITE } from './foll_flags.js';
import { pte_pfn } from './pgtable.js';

// ---------------------------------------------------------------------------------------------
// Helpers

function world(cfg: Partial<MachineConfig> = {}): { m: Machine; p: Process } {
  const m = new Machine({ memory: 1 << 30, ...cfg });
  return { m, p: m.spawn('app') };
}

/**
 * npages of small-page anonymous memory, write-faulted; the LRU batches are then drained (as long
 * after the faults), so the counts are the mappings' and GUP's.
 */
function small(m: Machine, p: Process, npages: number): number {
  const len = npages * PAGE_SIZE;
  const addr = do_mmap(m, p, { size: len, type: 'anon' });
  expect(do_madvise(m, p, addr, len, 'nohugepage')).toBe(0);
  expect(userAccess(m, p, addr, len, true)).toBe(0);
  lru_add_drain(m);
  return addr;
}

/** n PMD-mapped anonymous THPs, write-faulted (MADV_HUGEPAGE under thp=madvise). */
function thp(m: Machine, p: Process, n = 1): number {
  const len = n * PMD_SIZE;
  const addr = do_mmap(m, p, { size: len, type: 'anon', align: PMD_SIZE });
  expect(do_madvise(m, p, addr, len, 'hugepage')).toBe(0);
  expect(userAccess(m, p, addr, len, true)).toBe(0);
  for (let i = 0; i < n; i++) {
    const f = m.mem.page_folio(pfnAt(p, addr + i * PMD_SIZE));
    expect(m.mem.folio_order(f)).toBe(PMD_ORDER); // precondition: a real THP
    expect(p.mm.pt.pmdLeaf(addr + i * PMD_SIZE)).not.toBe(0);
  }
  return addr;
}

function pfnAt(p: Process, addr: number): number {
  const pt = p.mm.pt;
  const leaf = pt.pmdLeaf(addr);
  if (leaf) return pte_pfn(leaf) + Math.floor((addr % PMD_SIZE) / PAGE_SIZE);
  return pte_pfn(pt.pte(addr));
}

function folioAt(m: Machine, p: Process, addr: number): number {
  return m.mem.page_folio(pfnAt(p, addr));
}

function buf(n: number): Int32Array {
  return new Int32Array(n).fill(-1);
}

function acquired(m: Machine): number {
  return m.vmstat.get('nr_foll_pin_acquired');
}

function released(m: Machine): number {
  return m.vmstat.get('nr_foll_pin_released');
}

/** Snapshot of a folio's counters. */
function state(m: Machine, folio: number): { ref: number; pin: number } {
  return { ref: m.mem.refcount[folio]!, pin: m.mem.folioPincount(folio) };
}

// ---------------------------------------------------------------------------------------------

describe('grab arithmetic (try_grab_folio / try_grab_folio_fast)', () => {
  it(
    'try_grab_folio: FOLL_PIN on a small folio adds GUP_PIN_COUNTING_BIAS (1024) to _refcount per pin, ' +
      'NR_FOLL_PIN_ACQUIRED +1',
    () => {
      expect(GUP_PIN_COUNTING_BIAS).toBe(1 << 10);
      const { m, p } = world();
      const addr = small(m, p, 1);
      const f = folioAt(m, p, addr);
      expect(m.mem.folio_test_large(f)).toBe(false);
      const rc = m.mem.refcount[f]!;
      const pages = buf(1);
      expect(pin_user_pages(m, p, addr, 1, FOLL_WRITE, pages)).toBe(1);
      expect(m.mem.refcount[f]).toBe(rc + GUP_PIN_COUNTING_BIAS);
      expect(acquired(m)).toBe(1);
      expect(pin_user_pages(m, p, addr, 1, 0, pages)).toBe(1);
      expect(m.mem.refcount[f]).toBe(rc + 2 * GUP_PIN_COUNTING_BIAS);
      expect(m.mem.folioPincount(f)).toBe(0); // small folios have no _pincount
      expect(acquired(m)).toBe(2);
      expect(folio_maybe_dma_pinned(m, f)).toBe(true);
    },
  );

  it('try_grab_folio_fast: a GUP-fast pin of a small folio also nets +1024 (try_get_folio +1, then +1023)', () => {
    const { m, p } = world();
    const addr = small(m, p, 2);
    const rc = [folioAt(m, p, addr), folioAt(m, p, addr + PAGE_SIZE)].map((f) => m.mem.refcount[f]!);
    const pages = buf(2);
    expect(pin_user_pages_fast(m, p, addr, 2, FOLL_WRITE, pages)).toBe(2);
    expect(m.mem.refcount[pages[0]!]).toBe(rc[0]! + GUP_PIN_COUNTING_BIAS);
    expect(m.mem.refcount[pages[1]!]).toBe(rc[1]! + GUP_PIN_COUNTING_BIAS);
    expect(acquired(m)).toBe(2);
  });

  it(
    'try_grab_folio: FOLL_PIN on a large PTE-mapped folio (64K mTHP) adds 1 to _refcount and 1 to _pincount per ' +
      'page, ACQUIRED per page',
    () => {
      const { m, p } = world({ mthp: { '64K': 'always' } });
      const addr = do_mmap(m, p, { size: 64 << 10, type: 'anon', align: 64 << 10 });
      expect(userAccess(m, p, addr, 64 << 10, true)).toBe(0);
      const f = folioAt(m, p, addr);
      expect(m.mem.folio_order(f)).toBe(4);
      expect(p.mm.pt.pmdLeaf(addr)).toBe(0); // PTE-mapped
      const before = state(m, f);
      expect(before.pin).toBe(0);
      const pages = buf(3);
      expect(pin_user_pages(m, p, addr + 5 * PAGE_SIZE, 3, FOLL_WRITE, pages)).toBe(3);
      expect([...pages]).toEqual([f + 5, f + 6, f + 7]);
      expect(state(m, f)).toEqual({ ref: before.ref + 3, pin: 3 });
      expect(acquired(m)).toBe(3);
      // Fast path: same net effect.
      expect(pin_user_pages_fast(m, p, addr, 2, FOLL_WRITE, pages)).toBe(2);
      expect(state(m, f)).toEqual({ ref: before.ref + 5, pin: 5 });
      expect(acquired(m)).toBe(5);
    },
  );

  it(
    'THP head counted per subpage: pin_user_pages of all 512 subpages of a PMD-mapped THP -> _pincount 512, ' +
      '_refcount +512, ACQUIRED +512',
    () => {
      const { m, p } = world();
      const addr = thp(m, p);
      const f = folioAt(m, p, addr);
      const before = state(m, f);
      const pages = buf(HPAGE_PMD_NR);
      expect(pin_user_pages(m, p, addr, HPAGE_PMD_NR, FOLL_WRITE, pages)).toBe(HPAGE_PMD_NR);
      for (let i = 0; i < HPAGE_PMD_NR; i++) expect(pages[i]).toBe(f + i);
      expect(state(m, f)).toEqual({ ref: before.ref + HPAGE_PMD_NR, pin: HPAGE_PMD_NR });
      expect(acquired(m)).toBe(HPAGE_PMD_NR);
      expect(folio_maybe_dma_pinned(m, f)).toBe(true);
    },
  );

  it(
    '__get_user_pages page_increm: a sub-range of a THP grabs exactly the pages asked for, split at the PMD ' +
      'leaf boundary',
    () => {
      const { m, p } = world();
      const addr = thp(m, p, 2);
      const f1 = folioAt(m, p, addr);
      const f2 = folioAt(m, p, addr + PMD_SIZE);
      const b1 = state(m, f1);
      const b2 = state(m, f2);
      // 10 pages from the middle of the first THP.
      const mid = buf(10);
      expect(pin_user_pages(m, p, addr + 100 * PAGE_SIZE, 10, 0, mid)).toBe(10);
      expect(mid[0]).toBe(f1 + 100);
      expect(state(m, f1)).toEqual({ ref: b1.ref + 10, pin: 10 });
      // 20 pages across the boundary: 12 in the first folio, 8 in the second.
      const cross = buf(20);
      expect(pin_user_pages(m, p, addr + 500 * PAGE_SIZE, 20, 0, cross)).toBe(20);
      expect(cross[11]).toBe(f1 + 511);
      expect(cross[12]).toBe(f2);
      expect(state(m, f1)).toEqual({ ref: b1.ref + 22, pin: 22 });
      expect(state(m, f2)).toEqual({ ref: b2.ref + 8, pin: 8 });
      expect(acquired(m)).toBe(30);
      // The fast path's PMD leaf grab (one try_grab_folio_fast of refs = pages in range) agrees.
      expect(pin_user_pages_fast(m, p, addr + 500 * PAGE_SIZE, 20, 0, cross)).toBe(20);
      expect(state(m, f1)).toEqual({ ref: b1.ref + 34, pin: 34 });
      expect(state(m, f2)).toEqual({ ref: b2.ref + 16, pin: 16 });
      expect(acquired(m)).toBe(50);
    },
  );

  it('try_grab_folio_fast on a PMD leaf: pin_user_pages_fast of a whole THP -> _refcount 513, _pincount 512', () => {
    const { m, p } = world();
    const addr = thp(m, p);
    const f = folioAt(m, p, addr);
    expect(state(m, f)).toEqual({ ref: 1, pin: 0 }); // one PMD mapping
    const pages = buf(HPAGE_PMD_NR);
    expect(pin_user_pages_fast(m, p, addr, HPAGE_PMD_NR, FOLL_WRITE, pages)).toBe(HPAGE_PMD_NR);
    expect(state(m, f)).toEqual({ ref: 1 + HPAGE_PMD_NR, pin: HPAGE_PMD_NR });
    expect(acquired(m)).toBe(HPAGE_PMD_NR);
  });

  it('hugetlb (2M) folio: pin of every subpage -> _pincount += 512, _refcount += 512 (folio_has_pincount)', () => {
    const { m, p } = world({ hugetlb: { '2M': 1 } });
    const addr = do_mmap(m, p, { size: PMD_SIZE, type: 'hugetlb' });
    expect(userAccess(m, p, addr, PMD_SIZE, true)).toBe(0);
    const f = folioAt(m, p, addr);
    expect(m.mem.folio_test_hugetlb(f)).toBe(true);
    const before = state(m, f);
    const pages = buf(HPAGE_PMD_NR);
    expect(pin_user_pages(m, p, addr, HPAGE_PMD_NR, FOLL_WRITE, pages)).toBe(HPAGE_PMD_NR);
    expect(state(m, f)).toEqual({ ref: before.ref + HPAGE_PMD_NR, pin: before.pin + HPAGE_PMD_NR });
    unpin_user_pages(m, pages, HPAGE_PMD_NR);
    expect(state(m, f)).toEqual(before);
    expect(released(m)).toBe(acquired(m));
  });

  it('try_grab_folio FOLL_GET: +1 _refcount per page on small and large folios, no _pincount, no vmstat', () => {
    const { m, p } = world();
    const s = small(m, p, 1);
    const h = thp(m, p);
    const sf = folioAt(m, p, s);
    const hf = folioAt(m, p, h);
    const bs = state(m, sf);
    const bh = state(m, hf);
    const pages = buf(HPAGE_PMD_NR);
    expect(get_user_pages(m, p, s, 1, FOLL_WRITE, pages)).toBe(1);
    expect(get_user_pages(m, p, h, HPAGE_PMD_NR, FOLL_WRITE, pages)).toBe(HPAGE_PMD_NR);
    expect(state(m, sf)).toEqual({ ref: bs.ref + 1, pin: 0 });
    expect(state(m, hf)).toEqual({ ref: bh.ref + HPAGE_PMD_NR, pin: 0 });
    expect(acquired(m)).toBe(0);
    expect(released(m)).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------

describe('folio_maybe_dma_pinned (include/linux/mm.h)', () => {
  it(
    'folio_maybe_dma_pinned: exact for large folios — >= 1024 FOLL_GET references on a THP are not a pin, ' +
      'one pin is',
    () => {
      const { m, p } = world();
      const addr = thp(m, p);
      const f = folioAt(m, p, addr);
      const pages = buf(HPAGE_PMD_NR);
      expect(get_user_pages(m, p, addr, HPAGE_PMD_NR, 0, pages)).toBe(HPAGE_PMD_NR);
      expect(get_user_pages(m, p, addr, HPAGE_PMD_NR, 0, pages)).toBe(HPAGE_PMD_NR);
      expect(m.mem.refcount[f]! >= GUP_PIN_COUNTING_BIAS).toBe(true);
      expect(folio_maybe_dma_pinned(m, f)).toBe(false);
      const one = buf(1);
      expect(pin_user_pages(m, p, addr + 7 * PAGE_SIZE, 1, 0, one)).toBe(1);
      expect(folio_maybe_dma_pinned(m, f)).toBe(true);
      unpin_user_page(m, one[0]!);
      expect(folio_maybe_dma_pinned(m, f)).toBe(false);
    },
  );

  it(
    'folio_maybe_dma_pinned: 1024 FOLL_GET references on a small folio read as pinned (the fuzzy ' + 'false positive)',
    () => {
      const { m, p } = world();
      const addr = small(m, p, 1);
      const f = folioAt(m, p, addr);
      expect(m.mem.refcount[f]).toBe(1); // the mapping
      const pages = buf(1);
      // 1022 gets: refcount 1023, still below the bias.
      for (let i = 0; i < GUP_PIN_COUNTING_BIAS - 2; i++) expect(get_user_pages(m, p, addr, 1, 0, pages)).toBe(1);
      expect(m.mem.refcount[f]).toBe(GUP_PIN_COUNTING_BIAS - 1);
      expect(folio_maybe_dma_pinned(m, f)).toBe(false);
      // The next two (1024 in all taken with get_user_pages) cross it: no pin exists, yet "maybe pinned".
      expect(get_user_pages(m, p, addr, 1, 0, pages)).toBe(1);
      expect(get_user_pages(m, p, addr, 1, 0, pages)).toBe(1);
      expect(m.mem.refcount[f]).toBe(1 + GUP_PIN_COUNTING_BIAS);
      expect(folio_maybe_dma_pinned(m, f)).toBe(true);
      expect(acquired(m)).toBe(0);
      put_page(m, pages[0]!);
      put_page(m, pages[0]!);
      expect(folio_maybe_dma_pinned(m, f)).toBe(false);
    },
  );
});

// ---------------------------------------------------------------------------------------------

describe('release arithmetic (gup_put_folio and the unpin family)', () => {
  it('vmstat balanced after a huge pin then per-page unpin_user_page calls (PAGE_SIZE granularity)', () => {
    const { m, p } = world();
    const addr = thp(m, p);
    const f = folioAt(m, p, addr);
    const before = state(m, f);
    const pages = buf(HPAGE_PMD_NR);
    expect(pin_user_pages(m, p, addr, HPAGE_PMD_NR, FOLL_WRITE, pages)).toBe(HPAGE_PMD_NR);
    for (let i = 0; i < HPAGE_PMD_NR; i++) {
      unpin_user_page(m, pages[i]!);
      expect(released(m)).toBe(i + 1);
    }
    expect(acquired(m)).toBe(HPAGE_PMD_NR);
    expect(released(m)).toBe(acquired(m));
    expect(state(m, f)).toEqual(before);
    expect(folio_maybe_dma_pinned(m, f)).toBe(false);
    expect(m.warns.records).toEqual([]);
  });

  it(
    'unpin_user_pages: one release per run of entries in the same folio (gup_folio_next), counted per page; NULL ' +
      'entries skipped',
    () => {
      const { m, p } = world();
      const h = thp(m, p);
      const s = small(m, p, 2);
      const hf = folioAt(m, p, h);
      const a = folioAt(m, p, s);
      const b = folioAt(m, p, s + PAGE_SIZE);
      const before = [state(m, hf), state(m, a), state(m, b)];
      const hp = buf(HPAGE_PMD_NR);
      const sp = buf(2);
      const again = buf(1);
      expect(pin_user_pages(m, p, h, HPAGE_PMD_NR, 0, hp)).toBe(HPAGE_PMD_NR);
      expect(pin_user_pages(m, p, s, 2, 0, sp)).toBe(2);
      expect(pin_user_pages(m, p, s, 1, 0, again)).toBe(1);
      expect(m.mem.refcount[a]).toBe(before[1]!.ref + 2 * GUP_PIN_COUNTING_BIAS);
      // [THP 0..9] NULL [a a b] [THP 10..511]: runs of 10, 2 (same small folio twice), 1, 502.
      const mixed = Int32Array.from([...hp.subarray(0, 10), -1, sp[0]!, again[0]!, sp[1]!, ...hp.subarray(10)]);
      unpin_user_pages(m, mixed, mixed.length);
      expect([state(m, hf), state(m, a), state(m, b)]).toEqual(before);
      expect(released(m)).toBe(HPAGE_PMD_NR + 3);
      expect(released(m)).toBe(acquired(m));
      expect(m.warns.records).toEqual([]);
    },
  );

  it(
    'unpin_user_pages_dirty_lock(make_dirty): folio_mark_dirty once per folio run, only if clean (a THP is dirtied ' +
      'as a whole), then released; anon dirtiness is not NR_FILE_DIRTY',
    () => {
      const { m, p } = world();
      const h = thp(m, p);
      const s = small(m, p, 2);
      const hf = folioAt(m, p, h);
      const sf = [folioAt(m, p, s), folioAt(m, p, s + PAGE_SIZE)];
      const pages = buf(HPAGE_PMD_NR + 2);
      expect(pin_user_pages(m, p, h, HPAGE_PMD_NR, FOLL_WRITE, pages)).toBe(HPAGE_PMD_NR);
      expect(pin_user_pages(m, p, s, 2, FOLL_WRITE, pages.subarray(HPAGE_PMD_NR))).toBe(2);
      expect(m.mem.folio_test_dirty(hf)).toBe(false); // precondition: pin_user_pages has no FOLL_TOUCH
      expect(sf.map((f) => m.mem.folio_test_dirty(f))).toEqual([false, false]);
      const dirty = m.vmstat.get('nr_dirty');
      unpin_user_pages_dirty_lock(m, pages, pages.length, true);
      expect(m.mem.folio_test_dirty(hf)).toBe(true);
      expect(sf.map((f) => m.mem.folio_test_dirty(f))).toEqual([true, true]);
      // Anon folios have no mapping that can write back: noop_dirty_folio(), no NR_FILE_DIRTY.
      expect(m.vmstat.get('nr_dirty')).toBe(dirty);
      expect(state(m, hf)).toEqual({ ref: 1, pin: 0 });
      expect(released(m)).toBe(HPAGE_PMD_NR + 2);
      expect(released(m)).toBe(acquired(m));
    },
  );

  it(
    'unpin_user_pages_dirty_lock(make_dirty) on a disk-file page cache folio: NR_FILE_DIRTY +1 per folio, once, and ' +
      'only if it was clean',
    () => {
      const { m, p } = world();
      const file = m.newFile('disk', 'data', 2);
      file.users++;
      const addr = do_mmap(m, p, { size: 2 * PAGE_SIZE, type: 'file', file, shared: true });
      expect(userAccess(m, p, addr, 2 * PAGE_SIZE, false)).toBe(0); // read: clean page cache
      const f = [folioAt(m, p, addr), folioAt(m, p, addr + PAGE_SIZE)];
      expect(f.map((x) => m.mem.folio_test_dirty(x))).toEqual([false, false]);
      const dirty = m.vmstat.get('nr_dirty');
      const a = buf(2);
      const b = buf(1);
      expect(pin_user_pages(m, p, addr, 2, 0, a)).toBe(2);
      expect(pin_user_pages(m, p, addr, 1, 0, b)).toBe(1);
      // [f0, f0, f1]: two runs; f0 is dirtied once.
      unpin_user_pages_dirty_lock(m, Int32Array.from([a[0]!, b[0]!, a[1]!]), 3, true);
      expect(f.map((x) => m.mem.folio_test_dirty(x))).toEqual([true, true]);
      expect(m.vmstat.get('nr_dirty')).toBe(dirty + 2);
      // Already dirty: not accounted again.
      expect(pin_user_pages(m, p, addr, 2, 0, a)).toBe(2);
      unpin_user_pages_dirty_lock(m, a, 2, true);
      expect(m.vmstat.get('nr_dirty')).toBe(dirty + 2);
      // page cache + mapping + the lru_add batch's (the read fault's new page-cache folios)
      expect(f.map((x) => m.mem.refcount[x])).toEqual([3, 3]);
      expect(released(m)).toBe(acquired(m));
      expect(m.warns.records).toEqual([]);
    },
  );

  it('unpin_user_pages_dirty_lock(make_dirty=false) is exactly unpin_user_pages: nothing dirtied', () => {
    const { m, p } = world();
    const h = thp(m, p);
    const hf = folioAt(m, p, h);
    const pages = buf(HPAGE_PMD_NR);
    expect(pin_user_pages(m, p, h, HPAGE_PMD_NR, FOLL_WRITE, pages)).toBe(HPAGE_PMD_NR);
    unpin_user_pages_dirty_lock(m, pages, HPAGE_PMD_NR, false);
    expect(m.mem.folio_test_dirty(hf)).toBe(false);
    expect(state(m, hf)).toEqual({ ref: 1, pin: 0 });
    expect(released(m)).toBe(HPAGE_PMD_NR);
  });

  it(
    'unpin_user_page_range_dirty_lock: a contiguous range released per folio, run = min(n - i, folio_nr_pages - ' +
      'index in folio)',
    () => {
      const { m, p } = world();
      const h = thp(m, p, 2);
      const f1 = folioAt(m, p, h);
      const f2 = folioAt(m, p, h + PMD_SIZE);
      const pages = buf(16);
      expect(pin_user_pages(m, p, h + 100 * PAGE_SIZE, 16, FOLL_WRITE, pages)).toBe(16);
      expect(state(m, f1).pin).toBe(16);
      unpin_user_page_range_dirty_lock(m, pages[0]!, 16, true);
      expect(state(m, f1)).toEqual({ ref: 1, pin: 0 });
      expect(m.mem.folio_test_dirty(f1)).toBe(true);
      expect(released(m)).toBe(16);
      // Across two physically contiguous folios (when the allocator placed them so): two runs.
      if (f2 === f1 + HPAGE_PMD_NR) {
        expect(pin_user_pages(m, p, h + 508 * PAGE_SIZE, 8, 0, pages)).toBe(8);
        unpin_user_page_range_dirty_lock(m, pages[0]!, 8, false);
        expect(state(m, f1)).toEqual({ ref: 1, pin: 0 });
        expect(state(m, f2)).toEqual({ ref: 1, pin: 0 });
        expect(m.mem.folio_test_dirty(f2)).toBe(false);
        expect(released(m)).toBe(24);
      }
      expect(released(m)).toBe(acquired(m));
      expect(m.warns.records).toEqual([]);
    },
  );

  it(
    'unpin_folios: runs of identical folio entries, NULL skipped; unpin_user_folio: npages units; ' +
      'unpin_folio: one unit',
    () => {
      const { m, p } = world();
      const h = thp(m, p);
      const s = small(m, p, 3);
      const hf = folioAt(m, p, h);
      const [a, b, c] = [0, 1, 2].map((i) => folioAt(m, p, s + i * PAGE_SIZE)) as [number, number, number];
      const pages = buf(HPAGE_PMD_NR);
      expect(pin_user_pages(m, p, h, HPAGE_PMD_NR, 0, pages)).toBe(HPAGE_PMD_NR);
      expect(pin_user_pages(m, p, s, 3, 0, pages)).toBe(3);
      expect(pin_user_pages(m, p, s, 1, 0, pages)).toBe(1); // a pinned twice
      expect(m.mem.refcount[a]).toBe(1 + 2 * GUP_PIN_COUNTING_BIAS);
      unpin_folios(m, Int32Array.from([a, a, -1, b, hf]), 5);
      expect(m.mem.refcount[a]).toBe(1);
      expect(m.mem.refcount[b]).toBe(1);
      expect(state(m, hf)).toEqual({ ref: 1 + HPAGE_PMD_NR - 1, pin: HPAGE_PMD_NR - 1 });
      expect(released(m)).toBe(4);
      unpin_user_folio(m, hf, HPAGE_PMD_NR - 1);
      expect(state(m, hf)).toEqual({ ref: 1, pin: 0 });
      expect(released(m)).toBe(4 + HPAGE_PMD_NR - 1);
      unpin_folio(m, c);
      expect(m.mem.refcount[c]).toBe(1);
      expect(released(m)).toBe(acquired(m));
      expect(m.warns.records).toEqual([]);
    },
  );

  it('put_page: drops one FOLL_GET reference per returned page, no vmstat', () => {
    const { m, p } = world();
    const s = small(m, p, 2);
    const h = thp(m, p);
    const hf = folioAt(m, p, h);
    const pages = buf(4);
    expect(get_user_pages(m, p, s, 2, 0, pages)).toBe(2);
    expect(get_user_pages(m, p, h, 2, 0, pages.subarray(2))).toBe(2);
    expect(state(m, hf).ref).toBe(3);
    for (const pg of pages) put_page(m, pg);
    expect([m.mem.refcount[pages[0]!], m.mem.refcount[pages[1]!]]).toEqual([1, 1]);
    expect(state(m, hf)).toEqual({ ref: 1, pin: 0 });
    expect([acquired(m), released(m)]).toEqual([0, 0]);
  });
});

// ---------------------------------------------------------------------------------------------

describe('folio_add_pin / folio_add_pins', () => {
  it('folio_add_pin: one more pin without counting NR_FOLL_PIN_ACQUIRED; the matching unpin counts RELEASED', () => {
    const { m, p } = world();
    const s = small(m, p, 1);
    const h = thp(m, p);
    const sf = folioAt(m, p, s);
    const hf = folioAt(m, p, h);
    const pages = buf(2);
    expect(pin_user_pages(m, p, s, 1, 0, pages)).toBe(1);
    expect(pin_user_pages(m, p, h, 1, 0, pages.subarray(1))).toBe(1);
    expect(acquired(m)).toBe(2);
    folio_add_pin(m, sf);
    folio_add_pin(m, hf);
    expect(m.mem.refcount[sf]).toBe(1 + 2 * GUP_PIN_COUNTING_BIAS);
    expect(state(m, hf)).toEqual({ ref: 3, pin: 2 });
    expect(acquired(m)).toBe(2);
    unpin_folio(m, sf);
    unpin_folio(m, sf);
    unpin_folio(m, hf);
    unpin_folio(m, hf);
    expect(m.mem.refcount[sf]).toBe(1);
    expect(state(m, hf)).toEqual({ ref: 1, pin: 0 });
    expect(released(m)).toBe(4);
    expect(released(m) - acquired(m)).toBe(2); // one per folio_add_pin
    expect(m.warns.records).toEqual([]);
  });

  it('folio_add_pin: the zero folio is left alone; an unpinned folio gets WARN_ON_ONCE and the pin anyway', () => {
    const { m, p } = world();
    const rc = m.mem.refcount[ZERO_PFN]!;
    folio_add_pin(m, ZERO_PFN);
    expect(m.mem.refcount[ZERO_PFN]).toBe(rc);
    expect(m.warns.records).toEqual([]);
    const s = small(m, p, 1);
    const sf = folioAt(m, p, s);
    folio_add_pin(m, sf);
    expect(m.warns.records.map((w) => w.fn)).toEqual(['folio_add_pin']);
    expect(m.mem.refcount[sf]).toBe(1 + GUP_PIN_COUNTING_BIAS);
    const h = thp(m, p);
    const hf = folioAt(m, p, h);
    folio_add_pin(m, hf);
    expect(m.warns.records.map((w) => w.fn)).toEqual(['folio_add_pin', 'folio_add_pin']);
    expect(state(m, hf)).toEqual({ ref: 2, pin: 1 });
    expect(acquired(m)).toBe(0);
  });

  it(
    'folio_add_pins: VM_WARN_ON_ONCE(!folio_maybe_dma_pinned), then try_grab_folio(FOLL_PIN) — counted ' +
      'in ACQUIRED',
    () => {
      const { m, p } = world();
      const s = small(m, p, 1);
      const h = thp(m, p);
      const sf = folioAt(m, p, s);
      const hf = folioAt(m, p, h);
      const pages = buf(1);
      expect(pin_user_pages(m, p, s, 1, 0, pages)).toBe(1);
      expect(folio_add_pins(m, sf, 3)).toBe(0);
      expect(m.mem.refcount[sf]).toBe(1 + 4 * GUP_PIN_COUNTING_BIAS);
      expect(acquired(m)).toBe(4);
      expect(m.warns.records).toEqual([]);
      // Not pinned yet: warns, still adds.
      expect(folio_add_pins(m, hf, 5)).toBe(0);
      expect(m.warns.records.map((w) => w.fn)).toEqual(['folio_add_pins']);
      expect(state(m, hf)).toEqual({ ref: 6, pin: 5 });
      expect(acquired(m)).toBe(9);
      unpin_user_folio(m, hf, 5);
      unpin_user_folio(m, sf, 4);
      expect(released(m)).toBe(acquired(m));
    },
  );
});

// ---------------------------------------------------------------------------------------------

describe('misuse', () => {
  it(
    'gup_put_folio misuse: unpinning a page that is not pinned applies the kernel arithmetic (no check, no WARN): ' +
      'small -1024, large _pincount -1 and _refcount -1, FOLL_GET pages -1024; nr_foll_pin_released counts each',
    () => {
      const { m, p } = world();
      const s = small(m, p, 1);
      const h = thp(m, p);
      const sf = folioAt(m, p, s);
      const hf = folioAt(m, p, h);
      // A second reference keeps the large folio from being freed by the misuse (this test is about the sums).
      const keep = buf(1);
      expect(get_user_pages(m, p, h, 1, 0, keep)).toBe(1);
      unpin_user_page(m, sf);
      expect(m.mem.refcount[sf]).toBe(1 - GUP_PIN_COUNTING_BIAS);
      unpin_user_page(m, hf + 3);
      expect(state(m, hf)).toEqual({ ref: 1, pin: -1 });
      expect(released(m)).toBe(2);
      // FOLL_GET pages are not pins either: the unpin still takes a pin's worth off the count.
      const s2 = small(m, p, 1);
      const f2 = folioAt(m, p, s2);
      const pages = buf(1);
      expect(get_user_pages(m, p, s2, 1, 0, pages)).toBe(1);
      unpin_user_pages(m, pages, 1);
      expect(m.mem.refcount[f2]).toBe(2 - GUP_PIN_COUNTING_BIAS);
      expect([acquired(m), released(m)]).toEqual([0, 3]);
      expect(m.warns.records).toEqual([]);
      expect(m.misuse.records).toHaveLength(3);
      // The pages stay mapped and usable: nothing in the kernel looks at the count on access.
      expect(userAccess(m, p, s, PAGE_SIZE, true)).toBe(0);
    },
  );

  it('unpin_user_pages / unpin_folios with an errno as the count (IS_ERR_VALUE) -> WARN_ON, nothing released', () => {
    const { m, p } = world();
    const s = small(m, p, 2);
    const pages = buf(2);
    expect(pin_user_pages(m, p, s, 2, 0, pages)).toBe(2);
    unpin_user_pages(m, pages, -EFAULT);
    expect(m.warns.records.map((w) => w.fn)).toEqual(['unpin_user_pages']);
    unpin_user_pages_dirty_lock(m, pages, -EFAULT, false); // make_dirty=false is unpin_user_pages
    expect(m.warns.records.map((w) => w.fn)).toEqual(['unpin_user_pages', 'unpin_user_pages']);
    unpin_folios(m, Int32Array.from([pages[0]!, pages[1]!]), -ENOMEM);
    expect(m.warns.records.map((w) => w.fn)).toEqual(['unpin_user_pages', 'unpin_user_pages', 'unpin_folios']);
    expect([m.mem.refcount[pages[0]!], m.mem.refcount[pages[1]!]]).toEqual([
      1 + GUP_PIN_COUNTING_BIAS,
      1 + GUP_PIN_COUNTING_BIAS,
    ]);
    expect(released(m)).toBe(0);
    unpin_user_pages(m, pages, 2);
    expect(released(m)).toBe(2);
  });
});

// ---------------------------------------------------------------------------------------------

describe('refcount overflow (accounting.md §5)', () => {
  /** _refcount is a signed 32-bit atomic: the value after adding d, as the kernel stores it. */
  const wrap = (v: number) => v | 0;

  it(
    'no add-overflow check: a small folio at 2^31 - 1024 - 1 + k (k = 1) wraps negative on the next pin; ' +
      'folio_maybe_dma_pinned stays true (unsigned compare); the next slow-path pin WARNs and fails -ENOMEM',
    () => {
      for (const k of [1, 2, 1023]) {
        const { m, p } = world();
        const s = small(m, p, 1);
        const f = folioAt(m, p, s);
        const start = 2 ** 31 - GUP_PIN_COUNTING_BIAS - 1 + k;
        m.mem.refcount[f] = start;
        const pages = buf(1);
        expect(pin_user_pages(m, p, s, 1, 0, pages), `k=${k}`).toBe(1);
        expect(m.mem.refcount[f]).toBe(wrap(start + GUP_PIN_COUNTING_BIAS));
        expect(m.mem.refcount[f]! < 0).toBe(true);
        expect(folio_maybe_dma_pinned(m, f)).toBe(true);
        expect(acquired(m)).toBe(1);
        const after = m.mem.refcount[f];
        expect(pin_user_pages(m, p, s, 1, 0, pages), `k=${k}`).toBe(-ENOMEM);
        expect(m.warns.records.map((w) => w.fn)).toEqual(['try_grab_folio']);
        expect(m.why).toMatchObject({ fn: 'try_grab_folio', errno: -ENOMEM });
        expect(m.mem.refcount[f]).toBe(after);
        expect(acquired(m)).toBe(1);
      }
    },
  );

  it('boundary k = 0: 2^31 - 1025 + 1024 = 2^31 - 1 is still positive, so one more pin is possible', () => {
    const { m, p } = world();
    const s = small(m, p, 1);
    const f = folioAt(m, p, s);
    m.mem.refcount[f] = 2 ** 31 - GUP_PIN_COUNTING_BIAS - 1;
    const pages = buf(1);
    expect(pin_user_pages(m, p, s, 1, 0, pages)).toBe(1);
    expect(m.mem.refcount[f]).toBe(2 ** 31 - 1);
    expect(pin_user_pages(m, p, s, 1, 0, pages)).toBe(1);
    expect(m.mem.refcount[f]! < 0).toBe(true);
    expect(m.warns.records).toEqual([]);
  });

  it(
    'gup_put_folio on a wrapped small folio: the unpin subtracts 1024 with the same 32-bit wrap and restores the ' +
      'count (no WARN)',
    () => {
      const { m, p } = world();
      const s = small(m, p, 1);
      const f = folioAt(m, p, s);
      const start = 2 ** 31 - GUP_PIN_COUNTING_BIAS; // k = 1
      m.mem.refcount[f] = start;
      const pages = buf(1);
      expect(pin_user_pages(m, p, s, 1, 0, pages)).toBe(1);
      expect(m.mem.refcount[f]! < 0).toBe(true);
      unpin_user_page(m, pages[0]!);
      expect(m.mem.refcount[f]).toBe(start);
      expect(released(m)).toBe(1);
      expect(m.warns.records).toEqual([]);
    },
  );

  it(
    '__get_user_pages: when grabbing the rest of a huge page fails (refcount wrapped by the first unit) the first ' +
      'unit is released and the call fails -EFAULT',
    () => {
      const { m, p } = world();
      const addr = thp(m, p);
      const f = folioAt(m, p, addr);
      const start = 2 ** 31 - 1; // follow_huge_pmd's try_grab_folio(folio, 1) wraps it
      m.mem.refcount[f] = start;
      const pages = buf(4);
      expect(pin_user_pages(m, p, addr, 4, 0, pages)).toBe(-EFAULT);
      // try_grab_folio(folio, page_increm - 1) saw _refcount <= 0: WARN_ON_ONCE, -ENOMEM.
      expect(m.warns.records.map((w) => w.fn)).toEqual(['try_grab_folio']);
      // gup_put_folio(folio, 1, FOLL_PIN) undid the first unit: counts as acquired 1, released 1.
      expect(state(m, f)).toEqual({ ref: start, pin: 0 });
      expect([acquired(m), released(m)]).toEqual([1, 1]);
      expect([...pages]).toEqual([-1, -1, -1, -1]);
    },
  );

  it(
    'overflowed folio on the fast path: try_get_folio WARNs (refcount < 0), GUP-fast falls back, the slow path ' +
      'WARNs and returns -ENOMEM; FOLL_GET is refused too',
    () => {
      const { m, p } = world();
      const s = small(m, p, 1);
      const f = folioAt(m, p, s);
      m.mem.refcount[f] = 2 ** 31 - GUP_PIN_COUNTING_BIAS; // k = 1
      const pages = buf(1);
      expect(pin_user_pages_fast(m, p, s, 1, 0, pages)).toBe(1);
      const negative = m.mem.refcount[f]!;
      expect(negative).toBe(wrap(2 ** 31));
      expect(pin_user_pages_fast(m, p, s, 1, 0, pages)).toBe(-ENOMEM);
      expect(m.warns.records.map((w) => w.fn)).toEqual(['try_get_folio', 'try_grab_folio']);
      expect(get_user_pages(m, p, s, 1, 0, pages)).toBe(-ENOMEM);
      expect(m.mem.refcount[f]).toBe(negative);
      expect(acquired(m)).toBe(1);
    },
  );
});
