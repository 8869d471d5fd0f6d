// Models mm/memory.c: page faults (anonymous, file read/COW/shared, write-protect and unshare
// faults, COW copies), zapping page tables, and dropping folio references (folio_put_refs() down to
// freeing). Huge PMD faults live in huge_memory.ts, hugetlb faults in hugetlb_fault.ts.

import { type Machine, mm_forbids_zeropage } from './machine.js';
import {
  NO_FOLIO,
  NO_PFN,
  ZERO_PFN,
  PAGE_SIZE,
  PMD_SIZE,
  PUD_SIZE,
  PMD_ORDER,
  HPAGE_PMD_NR,
  PG_lru,
  PG_anon,
  PG_head,
  PG_hugetlb,
  PG_tail,
} from './memmap.js';
import {
  is_cow_mapping,
  VM_SHARED,
  VM_WRITE,
  type Vma,
  FAULT_FLAG_UNSHARE,
  FAULT_FLAG_WRITE,
  VM_FAULT_FALLBACK,
  VM_FAULT_OOM,
  VM_FAULT_SIGBUS,
  VM_FAULT_SIGSEGV,
} from './mm_types.js';
import {
  mk_pte,
  pte_pfn,
  pte_present,
  pte_write,
  pte_mkwrite,
  pte_mkdirty,
  pte_mkyoung,
  pte_special,
  pte_index,
  PTRS_PER_PTE,
  PTE_FLAGS_MASK,
  PTE_PFN_STEP,
  _PAGE_PRESENT,
  _PAGE_RW,
  _PAGE_DIRTY,
  _PAGE_ACCESSED,
  _PAGE_SPECIAL,
  is_zero_pfn,
} from './pgtable.js';
import {
  folio_add_new_anon_rmap,
  folioAddRmapPtes,
  folio_remove_rmap_ptes,
  folioRemoveRmapEntire,
  rmap_walk,
} from './rmap.js';
import {
  do_huge_pmd_anonymous_page,
  do_huge_pmd_wp_page,
  thpPmdAllowed,
  mthpOrdersAllowed,
  __split_huge_pmd,
  shmemThpAllowed,
} from './huge_memory.js';
import { ANY_FOLIO, __unmap_hugepage_range, hugetlb_fault } from './hugetlb_fault.js';
import { block_write_begin, filemap_add_folio, filemapFaultPage } from './filemap.js';
import {
  __folio_put,
  folio_add_lru_vma,
  folio_put_refs,
  folioPutRefsQuiet,
  folio_ref_add,
  lru_add_drain,
} from './swap.js';
import { folio_mark_dirty } from './page-writeback.js';
import { is_huge_zero_folio } from './huge_mm.js';
import { NR_ANON_MAPPED, PGFAULT } from './vmstat.js';
import { copy_user_highpage } from './highmem.js';

// ---------------------------------------------------------------------------------------------
// References

// ---------------------------------------------------------------------------------------------
// Faults

/**
 * handle_mm_fault(): resolve a fault at addr. Returns 0 or VM_FAULT_* error bits.
 * @see mm/memory.c __handle_mm_fault(), handle_pte_fault()
 */
export function handle_mm_fault(m: Machine, vma: Vma, addr: number, flags: number): number {
  m.vmstat.mod(PGFAULT, 1);
  addr -= addr % PAGE_SIZE;
  if (vma.kind === 'pfnmap') return VM_FAULT_SIGBUS;
  if (vma.kind === 'hugetlb') return hugetlb_fault(m, vma, addr, flags);
  const pt = vma.mm.pt;
  const slot = pt.pmdSlot(addr);
  if (typeof slot === 'number') {
    if (flags & (FAULT_FLAG_WRITE | FAULT_FLAG_UNSHARE) && !pte_write(slot)) {
      const r = do_huge_pmd_wp_page(m, vma, addr, flags);
      if (!(r & VM_FAULT_FALLBACK)) return r;
    } else {
      let e = pte_mkyoung(slot);
      if (flags & FAULT_FLAG_WRITE) e = pte_mkdirty(e);
      pt.setPmdLeaf(addr, e);
      return 0;
    }
  } else if (slot === undefined) {
    if (vma.kind === 'anon' && thpPmdAllowed(m, vma, addr)) {
      const r = do_huge_pmd_anonymous_page(m, vma, addr, flags);
      if (!(r & VM_FAULT_FALLBACK)) return r;
    } else if (
      (vma.kind === 'shmem' || vma.kind === 'file') &&
      vma.file?.fs === 'tmpfs' &&
      shmemThpAllowed(m, vma, addr)
    ) {
      const r = doShmemPmdFault(m, vma, addr, flags);
      if (!(r & VM_FAULT_FALLBACK)) return r;
    }
  }
  return handle_pte_fault(m, vma, addr, flags);
}

