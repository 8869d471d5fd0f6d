// Models memfd_pin_folios() of mm/gup.c (kept in its own module): pinning a memfd's folios through
// its page cache, with no mm involved (udmabuf and friends). One pin unit per folio whatever its
// size, missing folios allocated, then the FOLL_LONGTERM migration check on the folios.

import type { Machine } from './machine.js';
import { EAGAIN, EINVAL, ENOMEM } from '../uapi/errno.js';
import { FOLL_PIN } from './foll_flags.js';
import { NO_FOLIO, NO_PFN, PAGE_SIZE } from './memmap.js';
import type { AddressSpace } from './fs.js';
import { try_grab_folio, unpin_folios, check_and_migrate_movable_pages } from './gup.js';
import { filemap_add_folio } from './filemap.js';
import { hugetlb_reserve_pages, hugetlb_unreserve_pages } from './hugetlb_resv.js';

/** memfd_alloc_folio() for hugetlbfs: hugetlb_reserve_pages() then alloc_hugetlb_folio_reserve(). -1 if none. */
function memfdAllocHugetlb(m: Machine, memfd: AddressSpace, idx: number): number {
  const hidx = Math.floor(idx / (1 << memfd.hugeOrder));
  const nr_resv = hugetlb_reserve_pages(m, memfd, hidx, hidx + 1, undefined, 0);
  if (nr_resv < 0) return -1;
  const folio = m.hugetlb.alloc_hugetlb_folio_reserve(memfd.hugeOrder);
  if (folio < 0 && nr_resv > 0) hugetlb_unreserve_pages(m, memfd, hidx, hidx + 1, 0);
  return folio;
}

/**
 * memfd_pin_folios(memfd, start, end, folios, max_folios, offset): returns the number of folios
 * pinned (folios[] filled with their heads; offset.value = start's offset inside the first one) or
 * -EINVAL (bad range, zero max_folios, not shmem/hugetlbfs, end beyond i_size, grab failure) or
 * -ENOMEM (allocation or migration failure).
 */
export function memfd_pin_folios(
  m: Machine,
  memfd: AddressSpace | null,
  start: number,
  end: number,
  folios: Int32Array,
  max_folios: number,
  offset: { value: number },
): number {
  // A caller on a release without it (6.1: profile.memfdPinFolios) is a gupsim bug, not a refusal.
  if (!m.profile.memfdPinFolios)
    throw new Error(`gupsim bug: memfd_pin_folios() does not exist in Linux ${m.profile.release} (added in 6.11)`);
  m.why = undefined;
  if (start < 0 || start > end || !max_folios)
    return m.refuse(-EINVAL, 'memfd_pin_folios', 'start < 0, start > end or max_folios == 0');
  if (!memfd) return m.refuse(-EINVAL, 'memfd_pin_folios', 'no memfd');
  if (!memfd.isShmemOrHugetlb) return m.refuse(-EINVAL, 'memfd_pin_folios', 'not a shmem or hugetlbfs file');
  if (end >= memfd.sizePages * PAGE_SIZE) return m.refuse(-EINVAL, 'memfd_pin_folios', 'end is at or beyond i_size');
  const mem = m.mem;
  m.alloc.memallocPin++;
  try {
    for (let round = 0; round < 64; round++) {
      let nr = 0;
      let prev = NO_FOLIO;
      const firstIdx = Math.floor(start / PAGE_SIZE);
      const lastIdx = Math.floor(end / PAGE_SIZE);
      for (let idx = firstIdx; idx <= lastIdx && nr < max_folios; idx++) {
        let page = memfd.lookup(idx);
        if (page === NO_PFN) {
          // memfd_alloc_folio(): a new (pinnable: PF_MEMALLOC_PIN) folio in the page cache; a hugetlb
          // one is reserved for its index first and taken against that reservation.
          const order = memfd.hugeOrder;
          const folio = order ? memfdAllocHugetlb(m, memfd, idx) : m.folio_alloc(0);
          if (folio < 0) {
            unpin_folios(m, folios, nr);
            return m.refuse(-ENOMEM, 'memfd_alloc_folio', 'no memory for a missing folio');
          }
          const head = order ? idx - (idx % (1 << order)) : idx;
          filemap_add_folio(m, folio, memfd, head);
          page = memfd.lookup(idx);
        }
        const folio = mem.page_folio(page);
        if (folio === prev) continue;
        if (try_grab_folio(m, folio, 1, FOLL_PIN)) {
          unpin_folios(m, folios, nr);
          return m.refuse(-EINVAL, 'memfd_pin_folios', 'try_grab_folio failed');
        }
        if (nr === 0) offset.value = start - mem.index[folio]! * PAGE_SIZE;
        folios[nr++] = folio;
        prev = folio;
      }
      const rc = check_and_migrate_movable_pages(m, nr, folios, 0);
      if (rc === -EAGAIN) continue;
      if (rc) return rc;
      return nr;
    }
    throw new Error('gupsim bug: memfd_pin_folios migration did not converge');
  } finally {
    m.alloc.memallocPin--;
  }
}
