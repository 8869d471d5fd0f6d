// Models folio reference counting down to freeing (include/linux/mm.h folio_put_refs(), folio_ref_add();
// mm/swap.c __folio_put()): the last reference gone, a folio returns to the buddy allocator, its
// hugetlb pool, or (ZONE_DEVICE) its pgmap.

import { is_huge_zero_folio } from './huge_mm.js';
import { PMD_ORDER, ZERO_PFN } from './memmap.js';
import type { Machine } from './machine.js';
import { NR_FREE_PAGES } from './vmstat.js';

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
  if (folio === ZERO_PFN || is_huge_zero_folio(m, folio)) {
    m.warns.warn('__folio_put', 'zero page freed');
    mem.refcount[folio] = 1;
    return;
  }
  const order = mem.folio_order(folio);
  if (mem.folio_test_anon(folio) && order === PMD_ORDER && !mem.folio_test_hugetlb(folio)) {
    m.vmstat.mod('nr_anon_transparent_hugepages', -1);
  }
  // No NR_FILE_DIRTY change here: an accounted dirty folio is cleaned when it leaves the page cache
  // (folio_cancel_dirty() in filemap_remove_folio); anon/shmem dirtiness was never accounted.
  if (mem.folio_test_hugetlb(folio)) {
    m.hugetlb.free(folio);
    return;
  }
  const area = m.alloc.freeBlock(folio, order);
  // ZONE_DEVICE (fsdax) pages go back to their pgmap (mm/memremap.c free_zone_device_folio()),
  // never to the buddy allocator's NR_FREE_PAGES; the model keeps pmem in a DEVICE area.
  if (area.zone !== 'DEVICE') m.vmstat.mod(NR_FREE_PAGES, 1 << order);
}
