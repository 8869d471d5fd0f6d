// Misuse of the release API behaves as the kernel behaves (mm/gup.c gup_put_folio(), include/linux/mm.h
// folio_put_refs() / put_page(), mm/swap.c __folio_put(), production config: no CONFIG_DEBUG_VM, no
// check_pages), and gupsim says what went wrong in m.misuse, never as a kernel WARN. Kernel WARNs appear
// only where the kernel has them (try_grab_folio()'s on a later grab).

import { describe, it, expect } from 'vitest';
import { world } from '../../test/support.js';
import type { Machine } from './machine.js';
import type { Process } from './task.js';
import { GUP_PIN_COUNTING_BIAS, PAGE_SIZE, PMD_ORDER, PMD_SIZE, ZERO_PFN } from './memmap.js';
import { ENOMEM } from '../uapi/errno.js';
import { do_mmap, do_munmap } from './mmap.js';
import { do_madvise } from './madvise.js';
import { userAccess } from './user_access.js';
import {
  get_user_pages,
  pin_user_pages,
  pin_user_pages_fast,
  pin_user_pages_remote,
  put_page,
  unpin_user_page,
  unpin_user_pages,
  unpin_user_pages_dirty_lock,
} from './gup.js';
import { folio_put_refs, leakedByMisuse, lru_add_drain } from './swap.js';
import { FOLL_LONGTERM, FOLL_WRITE } from './foll_flags.js';
import { do_exit } from '../kernel/exit.js';
import { kernel_clone } from '../kernel/fork.js';
import { checkInvariants } from '../tools/invariants.js';
import { migrateFolio } from './migrate.js';
import { pte_pfn } from './pgtable.js';

/**
 * One write-faulted small anon page, pinned; returns its address and PFN. The LRU batch that took the
 * new folio is drained first (as long after the fault): the counts below are the mapping's and the pins'.
 */
function smallPage(m: Machine, p: Process): { addr: number; pfn: number } {
  const addr = do_mmap(m, p, { size: PAGE_SIZE, type: 'anon' });
  expect(do_madvise(m, p, addr, PAGE_SIZE, 'nohugepage')).toBe(0);
  expect(userAccess(m, p, addr, PAGE_SIZE, true)).toBe(0);
  lru_add_drain(m);
  return { addr, pfn: pinOne(m, p, addr, true) };
}

/** Pin (pin = true) or get one page at addr; returns its PFN. */
function pinOne(m: Machine, p: Process, addr: number, pin: boolean): number {
  const pages = new Int32Array(1);
  expect(pin ? pin_user_pages(m, p, addr, 1, FOLL_WRITE, pages) : get_user_pages(m, p, addr, 1, 0, pages)).toBe(1);
  return pages[0]!;
}

const released = (m: Machine) => m.vmstat.get('nr_foll_pin_released');
const freePages = (m: Machine) => m.vmstat.get('nr_free_pages');

