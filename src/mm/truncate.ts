// Models the page-cache invalidation an O_DIRECT write does around its I/O (mm/truncate.c
// invalidate_inode_pages2_range(), reached from kiocb_invalidate_pages() before the write and
// kiocb_invalidate_post_direct_write() after it): every cached folio overlapping the range is
// unmapped from every process (unmap_mapping_folio()), written back if dirty (folio_launder()), and
// dropped from the page cache whatever else holds a reference: invalidate_complete_folio2() (6.1,
// 6.12; folio_unmap_invalidate() later) ignores the refcount ("it is expected to be called on folios
// sitting in the folio_add_lru() caches"), so a pinned or GUP-referenced folio leaves the cache too
// and lives on with its holder, and a folio in an LRU batch is freed when the batch moves.

import type { Machine } from './machine.js';
import type { AddressSpace } from './fs.js';
import { NO_PFN, PAGE_SIZE, PG_dirty, PG_writeback } from './memmap.js';
import { pte_dirty, pte_index } from './pgtable.js';
import { rmap_walk, folio_remove_rmap_ptes, folioRemoveRmapEntire } from './rmap.js';
import { folio_mark_dirty } from './page-writeback.js';
import { folioCacheRefs, folio_put_refs, lru_add_drain } from './swap.js';
import { filemap_remove_folio } from './filemap.js';
import { hugetlb_unreserve_pages } from './hugetlb_resv.js';
import { folioWriteOut } from './bdev.js';
import { clearPages } from './highmem.js';
import { zap_page_range_single } from './memory.js';

/** unmap_mapping_folio(): zap every PTE/PMD that maps the folio, in every mm. */
export function unmap_mapping_folio(m: Machine, folio: number): void {
  const mem = m.mem;
  for (const h of rmap_walk(m, folio)) {
    const pt = h.vma.mm.pt;
    m.mmuNotify(
      h.vma.mm,
      h.addr,
      h.addr + (h.level === 'pte' ? PAGE_SIZE : PAGE_SIZE << mem.folio_order(folio)),
      'unmap',
    );
    if (h.level === 'pte') {
      const t = pt.pteTable(h.addr)!;
      const i = pte_index(h.addr);
      if (pte_dirty(t[i]!)) folio_mark_dirty(m, folio);
      t[i] = 0;
      folio_remove_rmap_ptes(m, folio, h.pfn, 1);
      h.vma.mm.rss_file--;
    } else {
      const e = h.level === 'pmd' ? pt.pmdLeaf(h.addr) : pt.pudLeaf(h.addr);
      if (pte_dirty(e)) folio_mark_dirty(m, folio);
      if (h.level === 'pmd') pt.setPmdLeaf(h.addr, 0);
      else pt.setPudLeaf(h.addr, 0);
      folioRemoveRmapEntire(m, folio);
      h.vma.mm.rss_file -= mem.folio_nr_pages(folio);
    }
    folio_put_refs(m, folio, 1);
  }
}

/**
 * invalidate_inode_pages2_range(file, start, end) for page indices [start, end]. Returns how many
 * folios could not be dropped (still dirty after folio_launder(): none in the model).
 */
export function invalidate_inode_pages2_range(m: Machine, file: AddressSpace, start: number, end: number): number {
  const mem = m.mem;
  let busy = 0;
  for (let idx = start; idx <= end && idx < file.sizePages; idx++) {
    const pfn = file.lookup(idx);
    if (pfn === NO_PFN) continue;
    const folio = mem.page_folio(pfn);
    const nr = mem.folio_nr_pages(folio);
    idx = mem.index[folio]! + nr - 1; // whole folio handled at once
    // A mapped folio: unmap_mapping_pages() zaps the range with zap_page_range_single(), which drains
    // this CPU's LRU batches first.
    if (mem.folio_mapcount(folio) > 0) lru_add_drain(m);
    unmap_mapping_folio(m, folio);
    if (mem.folio_test_dirty(folio)) {
      // folio_launder(): written back synchronously, then clean.
      folioWriteOut(m, file, folio);
      mem.clearFlag(folio, PG_dirty);
      if (file.needsDirtyTracking) m.vmstat.mod('nr_dirty', -nr);
    }
    if (mem.folio_test_dirty(folio)) {
      busy++;
      continue;
    }
    filemap_remove_folio(m, folio);
  }
  return busy;
}

/**
 * truncate_inode_pages(): drop every page-cache folio of a file (pinned ones live on until unpinned).
 * A hugetlbfs inode (remove_inode_hugepages()) also returns the reservations its pages did not use.
 */
