// Models writeback of a file's dirty page cache (mm/page-writeback.c folio_clear_dirty_for_io() with
// mm/rmap.c folio_mkclean(), then the I/O: PG_writeback set and cleared). Cleaning write-protects
// every shared mapping of the folio so the next store faults and dirties it again (writenotify).
// Pinned folios are written back like any other: a device may still be writing into them, which is
// why the kernel refuses FOLL_LONGTERM write pins of such mappings (writable_file_mapping_allowed).
// The machine's writeback policy (writeback_pinned.ts) can replace that with a what-if.

import type { Machine } from './machine.js';
import { AddressSpace } from './fs.js';
import { PAGE_SIZE, PG_dirty, PG_writeback } from './memmap.js';
import { VM_SHARED } from './mm_types.js';
import { pte_mkclean, pte_wrprotect, pte_index } from './pgtable.js';
import { rmap_walk } from './rmap.js';
import { folioWriteOut } from './bdev.js';
import { pinnedFolioAction, WB_SYNC_ALL, type PinnedFolioAction, type WbSyncMode } from './writeback_pinned.js';

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

/** What one writeback pass did: pages written, and what a what-if policy did with maybe-pinned folios. */
export interface WritebackReport {
  /** Pages whose values reached the disk (bounced ones included). */
  written: number;
  /** Pages written from a bounce copy. */
  bounced: number;
  /** The maybe-pinned folios the machine's policy did not simply write, with what it did ('linux': none). */
  pinned: Array<{ folio: number; action: Exclude<PinnedFolioAction, 'write'> }>;
}

/**
 * Write back every dirty folio of a file that does writeback (disk file systems; shmem and hugetlbfs
 * have nothing to write back): fsync(2), sync(2) (WB_SYNC_ALL), the flusher (WB_SYNC_NONE). Returns
 * the number of pages written.
 */
export function writebackFile(m: Machine, file: AddressSpace, sync: WbSyncMode = WB_SYNC_ALL): number {
  return writebackRange(m, file, 0, file.sizePages - 1, sync).written;
}

/**
 * filemap_write_and_wait_range() over page indices [first, last] (fsync, msync(MS_SYNC), sync, and
 * O_DIRECT before its I/O): data-integrity writeback of the range. Returns the pages written.
 */
export function filemap_write_and_wait_range(m: Machine, file: AddressSpace, first: number, last: number): number {
  return writebackRange(m, file, first, last, WB_SYNC_ALL).written;
}

/**
 * Writeback of page indices [first, last] in mode `sync` (write_cache_pages() with its I/O completed):
 * each dirty folio overlapping the range is cleaned for I/O (folio_clear_dirty_for_io(): folio_mkclean()
 * then PG_dirty cleared), written out - its pages' values reach the disk as they are at that moment -
 * and its writeback ends. Under Linux 6.18 (cfg.writebackPolicy 'linux') a pinned folio is written
 * like any other: folio_maybe_dma_pinned() is not consulted, so a device writing into it afterwards
 * changes a clean page that nothing will write back. The what-if policies (writeback_pinned.ts) skip,
 * bounce or wait for maybe-pinned folios instead; a folio to wait for is left dirty and listed in the
 * report (the model has no threads: the caller decides how long it waits, and retries).
 */
export function writebackRange(
  m: Machine,
  file: AddressSpace,
  first: number,
  last: number,
  sync: WbSyncMode,
): WritebackReport {
  const report: WritebackReport = { written: 0, bounced: 0, pinned: [] };
  if (file.isShmemOrHugetlb) return report;
  const mem = m.mem;
  for (let i = Math.max(0, first); i <= last && i < file.sizePages; i++) {
    const pfn = file.pages[i]!;
    if (pfn < 0) continue;
    const folio = mem.page_folio(pfn);
    const nr = mem.folio_nr_pages(folio);
    i = mem.index[folio]! + nr - 1; // the whole folio at once
    if (!mem.folio_test_dirty(folio)) continue;
    const action = pinnedFolioAction(m, folio, sync);
    if (action !== 'write') report.pinned.push({ folio, action });
    if (action === 'wait') continue;
    if (action === 'skip') {
      // Kara's folio_clear_dirty_for_io(): the mappings are cleaned, the folio answers "not for I/O".
      folio_mkclean(m, folio);
      continue;
    }
    if (action !== 'bounce-keep-dirty') {
      // folio_clear_dirty_for_io(): clean the mappings first, then the folio.
      folio_mkclean(m, folio);
      mem.clearFlag(folio, PG_dirty);
      // folio_account_cleaned() undoes folio_account_dirtied(): only mappings that can write back were
      // accounted (fsdax dirties through noop_dirty_folio, see memory.ts folio_mark_dirty()).
      if (file.needsDirtyTracking) m.vmstat.mod('nr_dirty', -nr);
    }
    mem.setFlag(folio, PG_writeback);
    m.vmstat.mod('nr_writeback', nr);
    // A bounce copies the folio's pages into a bounce page and writes that: the same values reach
    // the disk (the copy lives only for the I/O, so the model does not allocate it).
    folioWriteOut(m, file, folio);
    if (action === 'bounce' || action === 'bounce-keep-dirty') report.bounced += nr;
    // The I/O completes (folio_end_writeback()).
    mem.clearFlag(folio, PG_writeback);
    m.vmstat.mod('nr_writeback', -nr);
    report.written += nr;
  }
  return report;
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
