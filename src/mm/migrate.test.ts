// Unit tests for FOLL_LONGTERM's pinnability rules and migrate-and-retry loop (mm/gup.c
// __gup_longterm_locked, check_and_migrate_movable_pages, check_vma_flags; mm/migrate.c
// migrate_pages with MR_LONGTERM_PIN; include/linux/mm.h folio_is_longterm_pinnable). One `it` per
// kernel rule; expectations from ../../../shared/spec/longterm.md and the kernel source.

import { describe, it, expect } from 'vitest';
import { Machine } from './machine.js';
import { type Process } from './task.js';
import { EFAULT, ENOMEM, EOPNOTSUPP } from '../uapi/errno.js';
import { do_mmap } from './mmap.js';
import { userAccess } from './user_access.js';
import {
  pin_user_pages,
  pin_user_pages_fast,
  unpin_user_pages,
  get_user_pages,
  put_page,
  folio_maybe_dma_pinned,
  folio_is_longterm_pinnable,
} from './gup.js';
import { FOLL_WRITE, FOLL_LONGTERM } from './foll_flags.js';
import { PAGE_SIZE } from './memmap.js';
import { pte_pfn, pte_write } from './pgtable.js';
import { lru_add_drain, lruBatchRefs } from './swap.js';
import { folioIsolateLru, migrateFolioToPinnable, putback_movable_pages } from './migrate.js';
import { do_munmap } from './mmap.js';
import { checkInvariants } from '../tools/invariants.js';

const PAGE = PAGE_SIZE;
const N = 8;

function pfnAt(p: Process, addr: number): number {
  return pte_pfn(p.mm.pt.pte(addr));
}

function pinCounters(m: Machine): [number, number] {
  return [m.vmstat.get('nr_foll_pin_acquired'), m.vmstat.get('nr_foll_pin_released')];
}

/** A machine whose top 512 MiB are ZONE_MOVABLE (movablecore=): user pages land there first. */
function movableMachine(): Machine {
  return new Machine({ memory: 1 << 30, movable: 512 << 20 });
}

/** N written private anon pages; returns the address and their PFNs. */
function prefaulted(m: Machine, p: Process, n = N): { a: number; pfns: number[] } {
  const a = do_mmap(m, p, { size: n * PAGE, type: 'anon' });
  expect(a).toBeGreaterThan(0);
  expect(userAccess(m, p, a, n * PAGE, true)).toBe(0);
  return { a, pfns: Array.from({ length: n }, (_, i) => pfnAt(p, a + i * PAGE)) };
}