function handle_pte_fault(m: Machine, vma: Vma, addr: number, flags: number): number {
  const table = vma.mm.pt.pte_alloc(addr);
  if (!table) return VM_FAULT_SIGBUS; // a leaf appeared: cannot happen single-threaded
  const i = pte_index(addr);
  const e = table[i]!;
  if (!pte_present(e)) {
    return vma.kind === 'anon' ? do_anonymous_page(m, vma, addr, flags, table) : do_fault(m, vma, addr, flags, table);
  }
  if (flags & (FAULT_FLAG_WRITE | FAULT_FLAG_UNSHARE)) {
    if (!pte_write(e)) return do_wp_page(m, vma, addr, flags, table);
    if (flags & FAULT_FLAG_WRITE) table[i] = pte_mkdirty(e);
  }
  table[i] = pte_mkyoung(table[i]!);
  return 0;
}

/** The protection bits a new PTE gets: writable only for a write fault, or a shared mapping
 *  whose vm_page_prot is writable (no writenotify). @see mm/memory.c maybe_mkwrite(), vma_wants_writenotify() */
function newPteBits(vma: Vma, write: boolean): number {
  let bits = _PAGE_ACCESSED;
  if (write) bits |= _PAGE_DIRTY;
  if (vma.flags & VM_WRITE) {
    if (write) bits |= _PAGE_RW;
    else if (vma.flags & VM_SHARED && !vma.file?.needsDirtyTracking) bits |= _PAGE_RW;
  }
  return bits;
}

/**
 * do_anonymous_page(): a read maps the shared zero page; a write (or any fault where the mm forbids
 * the zero page) allocates a folio of the largest mTHP order the policy allows and that fits
 * (alloc_anon_folio()), falling back to order 0. The new entries are dirty and writable whenever the
 * VMA is writable, whatever the fault.
 */
function do_anonymous_page(m: Machine, vma: Vma, addr: number, flags: number, table: Uint32Array): number {
  const write = (flags & FAULT_FLAG_WRITE) !== 0;
  if (!write && !mm_forbids_zeropage(m)) {
    table[pte_index(addr)] = mk_pte(ZERO_PFN, _PAGE_SPECIAL | _PAGE_ACCESSED);
    return 0;
  }
  let folio = NO_FOLIO;
  let order = 0;
  for (const o of mthpOrdersAllowed(m, vma, addr)) {
    const size = PAGE_SIZE << o;
    const base = addr - (addr % size);
    if (base < vma.start || base + size > vma.end) continue;
    const first = pte_index(base);
    let none = true;
    for (let k = 0; k < 1 << o; k++)
      if (table[first + k] !== 0) {
        none = false;
        break;
      }
    if (!none) continue;
    folio = m.folio_alloc(o);
    if (folio !== NO_FOLIO) {
      order = o;
      m.vmstat.count_mthp_stat(o, 'anon_fault_alloc');
      break;
    }
    // Only the per-size mTHP stat counts this fallback; /proc/vmstat's thp_fault_fallback is for
    // PMD-sized allocations (alloc_anon_folio() vs vma_alloc_anon_folio_pmd()).
    m.vmstat.count_mthp_stat(o, 'anon_fault_fallback');
  }
  if (folio === NO_FOLIO) folio = m.folio_alloc(0);
  if (folio === NO_FOLIO) return VM_FAULT_OOM;
  const nr = 1 << order;
  const size = PAGE_SIZE << order;
  const base = addr - (addr % size);
  if (nr > 1) folio_ref_add(m, folio, nr - 1);
  folio_add_new_anon_rmap(m, folio, vma, base, 'pte');
  folio_add_lru_vma(m, folio, vma);
  const bits = newPteBits(vma, (vma.flags & VM_WRITE) !== 0);
  const first = pte_index(base);
  for (let k = 0; k < nr; k++) table[first + k] = mk_pte(folio + k, bits);
  vma.mm.rss_anon += nr;
  return 0;
}

