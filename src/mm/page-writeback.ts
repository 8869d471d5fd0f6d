// Models writeback of a file's dirty page cache (mm/page-writeback.c folio_clear_dirty_for_io() with
// mm/rmap.c folio_mkclean(), then the I/O: PG_writeback set and cleared). Cleaning write-protects
// every shared mapping of the folio so the next store faults and dirties it again (writenotify).
// Pinned folios are written back like any other: a device may still be writing into them, which is
// why the kernel refuses FOLL_LONGTERM write pins of such mappings (writable_file_mapping_allowed).

import type { Machine } from './machine.js';
import { AddressSpace } from './fs.js';
import { PAGE_SIZE, PG_dirty, PG_writeback } from './memmap.js';
import { VM_SHARED } from './mm_types.js';
import { pte_mkclean, pte_wrprotect, pte_index } from './pgtable.js';
import { rmap_walk } from './rmap.js';
import { folioWriteOut } from './bdev.js';

/** folio_mkclean(): write-protect and clean every shared mapping; returns how many were cleaned. */
export function folio_mkclean(m: Machine, folio: number): number {
  let cleaned = 0;
  for (const h of rmap_walk(m, folio)) {
    if (!(h.vma.flags & VM_SHARED)) continue;
    const pt = h.vma.mm.pt;
    if (h.level === 'pte') {
      const t = pt.pteTable(h.addr)!;
      const i = pte_index(h.addr);
      t[i] = pte_wrprotect(pte_mkclean(t[i]!));
    } else if (h.level === 'pmd') pt.setPmdLeaf(h.addr, pte_wrprotect(pte_mkclean(pt.pmdLeaf(h.addr))));
    else pt.setPudLeaf(h.addr, pte_wrprotect(pte_mkclean(pt.pudLeaf(h.addr))));
    m.mmuNotify(h.vma.mm, h.addr, h.addr + PAGE_SIZE, 'protection');
    cleaned++;
  }
  return cleaned;
}

/**
 * Write back every dirty folio of a file that does writeback (disk file systems; shmem and hugetlbfs
 * have nothing to write back). Returns the number of pages written.
 */
export function writebackFile(m: Machine, file: AddressSpace): number {
  return filemap_write_and_wait_range(m, file, 0, file.sizePages - 1);
}

/**
 * filemap_write_and_wait_range() over page indices [first, last] (fsync, msync(MS_SYNC), sync, the
 * flusher, and O_DIRECT before its I/O): each dirty folio overlapping the range is cleaned for I/O
 * (folio_clear_dirty_for_io(): folio_mkclean() then PG_dirty cleared), written out - its pages'
 * values reach the disk as they are at that moment - and its writeback ends. A pinned folio is
 * written like any other (6.18 does not consult folio_maybe_dma_pinned() here), so a device writing
 * into it afterwards changes a clean page that nothing will write back. Returns the pages written.
 */
export function filemap_write_and_wait_range(m: Machine, file: AddressSpace, first: number, last: number): number {
  if (file.isShmemOrHugetlb) return 0;
  const mem = m.mem;
  let written = 0;
  for (let i = Math.max(0, first); i <= last && i < file.sizePages; i++) {
    const pfn = file.pages[i]!;
    if (pfn < 0) continue;
    const folio = mem.page_folio(pfn);
    const nr = mem.folio_nr_pages(folio);
    i = mem.index[folio]! + nr - 1; // the whole folio at once
    if (!mem.folio_test_dirty(folio)) continue;
    // folio_clear_dirty_for_io(): clean the mappings first, then the folio.
    folio_mkclean(m, folio);
    mem.clearFlag(folio, PG_dirty);
    // folio_account_cleaned() undoes folio_account_dirtied(): only mappings that can write back were
    // accounted (fsdax dirties through noop_dirty_folio, see memory.ts folio_mark_dirty()).
    if (file.needsDirtyTracking) m.vmstat.mod('nr_dirty', -nr);
    mem.setFlag(folio, PG_writeback);
    m.vmstat.mod('nr_writeback', nr);
    folioWriteOut(m, file, folio);
    // The I/O completes (folio_end_writeback()).
    mem.clearFlag(folio, PG_writeback);
    m.vmstat.mod('nr_writeback', -nr);
    written += nr;
  }
  return written;
}

/**
 * folio_mark_dirty(): sets PG_dirty; NR_FILE_DIRTY ("nr_dirty") moves only for a page-cache folio
 * of a mapping that can write back. Anon folios (folio_mapping() NULL) and shmem/hugetlbfs/DAX
 * folios take noop_dirty_folio(), which sets the flag without accounting.
 * @see mm/page-writeback.c folio_mark_dirty(), filemap_dirty_folio(), folio_account_dirtied()
 */
export function folio_mark_dirty(m: Machine, folio: number): void {
  if (m.mem.folio_test_dirty(folio)) return;
  m.mem.setFlag(folio, PG_dirty);
  if (folioAccountsDirty(m, folio)) m.vmstat.mod('nr_dirty', m.mem.folio_nr_pages(folio));
}

/** mapping_can_writeback(folio_mapping(folio)): the folio's dirtiness counts in NR_FILE_DIRTY. */
export function folioAccountsDirty(m: Machine, folio: number): boolean {
  if (m.mem.folio_test_anon(folio)) return false;
  const obj = m.mappingObj(m.mem.mapping[folio]!);
  return obj instanceof AddressSpace && obj.needsDirtyTracking;
}
