// Models the fault and unmap side of mm/hugetlb.c: hugetlb_no_page() (page cache for shared mappings,
// a new anon folio for private ones, each taken with alloc_hugetlb_folio()), hugetlb_wp() (reuse a
// singly mapped anon folio, otherwise copy it; the mmap owner whose copy cannot be allocated takes
// the page away from its children instead: unmap_ref_private()), and __unmap_hugepage_range(), which
// gives the owner back the reservation of a private page it unmaps. A hugetlb folio is mapped by one
// PMD (2M) or PUD (1G).

import { copy_user_large_folio } from './highmem.js';
import type { Machine } from './machine.js';
import { PAGE_SIZE, PUD_ORDER } from './memmap.js';
import {
  VM_MAYSHARE,
  VM_SHARED,
  VM_WRITE,
  type Vma,
  FAULT_FLAG_UNSHARE,
  FAULT_FLAG_WRITE,
  VM_FAULT_OOM,
  VM_FAULT_SIGBUS,
} from './mm_types.js';
import {
  mk_pte,
  pte_pfn,
  pte_present,
  pte_write,
  pte_dirty,
  pte_mkwrite,
  pte_mkdirty,
  pte_mkyoung,
  _PAGE_ACCESSED,
  _PAGE_DIRTY,
  _PAGE_RW,
} from './pgtable.js';
import { folio_add_new_anon_rmap, folioAddRmapEntire, folioRemoveRmapEntire } from './rmap.js';
import { filemap_add_folio } from './filemap.js';
import { folio_put_refs, folio_ref_add } from './swap.js';
import { folio_mark_dirty } from './page-writeback.js';
import { ENOMEM } from '../uapi/errno.js';
import {
  HPAGE_RESV_OWNER,
  HPAGE_RESV_UNMAPPED,
  __vma_private_lock,
  alloc_hugetlb_folio,
  is_vma_resv_set,
  set_vma_resv_flags,
  vma_add_reservation,
  vma_needs_reservation,
} from './hugetlb_resv.js';

/** Read the hugetlb leaf entry covering addr. */
export function hugePte(vma: Vma, addr: number): number {
  const pt = vma.mm.pt;
  return vma.hugeOrder === PUD_ORDER ? pt.pudLeaf(addr) : pt.pmdLeaf(addr);
}

export function setHugePte(vma: Vma, haddr: number, e: number): void {
  const pt = vma.mm.pt;
  if (vma.hugeOrder === PUD_ORDER) pt.setPudLeaf(haddr, e);
  else pt.setPmdLeaf(haddr, e);
}

/** vmf_error(): -ENOMEM is an OOM, anything else (-ENOSPC: no huge page) a SIGBUS. */
function vmf_error(err: number): number {
  return err === -ENOMEM ? VM_FAULT_OOM : VM_FAULT_SIGBUS;
}

/** hugetlb_add_new_anon_rmap(): a new exclusive anon folio; the reservation it used is now its own. */
function hugetlb_add_new_anon_rmap(m: Machine, folio: number, vma: Vma, haddr: number): void {
  folio_add_new_anon_rmap(m, folio, vma, haddr, vma.hugeOrder === PUD_ORDER ? 'pud' : 'pmd');
  m.hugetlb.folio_set_hugetlb_restore_reserve(folio, false);
}

/** @see mm/hugetlb.c hugetlb_fault() */
export function hugetlb_fault(m: Machine, vma: Vma, addr: number, flags: number): number {
  const size = PAGE_SIZE << vma.hugeOrder;
  const haddr = addr - (addr % size);
  const e = hugePte(vma, haddr);
  if (!pte_present(e)) return hugetlb_no_page(m, vma, haddr, flags);
  if (flags & (FAULT_FLAG_WRITE | FAULT_FLAG_UNSHARE) && !pte_write(e)) return hugetlb_wp(m, vma, haddr, flags);
  setHugePte(vma, haddr, pte_mkyoung(flags & FAULT_FLAG_WRITE ? pte_mkdirty(e) : e));
  return 0;
}

/**
 * hugetlb_no_page(): SIGBUS in a VMA the owner took a page from, or beyond the file's end, or when
 * alloc_hugetlb_folio() finds no huge page for this fault; otherwise the page is mapped (read-only in
 * a private mapping) and a private write fault goes on to hugetlb_wp() at once.
 */