/**
 * do_fault(): a file or shmem page. Reads map the page-cache page; a write to a private mapping
 * copies it into a new anon page (do_cow_fault); a write to a shared mapping dirties it.
 */
function do_fault(m: Machine, vma: Vma, addr: number, flags: number, table: Uint32Array): number {
  const write = (flags & FAULT_FLAG_WRITE) !== 0;
  const r = filemapFaultPage(m, vma, addr);
  if (!r.ok) return r.fault;
  const page = r.page;
  if (write && !(vma.flags & VM_SHARED)) return wp_page_copy(m, vma, addr, flags, table, page, true);
  if (!write && vma.kind !== 'fsdax') do_fault_around(m, vma, addr, table);
  if (table[pte_index(addr)] === 0) mapCachePage(m, vma, table, pte_index(addr), page, write);
  return 0;
}

/** FAULT_AROUND_BYTES / PAGE_SIZE: a read fault also maps this many neighbours already cached. */
export const FAULT_AROUND_PAGES = 16;

/**
 * do_fault_around() + filemap_map_pages(): on a read fault, map the pages of the aligned 64 KiB
 * window (clamped to the VMA and the PTE table) that are already in the page cache and not mapped yet.
 */
function do_fault_around(m: Machine, vma: Vma, addr: number, table: Uint32Array): void {
  const file = vma.file!;
  const pteOff = pte_index(addr);
  const vmaOff = (addr - vma.start) / PAGE_SIZE;
  const from = Math.max(pteOff - (pteOff % FAULT_AROUND_PAGES), pteOff - Math.min(pteOff, vmaOff));
  const to = Math.min(from + FAULT_AROUND_PAGES, PTRS_PER_PTE, pteOff + vma.pages - vmaOff) - 1;
  const mem = m.mem;
  for (let i = from; i <= to; i++) {
    const idx = vma.pgoff + vmaOff + (i - pteOff);
    const page = file.lookup(idx);
    if (page === NO_PFN) continue;
    // filemap_map_folio_range() (6.18): a large folio met in the window is mapped whole when it lies
    // within i_size (or is shmem), within the VMA, and within one page table; else only its pages
    // inside the window are.
    const folio = mem.page_folio(page);
    const nr = mem.folio_nr_pages(folio);
    if (nr > 1 && m.profile.faultAroundWholeFolio) {
      const first = idx - (page - folio); // file index of the folio's first page
      const i0 = i - (page - folio); // its PTE slot
      if (
        (first + nr <= file.sizePages || file.fs === 'tmpfs') &&
        first >= vma.pgoff &&
        first + nr <= vma.pgoff + vma.pages &&
        i0 >= 0 &&
        i0 + nr <= PTRS_PER_PTE
      ) {
        for (let k = 0; k < nr; k++) if (table[i0 + k] === 0) mapCachePage(m, vma, table, i0 + k, folio + k, false);
        continue;
      }
    }
    if (table[i] === 0) mapCachePage(m, vma, table, i, page, false);
  }
}

/** set_pte_range() for a page-cache page: one reference and one mapcount per PTE. */
function mapCachePage(m: Machine, vma: Vma, table: Uint32Array, i: number, page: number, write: boolean): void {
  const folio = m.mem.page_folio(page);
  folio_ref_add(m, folio, 1);
  folioAddRmapPtes(m, folio, page, 1);
  table[i] = mk_pte(page, newPteBits(vma, write));
  // do_shared_fault(): page_mkwrite (ext4: buffer heads), then the folio is dirtied.
  if (write && vma.file) block_write_begin(m, vma.file, folio);
  if (write) folio_mark_dirty(m, folio);
  vma.mm.rss_file++;
}