describe('double unpin of a small folio (gup_put_folio: no check)', () => {
  it('takes another GUP_PIN_COUNTING_BIAS off _refcount, counts nr_foll_pin_released, and WARNs nothing', () => {
    const { m, p } = world();
    const { pfn } = smallPage(m, p);
    expect(m.mem.refcount[pfn]).toBe(1 + GUP_PIN_COUNTING_BIAS);
    unpin_user_page(m, pfn);
    expect(m.misuse.records).toEqual([]);
    unpin_user_page(m, pfn);
    expect(m.mem.refcount[pfn]).toBe(1 - GUP_PIN_COUNTING_BIAS);
    expect(released(m)).toBe(2);
    expect(m.warns.records).toEqual([]);
    expect(m.misuse.records).toHaveLength(1);
    expect(m.misuse.records[0]).toMatchObject({
      what: expect.stringMatching(/small folio that does not hold that many pins/),
      kernel: expect.stringMatching(/_refcount 1 -> -1023.*never freed/),
    });
  });

  it('a later pin is refused as the kernel refuses it: try_grab_folio() WARN (refcount <= 0) and -ENOMEM', () => {
    const { m, p } = world();
    const { addr, pfn } = smallPage(m, p);
    unpin_user_page(m, pfn);
    unpin_user_page(m, pfn);
    const pages = new Int32Array(1);
    expect(pin_user_pages(m, p, addr, 1, FOLL_WRITE, pages)).toBe(-ENOMEM);
    expect(m.warns.records.map((w) => [w.fn, w.condition])).toEqual([
      ['try_grab_folio', 'folio_ref_count(folio) <= 0'],
    ]);
    // GUP-fast: try_get_folio() WARNs (< 0) and falls back; the slow path WARNs and fails the same way.
    expect(pin_user_pages_fast(m, p, addr, 1, FOLL_WRITE, pages)).toBe(-ENOMEM);
    expect(m.warns.records.map((w) => w.fn)).toEqual(['try_grab_folio', 'try_get_folio', 'try_grab_folio']);
    expect(m.mem.refcount[pfn]).toBe(1 - GUP_PIN_COUNTING_BIAS);
    // gupsim ties each refusal to the earlier misuse.
    expect(m.misuse.records.slice(1).map((r) => r.what)).toEqual([
      expect.stringMatching(/GUP reached folio .* an earlier misuse drove to or below zero/),
      expect.stringMatching(/GUP reached folio/),
    ]);
  });

  it('the count never reaches zero: after munmap the page is leaked for good (never back in nr_free_pages)', () => {
    const { m, p } = world();
    const { addr, pfn } = smallPage(m, p);
    unpin_user_page(m, pfn);
    unpin_user_page(m, pfn);
    const free0 = freePages(m);
    expect(do_munmap(m, p, addr, PAGE_SIZE)).toBe(0);
    expect(m.mem.refcount[pfn]).toBe(-GUP_PIN_COUNTING_BIAS);
    expect(freePages(m)).toBe(free0);
    expect(m.alloc.is_free_buddy_page(pfn)).toBe(false);
    expect(leakedByMisuse(m)).toEqual([{ folio: pfn, order: 0, refcount: -GUP_PIN_COUNTING_BIAS }]);
    expect(checkInvariants(m)).toEqual([]);
  });
});

describe('put_page() on a pinned page (drops one plain reference)', () => {
  it('1025 -> 1024: the pin stays; the matching unpin then frees the page while it is still mapped', () => {
    const { m, p } = world();
    const { addr, pfn } = smallPage(m, p);
    put_page(m, pfn);
    // A small folio's pins cannot be told from references: nothing looks wrong yet, and nothing is recorded.
    expect(m.mem.refcount[pfn]).toBe(GUP_PIN_COUNTING_BIAS);
    expect(m.misuse.records).toEqual([]);
    const free0 = freePages(m);
    unpin_user_page(m, pfn);
    expect(m.mem.refcount[pfn]).toBe(0);
    expect(m.mem.mapcount[pfn]).toBe(1); // still mapped: a use-after-free
    expect(m.warns.records).toEqual([]); // a production kernel says nothing (no check_pages)
    expect(m.misuse.records).toHaveLength(1);
    expect(m.misuse.records[0]!.what).toMatch(/freed while still in use/);
    expect(m.misuse.records[0]!.kernel).toMatch(/BUG: Bad page state/);
    // gupsim keeps the frame out of its allocator while the mapping reaches it.
    expect(m.misuse.freedInUse.has(pfn)).toBe(true);
    expect(m.alloc.is_free_buddy_page(pfn)).toBe(false);
    expect(freePages(m)).toBe(free0);
    expect(checkInvariants(m)).toEqual([]);
    // The process still reads and writes the freed page; a pin of it is refused (refcount 0).
    expect(userAccess(m, p, addr, PAGE_SIZE, true)).toBe(0);
    const pages = new Int32Array(1);
    expect(pin_user_pages(m, p, addr, 1, FOLL_WRITE, pages)).toBe(-ENOMEM);
    expect(m.warns.records.map((w) => w.fn)).toEqual(['try_grab_folio']);
    expect(m.misuse.records.at(-1)!.what).toMatch(/freed while still mapped.*use-after-free/);
    // munmap drops the mapping's reference on the freed page (0 -> -1); now nothing reaches it.
    expect(do_munmap(m, p, addr, PAGE_SIZE)).toBe(0);
    expect(m.misuse.freedInUse.has(pfn)).toBe(false);
    expect(m.alloc.is_free_buddy_page(pfn)).toBe(true);
    expect(freePages(m)).toBe(free0 + 1);
    expect(checkInvariants(m)).toEqual([]);
  });

  it('on a large folio the missing reference shows at once (pins are exact there)', () => {
    const { m, p } = world();
    const addr = do_mmap(m, p, { size: PMD_SIZE, type: 'anon', align: PMD_SIZE });
    expect(do_madvise(m, p, addr, PMD_SIZE, 'hugepage')).toBe(0);
    expect(userAccess(m, p, addr, PMD_SIZE, true)).toBe(0);
    const pfn = pinOne(m, p, addr, true);
    const folio = m.mem.page_folio(pfn);
    expect(m.mem.folio_order(folio)).toBe(PMD_ORDER);
    put_page(m, pfn);
    expect([m.mem.refcount[folio], m.mem.folioPincount(folio)]).toEqual([1, 1]);
    expect(m.misuse.records.map((r) => r.what)).toEqual([expect.stringMatching(/put_page\(\) drops a reference/)]);
    // The unpin takes the count to zero under the PMD: the THP is freed while mapped.
    unpin_user_page(m, pfn);
    expect([m.mem.refcount[folio], m.mem.folioPincount(folio)]).toEqual([0, 0]);
    expect(m.misuse.freedInUse.has(folio)).toBe(true);
    expect(checkInvariants(m)).toEqual([]);
    do_exit(m, p);
    expect(m.misuse.freedInUse.has(folio)).toBe(false);
    expect(m.alloc.is_free_buddy_page(folio)).toBe(true);
    expect(checkInvariants(m)).toEqual([]);
  });
});