describe('FOLL_LONGTERM on ZONE_MOVABLE / CMA memory: migrate, then pin (check_and_migrate_movable_pages)', () => {
  it(
    'folio_is_longterm_pinnable(): pages of a GFP_HIGHUSER_MOVABLE fault land in ZONE_MOVABLE and are not ' +
      'longterm-pinnable',
    () => {
      const m = movableMachine();
      const p = m.spawn('app');
      const { pfns } = prefaulted(m, p);
      for (const pfn of pfns) {
        expect(m.alloc.zoneOf(pfn)).toBe('MOVABLE');
        expect(folio_is_longterm_pinnable(m, pfn)).toBe(false);
      }
    },
  );

  it(
    '__gup_longterm_locked(): FOLL_LONGTERM migrates ZONE_MOVABLE pages to pinnable memory and pins the new PFNs; ' +
      'the process now maps the new pages; vmstat shows the dropped first pass (acquired 2n, released n)',
    () => {
      const m = movableMachine();
      const p = m.spawn('app');
      const { a, pfns } = prefaulted(m, p);
      const pages = new Int32Array(N);
      expect(pin_user_pages(m, p, a, N, FOLL_WRITE | FOLL_LONGTERM, pages)).toBe(N);
      for (let i = 0; i < N; i++) {
        const pfn = pages[i]!;
        expect(pfn).not.toBe(pfns[i]);
        expect(m.alloc.zoneOf(pfn)).not.toBe('MOVABLE');
        expect(folio_is_longterm_pinnable(m, pfn)).toBe(true);
        // The mapping follows the migration (remove_migration_ptes), keeping write and exclusivity.
        expect(pfnAt(p, a + i * PAGE)).toBe(pfn);
        expect(pte_write(p.mm.pt.pte(a + i * PAGE))).toBe(true);
        expect(m.mem.PageAnonExclusive(pfn)).toBe(true);
        // + the lru_add batch's: migrate_folio_move() leaves the new folio there (6.12 and later).
        expect(m.mem.refcount[pfn]).toBe(1 + 1024 + 1);
        expect(lruBatchRefs(m, pfn)).toBe(1);
        expect(m.mem.mapcount[pfn]).toBe(1);
        // The old frames went back to the allocator.
        expect(m.mem.refcount[pfns[i]!]).toBe(0);
      }
      expect(pinCounters(m)).toEqual([2 * N, N]);
      expect(m.vmstat.get('pgmigrate_success')).toBe(N);
      expect(m.vmstat.get('nr_isolated_anon')).toBe(0);
      // A second (short-term) pin of the range finds the same, migrated pages.
      const again = new Int32Array(N);
      expect(pin_user_pages(m, p, a, N, FOLL_WRITE, again)).toBe(N);
      expect(Array.from(again)).toEqual(Array.from(pages));
      unpin_user_pages(m, again, N);
      unpin_user_pages(m, pages, N);
      expect(pinCounters(m)).toEqual([3 * N, 3 * N]);
      expect(m.warns.records).toEqual([]);
    },
  );

  it('folio_is_longterm_pinnable(): a short-term pin (no FOLL_LONGTERM) pins ZONE_MOVABLE pages where they are', () => {
    const m = movableMachine();
    const p = m.spawn('app');
    const { a, pfns } = prefaulted(m, p);
    const pages = new Int32Array(N);
    expect(pin_user_pages(m, p, a, N, FOLL_WRITE, pages)).toBe(N);
    expect(Array.from(pages)).toEqual(pfns);
    expect(pinCounters(m)).toEqual([N, 0]);
    expect(m.vmstat.get('pgmigrate_success')).toBe(0);
    unpin_user_pages(m, pages, N);
  });

  it('folio_is_longterm_pinnable(): pages in MIGRATE_CMA pageblocks are migrated out the same way', () => {
    // 768 MiB of CMA in a 1 GiB machine: CMA holds over half the zone's free memory, so movable
    // allocations are served from CMA first (__rmqueue's balancing).
    const m = new Machine({ memory: 1 << 30, cma: 768 << 20 });
    const p = m.spawn('app');
    const { a, pfns } = prefaulted(m, p);
    for (const pfn of pfns) {
      expect(m.alloc.is_migrate_cma_page(pfn)).toBe(true);
      expect(folio_is_longterm_pinnable(m, pfn)).toBe(false);
    }
    const pages = new Int32Array(N);
    expect(pin_user_pages(m, p, a, N, FOLL_WRITE | FOLL_LONGTERM, pages)).toBe(N);
    for (let i = 0; i < N; i++) {
      expect(pages[i]).not.toBe(pfns[i]);
      expect(m.alloc.is_migrate_cma_page(pages[i]!)).toBe(false);
      expect(pfnAt(p, a + i * PAGE)).toBe(pages[i]);
    }
    expect(pinCounters(m)).toEqual([2 * N, N]);
    unpin_user_pages(m, pages, N);
  });

  it(
    'migrate_longterm_unpinnable_folios(): an unexpected extra reference (FOLL_GET) makes migration fail: -ENOMEM, ' +
      'no pins left',
    () => {
      const m = movableMachine();
      const p = m.spawn('app');
      const { a, pfns } = prefaulted(m, p);
      const got = new Int32Array(1);
      expect(get_user_pages(m, p, a + 2 * PAGE, 1, 0, got)).toBe(1);
      expect(got[0]).toBe(pfns[2]);
      const pages = new Int32Array(N);
      expect(pin_user_pages(m, p, a, N, FOLL_WRITE | FOLL_LONGTERM, pages)).toBe(-ENOMEM);
      expect(m.why?.fn).toBe('migrate_longterm_unpinnable_folios');
      // Every pin of the first pass was dropped before migrating; nothing is pinned now.
      expect(pinCounters(m)).toEqual([N, N]);
      for (let i = 0; i < N; i++) {
        const pfn = pfnAt(p, a + i * PAGE);
        expect(folio_maybe_dma_pinned(m, pfn)).toBe(false);
        // The mapping's (and the GUP reference on page 2), and the lru_add batch's: the migrated
        // folios and the one put back (folio_putback_lru()) all went through it.
        expect(m.mem.refcount[pfn]).toBe((i === 2 ? 2 : 1) + 1);
        expect(lruBatchRefs(m, pfn)).toBe(1);
      }
      // The folio with the extra reference stayed where it was, still mapped (putback_movable_pages);
      // migrate_pages() still moved the others.
      expect(pfnAt(p, a + 2 * PAGE)).toBe(pfns[2]);
      expect(m.alloc.zoneOf(pfns[2]!)).toBe('MOVABLE');
      expect(m.vmstat.get('pgmigrate_fail')).toBeGreaterThan(0);
      expect(m.vmstat.get('nr_isolated_anon')).toBe(0);
      // Once the reference is dropped, the longterm pin succeeds.
      put_page(m, got[0]!);
      expect(pin_user_pages(m, p, a, N, FOLL_WRITE | FOLL_LONGTERM, pages)).toBe(N);
      for (let i = 0; i < N; i++) expect(m.alloc.zoneOf(pages[i]!)).not.toBe('MOVABLE');
      unpin_user_pages(m, pages, N);
      expect(m.warns.records).toEqual([]);
    },
  );

  it(
    'memalloc_pin_save() (PF_MEMALLOC_PIN): pages faulted in by a longterm pin are allocated outside ZONE_MOVABLE, ' +
      'so nothing needs migrating',
    () => {
      const m = movableMachine();
      const p = m.spawn('app');
      const a = do_mmap(m, p, { size: N * PAGE, type: 'anon' });
      const pages = new Int32Array(N);
      expect(pin_user_pages(m, p, a, N, FOLL_WRITE | FOLL_LONGTERM, pages)).toBe(N);
      for (let i = 0; i < N; i++) {
        expect(m.alloc.zoneOf(pages[i]!)).not.toBe('MOVABLE');
        expect(pfnAt(p, a + i * PAGE)).toBe(pages[i]);
      }
      expect(pinCounters(m)).toEqual([N, 0]);
      expect(m.vmstat.get('pgmigrate_success')).toBe(0);
      // The scope ends with the call: later ordinary faults use ZONE_MOVABLE again.
      expect(m.alloc.memallocPin).toBe(0);
      const { pfns } = prefaulted(m, p, 1);
      expect(m.alloc.zoneOf(pfns[0]!)).toBe('MOVABLE');
      unpin_user_pages(m, pages, N);
    },
  );

  it(
    'try_grab_folio_fast(): pin_user_pages_fast(FOLL_LONGTERM) will not pin movable pages locklessly; it falls back ' +
      'to the slow path, which migrates them',
    () => {
      const m = movableMachine();
      const p = m.spawn('app');
      const { a, pfns } = prefaulted(m, p);
      const pages = new Int32Array(N);
      expect(pin_user_pages_fast(m, p, a, N, FOLL_WRITE | FOLL_LONGTERM, pages)).toBe(N);
      // The retry touches the new pages a second time (PG_referenced moved with them): the classic LRU's
      // activate batch holds a reference on each until it is drained; the counts below are GUP's.
      lru_add_drain(m);
      for (let i = 0; i < N; i++) {
        expect(pages[i]).not.toBe(pfns[i]);
        expect(m.alloc.zoneOf(pages[i]!)).not.toBe('MOVABLE');
        expect(pfnAt(p, a + i * PAGE)).toBe(pages[i]);
        expect(m.mem.refcount[pages[i]!]).toBe(1 + 1024);
      }
      // The fast path's grab was undone without counting; the slow path counted two passes.
      expect(pinCounters(m)).toEqual([2 * N, N]);
      unpin_user_pages(m, pages, N);
      // Now pinnable: the fast path pins them directly, one pass, no migration.
      const migrated = m.vmstat.get('pgmigrate_success');
      expect(pin_user_pages_fast(m, p, a, N, FOLL_WRITE | FOLL_LONGTERM, pages)).toBe(N);
      expect(pinCounters(m)).toEqual([3 * N, 2 * N]);
      expect(m.vmstat.get('pgmigrate_success')).toBe(migrated);
      unpin_user_pages(m, pages, N);
      expect(m.warns.records).toEqual([]);
    },
  );
});

