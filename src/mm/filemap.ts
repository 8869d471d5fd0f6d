// Models the page cache (mm/filemap.c): looking up and reading in a file's folios on a fault (with
// mmap read-around), inserting and removing folios with the cache's references, and the cache a
// buffered write of a new file leaves behind.

import { NO_FOLIO, NO_PFN, PG_anon, PG_dirty, PMD_ORDER, PG_swapbacked, PAGE_SHIFT, PAGE_SIZE } from './memmap.js';
import { VM_FAULT_OOM, VM_FAULT_SIGBUS, type Vma } from './mm_types.js';
import type { Machine } from './machine.js';
import { folio_add_lru, folio_put_refs, folio_ref_add, folioCacheRefs } from './swap.js';
import { AddressSpace } from './fs.js';
import { folioAccountsDirty, folio_mark_dirty } from './page-writeback.js';
import { diskBlock, filemap_read_folio, folioWriteOut, setDiskBlock } from './bdev.js';
import { memcpy_to_page, pageValue } from './highmem.js';
import { ENOMEM } from '../uapi/errno.js';

/** filemapFaultPage()'s answer: the page, or the VM_FAULT_* code the fault ends with. */
export type FaultPage = { ok: true; page: number } | { ok: false; fault: typeof VM_FAULT_OOM | typeof VM_FAULT_SIGBUS };

/**
 * The page-cache page (allocating it if needed) for a file VMA at addr: VM_FAULT_SIGBUS beyond EOF,
 * VM_FAULT_OOM when no page can be allocated.
 */
export function filemapFaultPage(m: Machine, vma: Vma, addr: number): FaultPage {
  const file = vma.file!;
  const idx = vma.pgoff + (addr - vma.start) / PAGE_SIZE;
  if (idx >= file.sizePages) return { ok: false, fault: VM_FAULT_SIGBUS };
  const have = file.lookup(idx);
  if (have !== NO_PFN) return { ok: true, page: have };
  if (file.fs === 'disk') {
    // filemap_fault(): a miss reads the window around the fault first (do_sync_mmap_readahead()), the
    // faulting page among them, each folio added to the page cache and the LRU batch in index order.
    do_sync_mmap_readahead(m, file, idx);
    const read = file.lookup(idx);
    if (read !== NO_PFN) return { ok: true, page: read };
  }
  // fsdax memory has no folio allocator: a device page, or NO_PFN (the same value as NO_FOLIO) if none.
  const folio = file.fs === 'dax' ? m.alloc.allocBlock(0, { movable: false, device: true }) : m.folio_alloc(0);
  if (folio === NO_FOLIO) return { ok: false, fault: VM_FAULT_OOM };
  if (file.fs === 'dax') m.mem.refcount[folio] = 1;
  filemap_add_folio(m, folio, file, idx);
  filemap_read_folio(m, file, folio);
  return { ok: true, page: folio };
}

/** read_ahead_kb (128 KiB) in pages: file->f_ra.ra_pages. */
export const RA_PAGES = 32;

/**
 * do_sync_mmap_readahead(), "mmap read-around": a fault that misses the page cache of a file with
 * readahead reads ra_pages order-0 pages centred on the fault (best effort: an allocation failure
 * just ends it). shmem and hugetlbfs have no readahead.
 */
function do_sync_mmap_readahead(m: Machine, file: AddressSpace, idx: number): void {
  const start = Math.max(0, idx - RA_PAGES / 2);
  const end = Math.min(file.sizePages, start + RA_PAGES);
  for (let i = start; i < end; i++) {
    if (file.lookup(i) !== NO_PFN) continue;
    const f = m.folio_alloc(0);
    if (f === NO_FOLIO) return;
    filemap_add_folio(m, f, file, i);
    filemap_read_folio(m, file, f);
  }
}

/**
 * filemap_add_folio(): insert into the page cache; the cache holds folioCacheRefs() references. The
 * folio then joins the LRU batch (folio_add_lru(); shmem_add_to_page_cache()'s callers do the same);
 * hugetlbfs (hugetlb_add_to_page_cache()) and fsdax pages never go on the LRU.
 */