describe('double unpin of a large folio', () => {
  it('drives _pincount below zero; a second reference keeps the folio alive with _pincount -1', () => {
    const { m, p } = world();
    const addr = do_mmap(m, p, { size: PMD_SIZE, type: 'anon', align: PMD_SIZE });
    expect(do_madvise(m, p, addr, PMD_SIZE, 'hugepage')).toBe(0);
    expect(userAccess(m, p, addr, PMD_SIZE, true)).toBe(0);
    const pfn = pinOne(m, p, addr, true);
    pinOne(m, p, addr + PAGE_SIZE, false); // a FOLL_GET reference on the same THP
    const folio = m.mem.page_folio(pfn);
    unpin_user_page(m, pfn);
    unpin_user_page(m, pfn);
    expect([m.mem.refcount[folio], m.mem.folioPincount(folio)]).toEqual([1, -1]);
    expect(released(m)).toBe(2);
    expect(m.warns.records).toEqual([]);
    expect(m.misuse.records).toHaveLength(1);
    expect(m.misuse.records[0]!.kernel).toMatch(/_pincount 0 -> -1, _refcount 2 -> 1/);
    // folio_maybe_dma_pinned() is exact on large folios: -1 reads as not pinned.
    expect(checkInvariants(m)).toEqual([]);
  });
});