function hugetlb_no_page(m: Machine, vma: Vma, haddr: number, flags: number): number {
  if (is_vma_resv_set(vma, HPAGE_RESV_UNMAPPED)) return VM_FAULT_SIGBUS; // "killed due to inadequate hugepage pool"
  const write = (flags & FAULT_FLAG_WRITE) !== 0;
  const shared = (vma.flags & VM_SHARED) !== 0;
  const file = vma.file!;
  const idx = vma.pgoff + (haddr - vma.start) / PAGE_SIZE;
  let folio = file.lookup(idx);
  let newAnon = false;
  let newFolio = false;
  if (folio < 0) {
    if (idx >= file.sizePages) return VM_FAULT_SIGBUS;
    folio = alloc_hugetlb_folio(m, vma, haddr, false);
    if (folio < 0) return vmf_error(folio);
    newFolio = true;
    if (vma.flags & VM_MAYSHARE) {
      // hugetlb_add_to_page_cache(): the page cache now holds the reservation.
      filemap_add_folio(m, folio, file, idx);
      m.hugetlb.folio_set_hugetlb_restore_reserve(folio, false);
    } else newAnon = true;
  }
  if (newAnon) {
    hugetlb_add_new_anon_rmap(m, folio, vma, haddr);
    vma.mm.rss_anon += 1 << vma.hugeOrder;
  } else {
    folio_ref_add(m, folio, 1);
    folioAddRmapEntire(m, folio);
    vma.mm.rss_file += 1 << vma.hugeOrder;
  }
  // make_huge_pte(vma, folio, vma->vm_flags & VM_SHARED)
  let bits = _PAGE_ACCESSED;
  if (shared && vma.flags & VM_WRITE) bits |= _PAGE_RW | (write ? _PAGE_DIRTY : 0);
  setHugePte(vma, haddr, mk_pte(folio, bits));
  if (newFolio) m.hugetlb.folio_set_hugetlb_migratable(folio);
  // Private write fault: "do the COW without a second fault".
  if (write && !shared) return hugetlb_wp(m, vma, haddr, flags);
  return 0;
}

/**
 * hugetlb_wp(): anon folios mapped only here are reused (decided by folio_mapcount(), deliberately
 * not the refcount, so extra FOLL_GET references do not force a copy); others, and page-cache folios
 * of private mappings, are copied into a new folio. When the mmap owner cannot get one for a page its
 * children share, the children lose the page instead (unmap_ref_private()) and the owner reuses it.
 */
function hugetlb_wp(m: Machine, vma: Vma, haddr: number, flags: number): number {
  const unshare = (flags & FAULT_FLAG_UNSHARE) !== 0;
  const mem = m.mem;
  const e = hugePte(vma, haddr);
  if (vma.flags & VM_MAYSHARE) {
    if (unshare) return 0;
    setHugePte(vma, haddr, pte_mkyoung(pte_mkdirty(pte_mkwrite(e))));
    return 0;
  }
  const old = pte_pfn(e);
  for (let pass = 0; ; pass++) {
    if (mem.folio_mapcount(old) === 1 && mem.folio_test_anon(old)) {
      mem.SetPageAnonExclusive(old);
      if (!unshare && vma.flags & VM_WRITE) setHugePte(vma, haddr, pte_mkyoung(pte_mkdirty(pte_mkwrite(e))));
      return 0;
    }
    // The owner's COW of its own (anon) page: the reservation was consumed by that page, so the copy
    // must not use the VMA's reservations (a partly faulted mapping would run out of them).
    const cow_from_owner = is_vma_resv_set(vma, HPAGE_RESV_OWNER) && mem.folio_test_anon(old);
    const folio = alloc_hugetlb_folio(m, vma, haddr, cow_from_owner);
    if (folio < 0) {
      if (!cow_from_owner) return vmf_error(folio);
      if (pass > 0) throw new Error('gupsim bug: hugetlb_wp still shares the page after unmap_ref_private');
      unmap_ref_private(m, vma, old, haddr);
      continue; // retry_avoidcopy
    }
    copy_user_large_folio(m, folio, old);
    const wasAnon = mem.folio_test_anon(old);
    folioRemoveRmapEntire(m, old);
    folio_put_refs(m, old, 1);
    if (wasAnon) vma.mm.rss_anon -= 1 << vma.hugeOrder;
    else vma.mm.rss_file -= 1 << vma.hugeOrder;
    hugetlb_add_new_anon_rmap(m, folio, vma, haddr);
    // make_huge_pte(vma, new_folio, !unshare)
    let bits = _PAGE_ACCESSED;
    if (!unshare && vma.flags & VM_WRITE) bits |= _PAGE_DIRTY | _PAGE_RW;
    setHugePte(vma, haddr, mk_pte(folio, bits));
    vma.mm.rss_anon += 1 << vma.hugeOrder;
    m.hugetlb.folio_set_hugetlb_migratable(folio);
    return 0;
  }
}