describe('FOLL_LONGTERM up-front refusals (check_vma_flags)', () => {
  it(
    'check_vma_flags(): FOLL_LONGTERM on an fsdax mapping (vma_is_fsdax) is refused with -EOPNOTSUPP before any ' +
      'page is touched; a short-term pin works',
    () => {
      const m = new Machine({ memory: 256 << 20, pmem: 64 << 20 });
      const p = m.spawn('app');
      const a = do_mmap(m, p, { size: 16 * PAGE, type: 'fsdax', name: 'f' });
      expect(a).toBeGreaterThan(0);
      const pages = new Int32Array(4);
      expect(pin_user_pages(m, p, a, 4, FOLL_LONGTERM, pages)).toBe(-EOPNOTSUPP);
      expect(m.why?.fn).toBe('check_vma_flags');
      expect(pin_user_pages(m, p, a, 4, FOLL_WRITE | FOLL_LONGTERM, pages)).toBe(-EOPNOTSUPP);
      expect(pinCounters(m)).toEqual([0, 0]);
      expect(pin_user_pages(m, p, a, 4, FOLL_WRITE, pages)).toBe(4);
      for (let i = 0; i < 4; i++) expect(m.alloc.zoneOf(pages[i]!)).toBe('DEVICE');
      // With the pages present, GUP-fast refuses them (fsdax folios are not longterm-pinnable) and the
      // slow path reports the VMA rule.
      expect(pin_user_pages_fast(m, p, a, 4, FOLL_WRITE | FOLL_LONGTERM, new Int32Array(4))).toBe(-EOPNOTSUPP);
      unpin_user_pages(m, pages, 4);
      expect(pinCounters(m)).toEqual([4, 4]);
    },
  );

  it(
    'writable_file_mapping_allowed(): FOLL_WRITE|FOLL_LONGTERM on a MAP_SHARED mapping of a disk file ' +
      '(dirty-tracked) is refused with -EFAULT; a R/O longterm pin and a short-term write pin are allowed',
    () => {
      const m = new Machine({ memory: 256 << 20 });
      const p = m.spawn('app');
      const file = m.newFile('disk', 'f', 16);
      const a = do_mmap(m, p, { size: 16 * PAGE, type: 'file', file, shared: true });
      expect(a).toBeGreaterThan(0);
      const pages = new Int32Array(4);
      expect(pin_user_pages(m, p, a, 4, FOLL_WRITE | FOLL_LONGTERM, pages)).toBe(-EFAULT);
      expect(m.why?.fn).toBe('check_vma_flags');
      expect(pinCounters(m)).toEqual([0, 0]);
      // R/O longterm: the page-cache pages themselves are pinned (no unshare in a shared mapping).
      expect(pin_user_pages(m, p, a, 4, FOLL_LONGTERM, pages)).toBe(4);
      for (let i = 0; i < 4; i++) {
        expect(pages[i]).toBe(file.lookup(i));
        expect(m.mem.folio_test_anon(pages[i]!)).toBe(false);
      }
      unpin_user_pages(m, pages, 4);
      // Short-term write pins (O_DIRECT reads into the mapping) are fine.
      expect(pin_user_pages(m, p, a, 4, FOLL_WRITE, pages)).toBe(4);
      unpin_user_pages(m, pages, 4);
      // GUP-fast refuses too and the slow path gives the same -EFAULT. gup_fast_folio_allowed() is
      // checked after try_grab_folio_fast() has pinned (and counted) the first page, so that page is
      // pinned and unpinned once: +1 acquired, +1 released.
      expect(userAccess(m, p, a, 4 * PAGE, true)).toBe(0);
      expect(pin_user_pages_fast(m, p, a, 4, FOLL_WRITE | FOLL_LONGTERM, pages)).toBe(-EFAULT);
      expect(pinCounters(m)).toEqual([9, 9]);
      expect(m.warns.records).toEqual([]);
    },
  );

  it(
    'writable_file_mapping_allowed(): a MAP_PRIVATE mapping of a disk file may be write-pinned longterm: the pins ' +
      'land on private anon COW copies',
    () => {
      const m = new Machine({ memory: 256 << 20 });
      const p = m.spawn('app');
      const file = m.newFile('disk', 'f', 16);
      const a = do_mmap(m, p, { size: 16 * PAGE, type: 'file', file, shared: false });
      const pages = new Int32Array(4);
      expect(pin_user_pages(m, p, a, 4, FOLL_WRITE | FOLL_LONGTERM, pages)).toBe(4);
      for (let i = 0; i < 4; i++) {
        expect(m.mem.folio_test_anon(pages[i]!)).toBe(true);
        expect(pfnAt(p, a + i * PAGE)).toBe(pages[i]);
      }
      unpin_user_pages(m, pages, 4);
    },
  );

  it(
    'vma_needs_dirty_tracking(): shmem does not need dirty tracking, so tmpfs files and memfd may be ' +
      'write-pinned longterm',
    () => {
      const m = new Machine({ memory: 256 << 20 });
      const p = m.spawn('app');
      const tmp = m.newFile('tmpfs', 't', 16);
      const a = do_mmap(m, p, { size: 16 * PAGE, type: 'file', file: tmp, shared: true });
      const b = do_mmap(m, p, { size: 16 * PAGE, type: 'memfd', name: 'buf' });
      const pa = new Int32Array(4);
      const pb = new Int32Array(4);
      expect(pin_user_pages(m, p, a, 4, FOLL_WRITE | FOLL_LONGTERM, pa)).toBe(4);
      expect(pin_user_pages(m, p, b, 4, FOLL_WRITE | FOLL_LONGTERM, pb)).toBe(4);
      for (let i = 0; i < 4; i++) {
        expect(pa[i]).toBe(tmp.lookup(i));
        expect(m.mem.folio_test_anon(pb[i]!)).toBe(false);
      }
      // GUP-fast takes shmem folios for a longterm write pin as well.
      expect(userAccess(m, p, a + 4 * PAGE, 4 * PAGE, true)).toBe(0);
      const pc = new Int32Array(4);
      const acq = pinCounters(m)[0];
      expect(pin_user_pages_fast(m, p, a + 4 * PAGE, 4, FOLL_WRITE | FOLL_LONGTERM, pc)).toBe(4);
      expect(pinCounters(m)[0]).toBe(acq + 4);
      unpin_user_pages(m, pa, 4);
      unpin_user_pages(m, pb, 4);
      unpin_user_pages(m, pc, 4);
      expect(m.warns.records).toEqual([]);
    },
  );
});