describe('unpin of pages taken with FOLL_GET, and double put_page()', () => {
  it('unpin_user_pages() on a FOLL_GET page subtracts a pin it never took: 2 -> -1022', () => {
    const { m, p } = world();
    const addr = do_mmap(m, p, { size: PAGE_SIZE, type: 'anon' });
    expect(userAccess(m, p, addr, PAGE_SIZE, true)).toBe(0);
    lru_add_drain(m); // the new folio's LRU batch moved: the counts are the mapping's and GUP's
    const pfn = pinOne(m, p, addr, false);
    unpin_user_pages(m, Int32Array.of(pfn), 1);
    expect(m.mem.refcount[pfn]).toBe(2 - GUP_PIN_COUNTING_BIAS);
    expect([m.vmstat.get('nr_foll_pin_acquired'), released(m)]).toEqual([0, 1]);
    expect(m.warns.records).toEqual([]);
    expect(m.misuse.records).toHaveLength(1);
  });

  it('a double put_page() takes the mapping reference: the page is freed while mapped', () => {
    const { m, p } = world();
    const addr = do_mmap(m, p, { size: PAGE_SIZE, type: 'anon' });
    expect(userAccess(m, p, addr, PAGE_SIZE, true)).toBe(0);
    lru_add_drain(m); // the new folio's LRU batch moved: the counts are the mapping's and GUP's
    const pfn = pinOne(m, p, addr, false);
    put_page(m, pfn);
    expect(m.misuse.records).toEqual([]);
    put_page(m, pfn);
    expect(m.mem.refcount[pfn]).toBe(0);
    expect(m.misuse.freedInUse.has(pfn)).toBe(true);
    expect(m.misuse.records.map((r) => r.what)).toEqual([expect.stringMatching(/freed while still in use/)]);
    expect(m.warns.records).toEqual([]);
    // A third put_page() finds a count of 0: a production kernel goes to -1; only a debug kernel would BUG.
    put_page(m, pfn);
    expect(m.mem.refcount[pfn]).toBe(-1);
    expect(m.misuse.records.at(-1)!.kernel).toMatch(/CONFIG_DEBUG_VM kernel would stop here.*put_page_testzero/);
    expect(m.warns.records).toEqual([]);
  });
});

describe('folio_put_refs() and the zero page', () => {
  it('folio_put_refs() below zero: applied (no invented WARN, no refusal), recorded as misuse', () => {
    const { m, p } = world();
    const addr = do_mmap(m, p, { size: PAGE_SIZE, type: 'anon' });
    expect(userAccess(m, p, addr, PAGE_SIZE, true)).toBe(0);
    lru_add_drain(m); // the new folio's LRU batch moved: the counts are the mapping's and GUP's
    const pfn = pinOne(m, p, addr, false);
    folio_put_refs(m, pfn, 5);
    expect(m.mem.refcount[pfn]).toBe(-3);
    expect(m.warns.records).toEqual([]);
    expect(m.misuse.records).toEqual([
      { what: 'a folio refcount went below zero', kernel: expect.stringMatching(/_refcount 2 -> -3\. Nothing checks/) },
    ]);
  });

  it('put_page() of the zero page past its own reference frees it in the kernel: kept, and later GETs refused', () => {
    const { m, p } = world({ use_zero_page: true });
    const addr = do_mmap(m, p, { size: PAGE_SIZE, type: 'anon' });
    expect(userAccess(m, p, addr, PAGE_SIZE, false)).toBe(0); // maps the zero page
    expect(pinOne(m, p, addr, false)).toBe(ZERO_PFN);
    put_page(m, ZERO_PFN);
    put_page(m, ZERO_PFN);
    expect(m.mem.refcount[ZERO_PFN]).toBe(0);
    expect(m.misuse.records.map((r) => r.kernel)).toEqual([expect.stringMatching(/shared zero page/)]);
    const pages = new Int32Array(1);
    expect(get_user_pages(m, p, addr, 1, 0, pages)).toBe(-ENOMEM);
    expect(m.warns.records.map((w) => w.fn)).toEqual(['try_grab_folio']);
    expect(checkInvariants(m)).toEqual([]);
  });

  it('unpin_user_pages_dirty_lock() with a NULL entry: the kernel oopses; gupsim records misuse, not a WARN', () => {
    const { m, p } = world();
    const { pfn } = smallPage(m, p);
    unpin_user_pages_dirty_lock(m, Int32Array.of(pfn, -1), 2, true);
    expect(m.warns.records).toEqual([]);
    expect(m.misuse.records.map((r) => r.what)).toEqual([
      'unpin_user_pages_dirty_lock() with a NULL entry at pages[1]',
    ]);
    expect(m.mem.refcount[pfn]).toBe(1);
  });
});