export function filemap_add_folio(m: Machine, folio: number, file: AddressSpace, idx: number): void {
  const mem = m.mem;
  const nr = mem.folio_nr_pages(folio);
  const refs = folioCacheRefs(m, folio);
  mem.mapping[folio] = file.id;
  mem.index[folio] = idx;
  mem.flags[folio] = mem.flags[folio]! & ~PG_anon;
  if (file.fs === 'tmpfs') mem.flags[folio] = mem.flags[folio]! | PG_swapbacked;
  if (refs > 1) folio_ref_add(m, folio, refs - 1);
  for (let k = 0; k < nr; k++) file.pages[idx + k] = folio + k;
  // __filemap_add_folio(): hugetlb folios hold the nr references but do not count in NR_FILE_PAGES.
  if (!mem.folio_test_hugetlb(folio)) m.vmstat.mod('nr_file_pages', nr);
  if (file.fs === 'tmpfs') m.vmstat.mod('nr_shmem', nr);
  if (file.fs !== 'dax') folio_add_lru(m, folio);
}

/**
 * The page cache a buffered write(2) of a new file leaves behind (then fsync: clean). Each write call
 * covers up to writeChunk bytes; generic_perform_write() walks it asking write_begin for a folio sized
 * to the bytes left (fgf_set_order), and __filemap_get_folio() caps that order at the mapping's
 * maximum and at the alignment of the index, trying smaller orders when an allocation fails. tmpfs
 * (huge=never, as /dev/shm) and file systems without large folios get order-0 folios; ext4 has large
 * folios for regular files since 6.16 (ext4_set_inode_mapping_order: up to the PMD order). A page
 * that cannot be allocated is left uncached (the kernel would reclaim; a later fault reads it in).
 * Disk and fsdax folios hold the disk's blocks (set beforehand in file.disk) and are clean; tmpfs
 * folios stay dirty (the caller gives them their contents).
 * @see mm/filemap.c generic_perform_write(), __filemap_get_folio(); include/linux/pagemap.h fgf_set_order()
 */
export function filemapWriteNewFile(m: Machine, file: AddressSpace, sizeBytes: number, writeChunk: number): void {
  if (file.fs === 'dax' || file.fs === 'hugetlbfs') return;
  const maxOrder = file.fs === 'disk' && m.profile.ext4LargeFolios ? PMD_ORDER : 0;
  for (let chunkStart = 0; chunkStart < sizeBytes; chunkStart += writeChunk) {
    const chunkEnd = Math.min(sizeBytes, chunkStart + writeChunk);
    let pos = chunkStart;
    while (pos < chunkEnd) {
      const idx = Math.floor(pos / PAGE_SIZE);
      const bytes = chunkEnd - pos;
      let order = Math.min(maxOrder, Math.max(0, Math.floor(Math.log2(bytes)) - PAGE_SHIFT));
      if (order > 0 && idx % (1 << order)) order = Math.min(order, Math.log2(idx & -idx));
      // A page already cached (written by an earlier chunk) is copied into as it is.
      const cached = file.lookup(idx) !== NO_PFN;
      if (!cached) {
        let folio = NO_FOLIO;
        for (; order >= 0; order--) {
          folio = m.folio_alloc(order);
          if (folio !== NO_FOLIO) break;
        }
        if (folio === NO_FOLIO) return;
        filemap_add_folio(m, folio, file, idx);
        block_write_begin(m, file, folio);
        // The data written (and fsynced) is what the disk holds: the cache shows the same.
        filemap_read_folio(m, file, folio);
        // tmpfs: shmem_write_end() dirties the folio, and fsync has nothing to clean it with.
        if (file.fs === 'tmpfs') folio_mark_dirty(m, folio);
      }
      // write_end: the copy ends at the end of this folio (or of the write).
      const folioEnd = (Math.floor(idx / (1 << order)) + (1 << order)) * PAGE_SIZE;
      pos = Math.min(chunkEnd, cached ? (idx + 1) * PAGE_SIZE : folioEnd);
    }
  }
}

/**
 * ext4's buffered-write and page_mkwrite paths (ext4_da_write_begin() / block_page_mkwrite() ->
 * __block_write_begin_int() -> folio_create_empty_buffers()): a disk file's folio being written gets
 * buffer heads, once, which hold a folio reference (folio_attach_private()) until the folio leaves the
 * page cache. A folio read in whole (ext4_mpage_readpages()) has none. tmpfs, fsdax and hugetlbfs
 * folios never get any.
 */
export function block_write_begin(m: Machine, file: AddressSpace, folio: number): void {
  const mem = m.mem;
  if (file.fs !== 'disk' || mem.fsPrivate.has(folio)) return;
  mem.fsPrivate.add(folio);
  folio_ref_add(m, folio, 1);
}