describe('putback_movable_pages(): folio_putback_lru() drops the isolation reference with folio_put()', () => {
  it('a folio every mapping of which went away while it was isolated is freed, not leaked', () => {
    const m = new Machine({ memory: 8 << 20 });
    const p = m.spawn('app');
    const { a, pfns } = prefaulted(m, p, 1);
    const folio = pfns[0]!;
    lru_add_drain(m); // the new page onto the LRU (migration's lru_cache_disable() drains)
    const free0 = m.alloc.nr_free_pages();
    expect(folioIsolateLru(m, folio)).toBe(true);
    // The process unmaps the page while migration holds it isolated: only the isolation's reference is left.
    expect(do_munmap(m, p, a, PAGE)).toBe(0);
    lru_add_drain(m);
    expect(m.mem.refcount[folio]).toBe(1);
    // folio_putback_lru(): into the LRU batch (which holds a reference of its own), the isolation's
    // reference dropped; the batch's drain drops the last one.
    putback_movable_pages(m, folio);
    lru_add_drain(m);
    expect(m.mem.refcount[folio]).toBe(0);
    expect(m.alloc.is_free_buddy_page(folio)).toBe(true);
    expect(m.alloc.nr_free_pages()).toBe(free0 + 1);
    expect(checkInvariants(m)).toEqual([]);
  });
});