/**
 * unmap_ref_private(): the owner could not copy a page it shares with its fork children. The page is
 * unmapped from every other private VMA of the file at that offset that has no reservation of its
 * own; those VMAs are marked HPAGE_RESV_UNMAPPED, so their next fault there is a SIGBUS rather than
 * a fresh zeroed page (which would look like lost data).
 */
function unmap_ref_private(m: Machine, vma: Vma, folio: number, address: number): void {
  const pgoff = (address - vma.start) / PAGE_SIZE + vma.pgoff;
  for (const iter of [...vma.file!.vmas]) {
    if (iter === vma || iter.flags & VM_MAYSHARE || is_vma_resv_set(iter, HPAGE_RESV_OWNER)) continue;
    if (pgoff < iter.pgoff || pgoff >= iter.pgoff + iter.pages) continue; // vma_interval_tree_foreach
    // The kernel unmaps at the owner's address: a fork child maps the page at the same one.
    if (address < iter.start || address >= iter.end) continue;
    unmap_hugepage_range(m, iter, address, address + (PAGE_SIZE << vma.hugeOrder), folio);
  }
}

/** unmap_hugepage_range(): __unmap_hugepage_range() inside an MMU notifier range. */
function unmap_hugepage_range(m: Machine, vma: Vma, start: number, end: number, folio: number): void {
  m.mmuNotify(vma.mm, start, end, 'unmap');
  __unmap_hugepage_range(m, vma, start, end, folio);
}

/** No folio given: unmap every page of the range. */
export const ANY_FOLIO = -1;

/**
 * __unmap_hugepage_range(): clear the leaves of [start, end) (only the one mapping `folio`, if given:
 * then the VMA is marked HPAGE_RESV_UNMAPPED). An anon page the mmap owner unmaps is marked
 * restore_reserve and its reserve-map entry removed, so freeing it gives the reservation back,
 * unless the pool has surplus pages (profile.hugetlbUnmapRestoresReserve: not at all on 6.1; on
 * Debian's 6.12 only once nothing maps the page). If a fork child still maps the page, the owner's
 * close may have returned that reservation already: resv_huge_pages then goes below zero until the
 * child lets go.
 */
export function __unmap_hugepage_range(m: Machine, vma: Vma, start: number, end: number, folio: number): void {
  const mem = m.mem;
  const size = PAGE_SIZE << vma.hugeOrder;
  const h = m.hugetlb.hstate(vma.hugeOrder);
  for (let a = start; a < end; a += size) {
    const e = hugePte(vma, a);
    if (!pte_present(e)) continue;
    const f = pte_pfn(e);
    if (folio !== ANY_FOLIO) {
      if (f !== folio) continue;
      set_vma_resv_flags(vma, HPAGE_RESV_UNMAPPED);
    }
    setHugePte(vma, a, 0);
    const anon = mem.folio_test_anon(f);
    if (pte_dirty(e) && !anon) folio_mark_dirty(m, f);
    if (anon) vma.mm.rss_anon -= 1 << vma.hugeOrder;
    else vma.mm.rss_file -= 1 << vma.hugeOrder;
    folioRemoveRmapEntire(m, f);
    const restore = m.profile.hugetlbUnmapRestoresReserve;
    const lastMap = mem.folio_mapcount(f) === 0;
    if (
      restore !== 'never' &&
      (restore === 'always' || lastMap) &&
      h.surplus_huge_pages === 0 &&
      __vma_private_lock(vma) &&
      anon
    ) {
      m.hugetlb.folio_set_hugetlb_restore_reserve(f);
      if (vma_needs_reservation(vma, a)) vma_add_reservation(vma, a);
    }
    folio_put_refs(m, f, 1);
    if (folio !== ANY_FOLIO) break;
  }
}