describe('a COW-shared page whose count misuse lowered', () => {
  it('do_wp_page() reuses it although the child still maps it: the parent pins memory the child sees', () => {
    const { m, p } = world();
    const addr = do_mmap(m, p, { size: PAGE_SIZE, type: 'anon' });
    expect(do_madvise(m, p, addr, PAGE_SIZE, 'nohugepage')).toBe(0);
    expect(userAccess(m, p, addr, PAGE_SIZE, true)).toBe(0);
    lru_add_drain(m); // the new folio's LRU batch moved: the counts are the mapping's and GUP's
    const pfn = pinOne(m, p, addr, false);
    const c = kernel_clone(m, p, 'child');
    expect(typeof c).not.toBe('number');
    put_page(m, pfn);
    put_page(m, pfn); // one put too many: refcount 1 with two mappings
    expect([m.mem.refcount[pfn], m.mem.mapcount[pfn]]).toEqual([1, 2]);
    // A write fault in the parent sees refcount 1 and reuses the shared page instead of copying it.
    expect(userAccess(m, p, addr, PAGE_SIZE, true)).toBe(0);
    expect(m.mem.PageAnonExclusive(pfn)).toBe(true);
    expect(m.mem.mapcount[pfn]).toBe(2);
    // The checker lets this folio's exclusivity and counts go (misuse explains them) and checks the rest.
    expect(checkInvariants(m)).toEqual([]);
    // A reference taken now makes up the count migration expects: migrate_pages() moves the folio, and its
    // exclusivity (both migration entries say exclusive) with it, taint and all.
    const held = new Int32Array(1);
    expect(get_user_pages(m, p, addr, 1, 0, held)).toBe(1);
    expect(migrateFolio(m, pfn)).toBe(0);
    const moved = pte_pfn(p.mm.pt.pte(addr));
    expect(moved).not.toBe(pfn);
    expect(m.mem.PageAnonExclusive(moved)).toBe(true);
    expect(m.mem.mapcount[moved]).toBe(2);
    expect(m.misuse.touches(moved, 1)).toBe(true);
    expect(checkInvariants(m)).toEqual([]);
  });
});

describe('a folio misuse freed while mapped, then moved by a longterm pin (found by invariants.prop.test.ts)', () => {
  it(
    'migrate_longterm_unpinnable_folios(): the old frames go back to the buddy allocator once, and the new ' +
      'folio carries the misuse taint (the exclusivity the lowered count let do_wp_page() set moves with it)',
    () => {
      // A private memfd page COW-copied into ZONE_MOVABLE, a FOLL_GET reference put twice (freed while
      // mapped), fork, then a longterm pin: the copy is unshared and migrated out of ZONE_MOVABLE.
      const { m, p } = world({ memory: 96 << 20, movable: 32 << 20, thp: 'always', use_zero_page: false });
      const a = do_mmap(m, p, { size: 512 * PAGE_SIZE, type: 'memfd', shared: false });
      expect(userAccess(m, p, a, 16 * PAGE_SIZE, true)).toBe(0);
      const got = new Int32Array(1);
      expect(get_user_pages(m, p, a, 1, 0, got)).toBe(1);
      const old = got[0]!;
      expect(m.alloc.zoneOf(old)).toBe('MOVABLE');
      put_page(m, old);
      m.misuse.attribute({ what: 'double put', folios: [[old, 0]], kernel: () => 'put_page' }, () => put_page(m, old));
      expect(m.misuse.freedInUse.has(old)).toBe(true);
      expect(typeof kernel_clone(m, p, 'kid')).not.toBe('number');
      const pin = new Int32Array(1);
      expect(pin_user_pages_remote(m, p, a, 1, FOLL_LONGTERM, pin)).toBe(1);
      const moved = pin[0]!;
      expect(m.alloc.zoneOf(moved)).not.toBe('MOVABLE');
      expect(m.misuse.freedInUse.has(old)).toBe(false);
      expect(m.misuse.touches(moved, 1)).toBe(true);
      expect(checkInvariants(m)).toEqual([]);
      unpin_user_pages(m, pin, 1);
      for (const q of [...m.processes.values()]) {
        do_exit(m, q);
        expect(checkInvariants(m), `after ${q.name} exited`).toEqual([]);
      }
    },
  );
});