/** Shared shmem THP: a PMD-sized folio in the page cache, mapped by one PMD. */
function doShmemPmdFault(m: Machine, vma: Vma, addr: number, flags: number): number {
  const file = vma.file!;
  const haddr = addr - (addr % PMD_SIZE);
  const idx = vma.pgoff + (haddr - vma.start) / PAGE_SIZE;
  if (idx + HPAGE_PMD_NR > file.sizePages || idx % HPAGE_PMD_NR !== 0) return VM_FAULT_FALLBACK;
  let page = file.lookup(idx);
  if (page === NO_PFN) {
    for (let k = 0; k < HPAGE_PMD_NR; k++) if (file.lookup(idx + k) !== NO_PFN) return VM_FAULT_FALLBACK;
    const folio = m.folio_alloc(PMD_ORDER);
    if (folio === NO_FOLIO) return VM_FAULT_FALLBACK;
    filemap_add_folio(m, folio, file, idx);
    page = folio;
  }
  const folio = m.mem.page_folio(page);
  if (folio !== page || m.mem.folio_order(folio) !== PMD_ORDER) return VM_FAULT_FALLBACK;
  if (!(vma.flags & VM_SHARED) && flags & FAULT_FLAG_WRITE) return VM_FAULT_FALLBACK;
  folio_ref_add(m, folio, 1);
  m.mem.setEntireMapcount(folio, m.mem.folio_entire_mapcount(folio) + 1);
  m.mem.addLargeMapcount(folio, 1);
  const write = (flags & FAULT_FLAG_WRITE) !== 0;
  vma.mm.pt.setPmdLeaf(haddr, mk_pte(folio, newPteBits(vma, write)));
  if (write) folio_mark_dirty(m, folio);
  vma.mm.rss_file += HPAGE_PMD_NR;
  return 0;
}

/**
 * do_wp_page(): a write (or unshare) fault on a present, non-writable PTE.
 * Anon pages that are exclusive, or only referenced by this mapping, are reused; everything else in a
 * COW mapping is copied. Unshare never makes the PTE writable. @see mm/memory.c do_wp_page()
 */
function do_wp_page(m: Machine, vma: Vma, addr: number, flags: number, table: Uint32Array): number {
  const unshare = (flags & FAULT_FLAG_UNSHARE) !== 0;
  const i = pte_index(addr);
  const e = table[i]!;
  const pfn = pte_pfn(e);
  const mem = m.mem;
  if (pte_special(e)) {
    // Zero page or a PFN map: only a COW mapping can replace it.
    if (!is_cow_mapping(vma.flags) || !is_zero_pfn(pfn)) return unshare ? 0 : VM_FAULT_SIGSEGV;
    return wp_page_copy(m, vma, addr, flags, table, pfn, false);
  }
  if (vma.flags & VM_SHARED) {
    if (unshare) return 0;
    // wp_page_shared(): page_mkwrite (ext4: buffer heads) + dirty accounting, then writable.
    table[i] = pte_mkyoung(pte_mkdirty(pte_mkwrite(e)));
    if (vma.file) block_write_begin(m, vma.file, mem.page_folio(pfn));
    folio_mark_dirty(m, mem.page_folio(pfn));
    return 0;
  }
  const folio = mem.page_folio(pfn);
  if (mem.folio_test_anon(folio)) {
    if (mem.PageAnonExclusive(pfn) || wp_can_reuse_anon_folio(m, folio, vma)) {
      mem.SetPageAnonExclusive(pfn);
      if (unshare) return 0;
      // wp_page_reuse()
      table[i] = pte_mkyoung(pte_mkdirty(vma.flags & VM_WRITE ? pte_mkwrite(e) : e));
      return 0;
    }
  }
  return wp_page_copy(m, vma, addr, flags, table, pfn, false);
}

/**
 * wp_can_reuse_anon_folio(): a small folio can be reused when ours is its only reference; a large one
 * (6.18) when every reference is a mapping and all mappings are in this mm. 6.12 never reuses a large
 * folio; 6.1 asks the same of every folio as of a small one (profile.wpReuseAnon). A folio off the
 * LRU may be held by an LRU batch: with at most 3 references, this CPU's batches are drained first.
 */
function wp_can_reuse_anon_folio(m: Machine, folio: number, vma: Vma): boolean {
  const mem = m.mem;
  const rule = m.profile.wpReuseAnon;
  if (!mem.folio_test_large(folio) || rule === 'page_count') {
    if (mem.refcount[folio]! > 3) return false;
    if (!mem.testFlag(folio, PG_lru)) lru_add_drain(m);
    return mem.refcount[folio] === 1;
  }
  if (rule === 'small') return false;
  // "Let's just free up a large folio if only a single page is mapped." @see mm/memory.c
  // __wp_can_reuse_large_anon_folio(): folio_large_mapcount(folio) <= 1 -> copy.
  if (mem.folio_mapcount(folio) <= 1) return false;
  if (mem.refcount[folio] !== mem.folio_mapcount(folio)) return false;
  return rmap_walk(m, folio).every((h) => h.vma.mm === vma.mm);
}