export function truncate_inode_pages(m: Machine, file: AddressSpace): void {
  let freed = 0;
  for (let i = 0; i < file.sizePages; i++) {
    const pfn = file.pages[i]!;
    if (pfn === NO_PFN) continue;
    const folio = m.mem.page_folio(pfn);
    filemap_remove_folio(m, folio);
    freed++;
  }
  if (file.fs === 'hugetlbfs') hugetlb_unreserve_pages(m, file, 0, Infinity, freed);
}

/**
 * invalidate_mapping_pages() over page indices [start, end] (mapping_try_invalidate() ->
 * mapping_evict_folio() -> remove_mapping()): drops each cached folio that lies wholly in the range
 * and is clean, not under writeback, and referenced by nothing but the page cache - a mapped folio
 * (its mappings hold references), a pinned one or one a GUP reference holds stays, whatever
 * folio_maybe_dma_pinned() would say. fsdax entries and hugetlbfs folios are never dropped here.
 * Returns the folios dropped. drop_caches runs it over every file.
 */
export function invalidate_mapping_pages(m: Machine, file: AddressSpace, start: number, end: number): number {
  if (file.fs === 'dax' || file.fs === 'hugetlbfs') return 0;
  const mem = m.mem;
  let dropped = 0;
  for (let idx = Math.max(0, start); idx <= end && idx < file.pages.length; idx++) {
    const pfn = file.pages[idx]!;
    if (pfn === NO_PFN) continue;
    const folio = mem.page_folio(pfn);
    const first = mem.index[folio]!;
    const nr = mem.folio_nr_pages(folio);
    idx = first + nr - 1;
    // find_lock_entries() leaves out a large folio that sticks out of the range.
    if (first < start || first + nr - 1 > end) continue;
    if (mem.folio_test_dirty(folio) || mem.testFlag(folio, PG_writeback)) continue;
    // mapping_evict_folio()'s refcount test (nr pages + folio_has_private()), filemap_release_folio(),
    // then remove_mapping()'s freeze at exactly the cache's refs.
    if (mem.refcount[folio] !== folioCacheRefs(m, folio)) continue;
    filemap_remove_folio(m, folio);
    dropped++;
  }
  return dropped;
}

/**
 * echo 1 > /proc/sys/vm/drop_caches (drop_caches_sysctl_handler() -> iterate_supers(drop_pagecache_sb)):
 * invalidate_mapping_pages() of every inode. Returns the folios dropped.
 */
export function dropPagecache(m: Machine): number {
  // drop_caches_sysctl_handler() drains the per-CPU LRU batches first (lru_add_drain_all(); in the
  // handler since 6.13 at the latest): their references would keep folios in the cache.
  lru_add_drain(m);
  let dropped = 0;
  for (const file of m.addressSpaces()) dropped += invalidate_mapping_pages(m, file, 0, Infinity);
  return dropped;
}

/**
 * truncate_setsize() + truncate_pagecache() (ftruncate(2)) to `sizePages` pages: every mapping of the
 * pages past the new end is zapped, private COW copies included (unmap_mapping_range(even_cows));
 * the cached folios past it leave the page cache (a pinned one lives on, outside the file); a large
 * folio across the new end keeps its head part and has its tail zeroed (truncate_inode_partial_folio()
 * when it cannot be split; the model does not split it); the disk's blocks past it are freed, so a
 * later extension reads zeroes. Growing only changes the size.
 */
export function truncate_pagecache(m: Machine, file: AddressSpace, sizePages: number): void {
  const old = file.sizePages;
  if (sizePages >= old) {
    file.resize(sizePages);
    return;
  }
  for (const vma of [...file.vmas]) {
    const from = vma.start + Math.max(0, sizePages - vma.pgoff) * PAGE_SIZE;
    if (from < vma.end) zap_page_range_single(m, vma, from, vma.end);
  }
  const mem = m.mem;
  for (let idx = sizePages; idx < old; idx++) {
    const pfn = file.pages[idx]!;
    if (pfn === NO_PFN) continue;
    const folio = mem.page_folio(pfn);
    const first = mem.index[folio]!;
    const nr = mem.folio_nr_pages(folio);
    if (first < sizePages) {
      clearPages(m, folio + (sizePages - first), first + nr - sizePages);
      idx = first + nr - 1;
      continue;
    }
    filemap_remove_folio(m, folio);
    idx = first + nr - 1;
  }
  if (file.disk) file.disk.fill(0, sizePages);
  file.sizePages = sizePages;
}