/** filemap_remove_folio() + the cache's references: used by truncation and eviction. */
export function filemap_remove_folio(m: Machine, folio: number): void {
  const mem = m.mem;
  const obj = m.mappingObj(mem.mapping[folio]!);
  const file = obj instanceof AddressSpace ? obj : undefined;
  const nr = mem.folio_nr_pages(folio);
  const refs = folioCacheRefs(m, folio);
  // truncate_cleanup_folio() -> folio_cancel_dirty(): a dirty folio of a writeback-capable mapping
  // leaves NR_FILE_DIRTY (folio_account_cleaned) before it leaves the page cache.
  if (file && folioAccountsDirty(m, folio) && mem.folio_test_dirty(folio)) {
    mem.clearFlag(folio, PG_dirty);
    m.vmstat.mod('nr_dirty', -nr);
  }
  if (file) {
    const idx = mem.index[folio]!;
    // An fsdax page is the persistent memory itself: what it holds stays in the file.
    if (file.fs === 'dax') folioWriteOut(m, file, folio);
    for (let k = 0; k < nr; k++) if (file.pages[idx + k] === folio + k) file.pages[idx + k] = NO_PFN;
    // filemap_unaccount_folio(): hugetlb folios do not participate in page cache accounting.
    if (!mem.folio_test_hugetlb(folio)) m.vmstat.mod('nr_file_pages', -nr);
    if (file.fs === 'tmpfs') m.vmstat.mod('nr_shmem', -nr);
  }
  // page_cache_delete(): folio->mapping = NULL (index kept). A folio that outlives its page-cache
  // entry (pinned) is no longer a file folio: unpinning it must not expect cache references. Its
  // buffer heads went first (filemap_release_folio()): their reference is among `refs`.
  mem.mapping[folio] = 0;
  mem.fsPrivate.delete(folio);
  // filemap_free_folio(): folio_put_refs(folio, folio_nr_pages(folio)), hugetlb included (6.1: 1).
  folio_put_refs(m, folio, refs);
}

/**
 * filemap_read() (shmem_file_read_iter() for tmpfs): a buffered read of pages [first, first + nr) of
 * the file as a reader sees them: cached pages as they are, missing ones read in from the disk
 * (order-0 folios, without readahead: a simplification), tmpfs holes as zeroes without allocating.
 * `each` gets each page's value; the read stops at EOF. Returns the pages read, or -ENOMEM when a
 * page cannot be read in and nothing was read yet.
 */
export function filemap_read(
  m: Machine,
  file: AddressSpace,
  first: number,
  nr: number,
  each: (value: number, i: number) => void,
): number {
  const end = Math.min(file.sizePages, first + nr);
  for (let idx = first; idx < end; idx++) {
    if (file.fs === 'dax') {
      // dax_iomap_rw(): straight from the persistent memory, no page cache.
      each(diskBlock(m, file, idx), idx - first);
      continue;
    }
    let pfn = file.lookup(idx);
    if (pfn === NO_PFN && file.fs === 'disk') {
      const folio = m.folio_alloc(0);
      if (folio === NO_FOLIO) return idx > first ? idx - first : -ENOMEM;
      filemap_add_folio(m, folio, file, idx);
      filemap_read_folio(m, file, folio);
      pfn = folio;
    }
    each(pfn === NO_PFN ? 0 : pageValue(m, pfn), idx - first);
  }
  return Math.max(0, end - first);
}

/**
 * generic_perform_write() (shmem_write_begin/end for tmpfs): a buffered write of `values` into pages
 * [first, first + values.length): each page is found or added to the cache (a whole-page write needs
 * no read first), takes the value and is dirtied (folio_mark_dirty(); no fault, so a clean page
 * write-protected by writeback stays write-protected in the page tables). The file grows to cover the
 * write. Returns the pages written, or -ENOMEM when a page cannot be allocated and none was written.
 */
export function generic_perform_write(
  m: Machine,
  file: AddressSpace,
  first: number,
  values: ArrayLike<number>,
): number {
  if (first + values.length > file.sizePages) file.resize(first + values.length);
  for (let k = 0; k < values.length; k++) {
    const idx = first + k;
    let pfn = file.lookup(idx);
    if (file.fs === 'dax') {
      // dax_iomap_rw(): straight into the persistent memory.
      if (pfn === NO_PFN) setDiskBlock(file, idx, values[k]!);
      else memcpy_to_page(m, pfn, values[k]!);
      continue;
    }
    if (pfn === NO_PFN) {
      const folio = m.folio_alloc(0);
      if (folio === NO_FOLIO) return k > 0 ? k : -ENOMEM;
      filemap_add_folio(m, folio, file, idx);
      pfn = folio;
    }
    block_write_begin(m, file, m.mem.page_folio(pfn));
    memcpy_to_page(m, pfn, values[k]!);
    folio_mark_dirty(m, m.mem.page_folio(pfn));
  }
  return values.length;
}