/**
 * wp_page_copy(): allocate a new exclusive anon page, copy, and map it instead of the old page.
 * A write maps it writable and dirty, an unshare read-only. `fromCache`: the old page was not mapped
 * here yet (do_cow_fault), so there is no old mapping to drop.
 */
function wp_page_copy(
  m: Machine,
  vma: Vma,
  addr: number,
  flags: number,
  table: Uint32Array,
  oldPfn: number,
  fromCache: boolean,
): number {
  const unshare = (flags & FAULT_FLAG_UNSHARE) !== 0;
  const folio = m.folio_alloc(0);
  if (folio === NO_FOLIO) return VM_FAULT_OOM;
  // __wp_page_copy_user(); the zero page's COW takes a zeroed folio instead (vma_alloc_zeroed_movable_folio()).
  if (!is_zero_pfn(oldPfn)) copy_user_highpage(m, folio, oldPfn);
  const i = pte_index(addr);
  const old = table[i]!;
  if (pte_present(old)) m.mmuNotify(vma.mm, addr, addr + PAGE_SIZE, 'cow');
  if (!fromCache && pte_present(old) && !pte_special(old)) {
    const of = m.mem.page_folio(oldPfn);
    const wasAnon = m.mem.folio_test_anon(of);
    folio_remove_rmap_ptes(m, of, oldPfn, 1);
    folio_put_refs(m, of, 1);
    if (wasAnon) vma.mm.rss_anon--;
    else vma.mm.rss_file--;
  }
  folio_add_new_anon_rmap(m, folio, vma, addr, 'pte');
  folio_add_lru_vma(m, folio, vma);
  let bits = _PAGE_ACCESSED;
  if (!unshare) {
    bits |= _PAGE_DIRTY;
    if (vma.flags & VM_WRITE) bits |= _PAGE_RW;
  }
  table[i] = mk_pte(folio, bits);
  vma.mm.rss_anon++;
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Zap

/**
 * zap_page_range_single() / unmap_page_range(): drop every mapping in [start, end) of the VMA.
 * Partially covered PMD leaves are split first; hugetlb ranges are whole pages by construction.
 */
export function zap_page_range_single(m: Machine, vma: Vma, start: number, end: number): void {
  // Every unmap path (zap_page_range_single(), unmap_region(), exit_mmap()) drains the per-CPU LRU
  // batches first.
  lru_add_drain(m);
  m.mmuNotify(vma.mm, start, end, 'unmap');
  const pt = vma.mm.pt;
  if (vma.kind === 'hugetlb') {
    // unmap_single_vma() -> __unmap_hugepage_range(): the owner's reservations come back.
    __unmap_hugepage_range(m, vma, start, end, ANY_FOLIO);
    pt.freeEmptyTables(start, end);
    return;
  }
  let a = start;
  while (a < end) {
    const pud = pt.pudLeaf(a);
    if (pud) {
      const base = a - (a % PUD_SIZE);
      zapLeaf(m, vma, pud);
      pt.setPudLeaf(base, 0);
      a = base + PUD_SIZE;
      continue;
    }
    const slot = pt.pmdSlot(a);
    const base = a - (a % PMD_SIZE);
    if (slot === undefined) {
      a = base + PMD_SIZE;
      continue;
    }
    if (typeof slot === 'number') {
      if (a === base && end >= base + PMD_SIZE) {
        zapLeaf(m, vma, slot);
        pt.setPmdLeaf(base, 0);
        a = base + PMD_SIZE;
        continue;
      }
      __split_huge_pmd(m, vma, base);
      continue; // re-read: now a PTE table (or nothing)
    }
    const stop = Math.min(end, base + PMD_SIZE);
    zapPteRange(m, vma, slot, pte_index(a), pte_index(a) + (stop - a) / PAGE_SIZE);
    // A table the range covers is empty now (entries are present or 0): freed without a scan.
    if (a === base && stop === base + PMD_SIZE) pt.freePteTable(base);
    a = stop;
  }
  pt.freeEmptyTables(start, end);
}

/** An entry's _PAGE_* bits other than present. */
const PTE_BITS_BUT_PRESENT = PTE_FLAGS_MASK & ~_PAGE_PRESENT;

/**
 * zap_pte_range() over PTE slots [i, iEnd) of one table: zap_present_ptes() takes the PTEs that map
 * consecutive pages of one large folio as a batch (folio_pte_batch(), dirty and young ignored and
 * gathered), so a large folio costs one rmap removal and one reference drop, not one per page.
 */
function zapPteRange(m: Machine, vma: Vma, slot: Uint32Array, i: number, iEnd: number): void {
  // Small integers, but worked out from addresses (doubles above 2^31): as int32, the loops index the
  // table without converting each time.
  i |= 0;
  iEnd |= 0;
  const mem = m.mem;
  const pageFlags = mem.flags;
  const mapcount = mem.mapcount;
  const refcount = mem.refcount;
  // With no folio freed while in use on record, a reference drop needs no misuse look-up.
  const noMisuse = m.misuse.freedInUse.size === 0;
  let rssAnon = 0;
  let rssFile = 0;
  let anonUnmapped = 0;
  // The module constants in locals (V8 reloads and checks a module binding on every use).
  const kind = PG_head | PG_tail | PG_anon;
  const anon = PG_anon;
  const largeAnon = PG_head | PG_anon;
  const largeAnonMask = PG_head | PG_anon | PG_hugetlb;
  const dirtyBit = _PAGE_DIRTY;
  const others = PTE_BITS_BUT_PRESENT;
  const step = PTE_PFN_STEP;
  while (i < iEnd) {
    const e = slot[i]!;
    if (!pte_present(e)) {
      i++;
      continue;
    }
    slot[i] = 0;
    if (pte_special(e)) {
      i++;
      continue;
    }
    const pfn = pte_pfn(e);
    if (noMisuse && (pageFlags[pfn]! & kind) === anon && mapcount[pfn] === 1 && refcount[pfn] === 1) {
      // The entry most zaps meet: a small anon folio this PTE alone maps and references. Its rmap
      // removal leaves it unmapped (NR_ANON_MAPPED, added once below) and its put is the last:
      // folio_remove_rmap_ptes() and folio_put_refs() with nothing to check, then __folio_put().
      mapcount[pfn] = 0;
      refcount[pfn] = 0;
      anonUnmapped++;
      rssAnon++;
      __folio_put(m, pfn);
      i++;
      continue;
    }
    const folio = mem.page_folio(pfn);
    let nr = 1;
    let dirty = e & dirtyBit;
    // folio_remove_rmap_ptes()'s per-page count, taken in the pass that clears the batch's PTEs.
    mapcount[pfn] = mapcount[pfn]! - 1;
    if (mem.folio_test_large(folio)) {
      const max = Math.min(iEnd - i, folio + mem.folio_nr_pages(folio) - pfn);
      // A present PTE of the next page: its (32-bit) entry less the _PAGE_* bits other than present is
      // this one's PFN advanced, present (one compare instead of pte_present() and pte_pfn()).
      let want = mk_pte(pfn, 0) + step;
      for (; nr < max; nr++, want += step) {
        const x = slot[i + nr]!;
        if (x - (x & others) !== want) break;
        dirty |= x & dirtyBit;
        slot[i + nr] = 0;
        mapcount[pfn + nr] = mapcount[pfn + nr]! - 1;
      }
    }
    if ((pageFlags[folio]! & largeAnonMask) === largeAnon && !m.misuse.freedInUse.size) {
      // A large anon folio (an mTHP, or a THP mapped by PTEs): its rmap and references in one call.
      rssAnon += nr;
      zapAnonLargeBatch(m, folio, nr);
      i += nr;
      continue;
    }
    if (mem.folio_test_anon(folio)) {
      rssAnon += nr;
    } else {
      rssFile += nr;
      if (dirty) folio_mark_dirty(m, folio);
    }
    folio_remove_rmap_ptes(m, folio, pfn, nr, false);
    if (!folioPutRefsQuiet(m, folio, nr)) folio_put_refs(m, folio, nr);
    i += nr;
  }
  if (anonUnmapped) m.vmstat.mod(NR_ANON_MAPPED, -anonUnmapped);
  vma.mm.rss_anon -= rssAnon;
  vma.mm.rss_file -= rssFile;
}

/**
 * A zap batch's folio_remove_rmap_ptes() (each page's mapcount already lowered) and folio_put_refs() for
 * a large anon folio that is not hugetlb, with no folio freed in use on record: _large_mapcount down by
 * nr (NR_ANON_MAPPED down by the folio once nothing maps it), then the references; the last one frees
 * the folio when nothing maps or pins it (what folioPutRefsQuiet() allows), anything else takes
 * folio_put_refs() and its checks. The same steps as those two calls, without a call per step.
 */
function zapAnonLargeBatch(m: Machine, folio: number, nr: number): void {
  const mem = m.mem;
  const refcount = mem.refcount;
  mem.addLargeMapcount(folio, -nr);
  const mapped = mem.folio_mapcount(folio) > 0;
  if (!mapped) m.vmstat.mod(NR_ANON_MAPPED, -mem.folio_nr_pages(folio));
  const rc = refcount[folio]!;
  // Unsigned, as atomic_sub_and_test() sees it.
  const before = rc >>> 0;
  if (before > nr) {
    refcount[folio] = rc - nr;
    return;
  }
  if (before === nr && !mapped && !(mem.folioPincount(folio) > 0) && !is_huge_zero_folio(m, folio)) {
    refcount[folio] = 0;
    __folio_put(m, folio);
    return;
  }
  folio_put_refs(m, folio, nr);
}

/**
 * zap_present_ptes() at slot i (the explorer's atomic point of an unmap): clear the PTE and those that
 * map the rest of the same large folio, drop their rmap and RSS. Returns the PTEs cleared (0: none
 * present at i). `gather`: the mmu_gather, which keeps each folio's references (pushed as folio, refs)
 * until the TLB flush (tlbFinishMmu()); without it they are dropped at once, as the flush is.
 */
export function zapPresentPtes(
  m: Machine,
  vma: Vma,
  slot: Uint32Array,
  i: number,
  iEnd: number,
  gather?: number[],
): number {
  const mem = m.mem;
  const e = slot[i]!;
  if (!pte_present(e)) return 0;
  slot[i] = 0;
  if (pte_special(e)) return 1;
  const pfn = pte_pfn(e);
  const folio = mem.page_folio(pfn);
  let nr = 1;
  let dirty = e & _PAGE_DIRTY;
  if (mem.folio_test_large(folio)) {
    const max = Math.min(iEnd - i, folio + mem.folio_nr_pages(folio) - pfn);
    for (; nr < max; nr++) {
      const x = slot[i + nr]!;
      if (!pte_present(x) || pte_pfn(x) !== pfn + nr) break;
      dirty |= x & _PAGE_DIRTY;
      slot[i + nr] = 0;
    }
  }
  if (mem.folio_test_anon(folio)) {
    vma.mm.rss_anon -= nr;
  } else {
    vma.mm.rss_file -= nr;
    if (dirty) folio_mark_dirty(m, folio);
  }
  folio_remove_rmap_ptes(m, folio, pfn, nr);
  if (gather) gather.push(folio, nr);
  else folio_put_refs(m, folio, nr);
  return nr;
}

/** tlb_finish_mmu(): after the TLB flush, the gathered folios' references go (freeing the last ones). */
export function tlbFinishMmu(m: Machine, gather: number[]): void {
  for (let k = 0; k < gather.length; k += 2) folio_put_refs(m, gather[k]!, gather[k + 1]!);
  gather.length = 0;
}

function pteDirtyFile(m: Machine, folio: number, e: number): boolean {
  return (e & _PAGE_DIRTY) !== 0 && !m.mem.folio_test_anon(folio);
}

function zapLeaf(m: Machine, vma: Vma, e: number): void {
  const folio = pte_pfn(e);
  if (is_huge_zero_folio(m, folio)) return;
  const nr = m.mem.folio_nr_pages(folio);
  if (pteDirtyFile(m, folio, e)) folio_mark_dirty(m, folio);
  if (m.mem.folio_test_anon(folio)) vma.mm.rss_anon -= nr;
  else vma.mm.rss_file -= nr;
  folioRemoveRmapEntire(m, folio);
  folio_put_refs(m, folio, 1);
}
