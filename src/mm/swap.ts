// Models folio reference counting down to freeing (include/linux/mm.h folio_put_refs(), folio_ref_add();
// mm/swap.c __folio_put()): the last reference gone, a folio returns to the buddy allocator, its
// hugetlb pool, or (ZONE_DEVICE) its pgmap. Also mm/swap.c's folio_mark_accessed() and the classic
// LRU's per-CPU activate batch, whose reference on a folio is visible until the batch is moved.
// (The per-CPU lru_add batch that holds a freshly faulted folio is not modelled.)

import { is_huge_zero_folio } from './huge_mm.js';
import { PG_lru, PG_referenced, PMD_ORDER, ZERO_PFN } from './memmap.js';
import type { Machine } from './machine.js';

/**
 * folio_put_refs(): drop refs; the folio is freed when the count reaches zero. Dropping a
 * reference that is not there is reported (the kernel's VM_BUG_ON_PAGE on a zero refcount) and
 * leaves the folio untouched.
 */
export function folio_put_refs(m: Machine, folio: number, refs: number): void {
  const mem = m.mem;
  const rc = mem.refcount[folio]!;
  // atomic_t arithmetic: a count wrapped negative by pins is 2^31 or more, and the subtraction
  // wraps back (folio_ref_sub_and_test()); only a zero or too small count is an underflow.
  const urc = rc >>> 0;
  if (urc === 0 || urc < refs) {
    m.warns.warn('folio_put_refs', `refcount underflow: refcount ${rc}, putting ${refs}`);
    return;
  }
  mem.refcount[folio] = rc - refs;
  if (urc === refs) __folio_put(m, folio);
}

/** folio_get() / folio_ref_add(). */
export function folio_ref_add(m: Machine, folio: number, refs: number): void {
  m.mem.refcount[folio] = m.mem.refcount[folio]! + refs;
}

/** __folio_put(): the last reference is gone. */
function __folio_put(m: Machine, folio: number): void {
  const mem = m.mem;
  m.activeFolios.delete(folio);
  if (folio === ZERO_PFN || is_huge_zero_folio(m, folio)) {
    m.warns.warn('__folio_put', 'zero page freed');
    mem.refcount[folio] = 1;
    return;
  }
  const order = mem.folio_order(folio);
  // __page_cache_release(): a folio freed while still mlocked loses PG_mlocked.
  mem.mlocked.delete(folio);
  if (mem.folio_test_anon(folio) && order === PMD_ORDER && !mem.folio_test_hugetlb(folio)) {
    m.vmstat.mod('nr_anon_transparent_hugepages', -1);
  }
  // No NR_FILE_DIRTY change here: an accounted dirty folio is cleaned when it leaves the page cache
  // (folio_cancel_dirty() in filemap_remove_folio); anon/shmem dirtiness was never accounted.
  if (mem.folio_test_hugetlb(folio)) {
    m.hugetlb.free_huge_folio(folio);
    return;
  }
  m.alloc.freeBlock(folio, order);
  // ZONE_DEVICE (fsdax) pages go back to their pgmap (mm/memremap.c free_zone_device_folio()),
  // never to the buddy allocator's NR_FREE_PAGES; the model keeps pmem in a DEVICE area.
  if (m.alloc.zoneOf(folio) !== 'DEVICE') m.vmstat.mod('nr_free_pages', 1 << order);
}

// ---------------------------------------------------------------------------------------------
// LRU: accessed/active (mm/swap.c)

/**
 * folio_mark_accessed(): with the multi-gen LRU only the flag bits move (folio_inc_refs(): PG_referenced
 * first); with the classic LRU the first access sets PG_referenced and the second activates an
 * inactive folio that is on the LRU (folio_activate()) and clears PG_referenced again.
 */
export function folio_mark_accessed(m: Machine, folio: number): void {
  const mem = m.mem;
  if (m.profile.lruGenEnabled || !mem.testFlag(folio, PG_referenced)) {
    mem.setFlag(folio, PG_referenced);
    return;
  }
  if (m.activeFolios.has(folio)) return;
  // Not on the LRU: the kernel marks it active in its lru_add batch (__lru_cache_activate_folio());
  // the model puts folios on the LRU at once, so only isolated folios get here, and nothing moves.
  if (mem.testFlag(folio, PG_lru)) folio_activate(m, folio);
  mem.clearFlag(folio, PG_referenced);
}

/**
 * folio_activate(): an inactive folio on the LRU takes a reference and joins the per-CPU activate
 * batch; the batch is moved (every folio made active, every reference dropped) when it is full, or
 * at once for a large folio (folio_batch_add_and_move()).
 */
function folio_activate(m: Machine, folio: number): void {
  m.mem.refcount[folio] = m.mem.refcount[folio]! + 1;
  const batch = m.lruActivateBatch;
  batch.push(folio);
  if (batch.length >= m.profile.lruBatchSize || m.mem.folio_test_large(folio)) lru_add_drain(m);
}

/** lru_add_drain(): move this CPU's batches: the activate batch's folios become active and are put. */
export function lru_add_drain(m: Machine): void {
  const batch = m.lruActivateBatch;
  if (!batch.length) return;
  const folios = batch.splice(0);
  for (const f of folios) {
    // folio_batch_move_lru(): only a folio still on the LRU moves (folio_test_clear_lru()).
    if (m.mem.testFlag(f, PG_lru)) m.activeFolios.add(f);
    folio_put_refs(m, f, 1);
  }
}

/** folio_test_active(). */
export function folio_test_active(m: Machine, folio: number): boolean {
  return m.activeFolios.has(folio);
}