describe('migrate_folio_unmap(): a folio freed from under the migration is done, not moved', () => {
  it('an isolated folio whose mappings all went away is freed (a success), with no new folio left behind', () => {
    const m = movableMachine();
    const p = m.spawn('app');
    const { a, pfns } = prefaulted(m, p, 1);
    const folio = pfns[0]!;
    lru_add_drain(m);
    const free0 = m.alloc.nr_free_pages();
    const moved0 = m.vmstat.get('pgmigrate_success');
    expect(folioIsolateLru(m, folio)).toBe(true);
    expect(do_munmap(m, p, a, PAGE)).toBe(0);
    lru_add_drain(m);
    expect(m.mem.refcount[folio]).toBe(1);
    // folio_ref_count(src) == 1: migrate_folio_done() drops the isolation's reference; nothing is allocated.
    expect(migrateFolioToPinnable(m, folio)).toEqual({ ok: true });
    expect(m.alloc.is_free_buddy_page(folio)).toBe(true);
    expect(m.alloc.nr_free_pages()).toBe(free0 + 1);
    expect(m.vmstat.get('pgmigrate_success')).toBe(moved0 + 1);
    expect(m.vmstat.get('nr_isolated_anon')).toBe(0);
    expect(checkInvariants(m)).toEqual([]);
  });
});
