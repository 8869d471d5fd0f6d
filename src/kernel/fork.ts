// Models kernel/fork.c dup_mmap() and the page-table copy of mm/memory.c (copy_page_range,
// copy_present_ptes, copy_present_page), mm/huge_memory.c copy_huge_pmd() and mm/hugetlb.c
// copy_hugetlb_page_range(): COW sharing, and the early copy of anon pages that may be pinned
// (MMF_HAS_PINNED and folio_maybe_dma_pinned) so the parent keeps the page the device uses.

import { dup_fd } from './file_table.js';
import type { Machine } from '../mm/machine.js';
import type { Process } from '../mm/task.js';
import { ENOMEM } from '../uapi/errno.js';
import {
  NO_FOLIO,
  PAGE_SIZE,
  PMD_SIZE,
  PUD_SIZE,
  HPAGE_PMD_NR,
  PG_anon,
  PG_anon_exclusive,
  PG_head,
  PG_tail,
} from '../mm/memmap.js';
import {
  Vma,
  VM_DONTCOPY,
  VM_LOCKED,
  VM_LOCKONFAULT,
  VM_PFNMAP,
  VM_MIXEDMAP,
  VM_WRITE,
  VM_SHARED,
  is_cow_mapping,
} from '../mm/mm_types.js';
import {
  mk_pte,
  pte_pfn,
  pte_present,
  pte_special,
  pte_wrprotect,
  pte_mkold,
  pte_mkclean,
  pte_index,
  pte_flags,
  pte_write,
  pte_mkwrite,
  PTRS_PER_PTE,
  _PAGE_ACCESSED,
  _PAGE_DIRTY,
  _PAGE_RW,
} from '../mm/pgtable.js';
import { folio_add_new_anon_rmap, folioAddRmapPtes, folioAddRmapEntire } from '../mm/rmap.js';
import { folio_add_lru_vma, folio_ref_add } from '../mm/swap.js';
import { is_huge_zero_folio } from '../mm/huge_mm.js';
import { __split_huge_pmd } from '../mm/huge_memory.js';
import { folio_needs_cow_for_dma } from '../mm/gup.js';
import { exit_mmap } from '../mm/mmap.js';
import { copy_user_highpage, copy_user_large_folio } from '../mm/highmem.js';
import { alloc_hugetlb_folio, hugetlb_dup_vma_private } from '../mm/hugetlb_resv.js';

/**
 * What fork's page-table copy decided, in base pages: `shared` with the child (COW, or a shared
 * mapping: refcount and mapcount raised; the zero page not counted), `copied` early into new pages
 * for the child because they may be pinned, and `pmd_split`: THP PMDs of the parent split first
 * (copy_huge_pmd() returning -EAGAIN for a maybe-pinned THP). The kernel keeps no such counters.
 */
export interface ForkStats {
  shared: number;
  copied: number;
  pmd_split: number;
}

/**
 * kernel_clone() for fork(): a child with a copy of the parent's address space. Returns the child, or -ENOMEM when a
 * page that had to be copied early could not be allocated (dup_mm() failing makes fork ENOMEM). `stats`, when
 * given, receives what the copy shared, copied and split.
 */
export function kernel_clone(
  m: Machine,
  parent: Process,
  childName: string,
  stats: ForkStats = { shared: 0, copied: 0, pmd_split: 0 },
): Process | number {
  const child = m.spawn(childName);
  child.rlimitMemlock = parent.rlimitMemlock;
  child.capIpcLock = parent.capIpcLock;
  const src = parent.mm;
  const dst = child.mm;
  dst.mmap_base = src.mmap_base;
  // raw_write_seqcount_begin(&src_mm->write_protect_seq): GUP-fast pins back off meanwhile.
  src.write_protect_seq++;
  let err = 0;
  for (const vma of src.vmas) {
    if (vma.flags & VM_DONTCOPY) continue;
    // dup_mmap(): the child's VMAs are not mlocked (VM_LOCKED_MASK cleared).
    const flags = vma.flags & ~(VM_LOCKED | VM_LOCKONFAULT);
    const cv = new Vma(dst, vma.start, vma.end, flags, vma.kind, vma.file, vma.pgoff, vma.hugeOrder, vma.name);
    // vm_area_dup() copies vm_private_data; a private hugetlb copy drops the reservation at once.
    cv.vm_private_data = vma.vm_private_data;
    if (vma.kind === 'hugetlb') hugetlb_dup_vma_private(cv);
    if (vma.anonVma) {
      // anon_vma_fork(): the child sees the parent's anon_vmas and gets its own for new pages.
      for (const av of vma.anonChain) {
        cv.anonChain.push(av);
        av.vmas.add(cv);
      }
      const own = m.newAnonVma();
      cv.anonVma = own;
      cv.anonChain.push(own);
      own.vmas.add(cv);
    }
    if (vma.file) {
      vma.file.vmas.add(cv);
      vma.file.users++;
    }
    dst.insertVma(cv);
    if (vma_needs_copy(vma)) {
      err = copy_page_range(m, cv, vma, stats);
      if (err) break;
    }
  }
  src.write_protect_seq++;
  if (err) {
    exit_mmap(m, dst);
    child.alive = false;
    m.processes.delete(childName);
    return err;
  }
  // dup_fd(): the child shares every open file (io_uring rings, pipes, device fds).
  dup_fd(parent, child);
  return child;
}

/** vma_needs_copy(): PFN maps and anything with anon pages; other file mappings refault in the child. */
function vma_needs_copy(vma: Vma): boolean {
  return (vma.flags & (VM_PFNMAP | VM_MIXEDMAP)) !== 0 || vma.anonVma !== undefined;
}

/** copy_page_range(): 0 or -ENOMEM. */
function copy_page_range(m: Machine, dst: Vma, src: Vma, st: ForkStats): number {
  const spt = src.mm.pt;
  const dpt = dst.mm.pt;
  const cow = is_cow_mapping(src.flags);
  let touched = false;
  for (let a = src.start; a < src.end;) {
    const pud = spt.pudLeaf(a);
    if (pud) {
      const r = copyHugetlbEntry(m, dst, src, a, pud, PUD_SIZE, st);
      if (r) return r;
      touched = true;
      a += PUD_SIZE;
      continue;
    }
    const slot = spt.pmdSlot(a);
    const next = a - (a % PMD_SIZE) + PMD_SIZE;
    if (slot === undefined) {
      a = next;
      continue;
    }
    if (typeof slot === 'number') {
      if (src.kind === 'hugetlb') {
        const r = copyHugetlbEntry(m, dst, src, a, slot, PMD_SIZE, st);
        if (r) return r;
        touched = true;
        a = next;
        continue;
      }
      if (src.kind !== 'anon') {
        a = next;
        continue;
      } // file PMDs refault in the child
      if (copy_huge_pmd(m, dst, src, a, slot, st)) {
        touched = true;
        a = next;
        continue;
      }
      // -EAGAIN: the parent's PMD was split; copy the PTEs below.
    }
    const table = spt.pteTable(a)!;
    const dtable = dpt.pte_alloc(a)!;
    const stop = Math.min(next, src.end);
    const r = copyPteRange(m, dst, src, a, table, dtable, pte_index(a), pte_index(a) + (stop - a) / PAGE_SIZE, cow, st);
    if (r < 0) return r;
    if (r > 0) touched = true;
    a = stop;
  }
  if (touched && cow) m.mmuNotify(src.mm, src.start, src.end, 'fork');
  return 0;
}

/**
 * copy_pte_range() over PTE slots [i, iEnd) of one table, the first at `addr`: returns the number of
 * pages (not special PTEs) it copied or shared, or -ENOMEM. A small anon folio that is not going to be copied (its mm
 * never pinned, the common fork) takes copy_present_ptes()'s small-folio path inline: one more
 * reference and mapcount, PageAnonExclusive cleared, both PTEs write-protected when COW.
 */
function copyPteRange(
  m: Machine,
  dst: Vma,
  src: Vma,
  addr: number,
  table: Uint32Array,
  dtable: Uint32Array,
  i: number,
  iEnd: number,
  cow: boolean,
  st: ForkStats,
): number {
  const mem = m.mem;
  const flags = mem.flags;
  const shared = (src.flags & VM_SHARED) !== 0;
  // folio_needs_cow_for_dma() is false for every folio of an mm that never pinned.
  const mayCopy = src.mm.has_pinned;
  let done = 0;
  let rssAnon = 0;
  for (; i < iEnd; i++) {
    const e = table[i]!;
    if (!pte_present(e)) continue;
    if (pte_special(e)) {
      dtable[i] = e;
      continue;
    }
    done++;
    const page = pte_pfn(e);
    const f = flags[page]!;
    if (!mayCopy && (f & (PG_head | PG_tail | PG_anon)) === PG_anon) {
      flags[page] = f & ~PG_anon_exclusive;
      mem.refcount[page] = mem.refcount[page]! + 1;
      mem.mapcount[page] = mem.mapcount[page]! + 1;
      rssAnon++;
      let ce = e;
      if (cow) table[i] = ce = pte_wrprotect(e);
      if (shared) ce = pte_mkclean(ce);
      dtable[i] = pte_mkold(ce);
      st.shared++;
      continue;
    }
    const a = addr + (i - pte_index(addr)) * PAGE_SIZE;
    // copy_present_ptes(): the PTEs that map the rest of one large folio are copied as a batch.
    const nr = copyPresentPtesBatch(m, dst, src, a, e, table, dtable, i, (iEnd - i) * PAGE_SIZE, cow);
    if (nr > 0) {
      st.shared += nr;
      done += nr - 1;
      i += nr - 1;
      continue;
    }
    const r = copyPresentPte(m, dst, src, a, e, table, dtable, i, cow, st);
    if (r) return r;
  }
  dst.mm.rss_anon += rssAnon;
  return done;
}

/** pte_batch_clear_ignored(): the bits folio_pte_batch() never compares (young, write); a shared
 *  mapping ignores dirty too. */
const BATCH_IGNORED = _PAGE_ACCESSED | _PAGE_RW;

/**
 * The batched branch of copy_present_ptes(): when the PTE maps a page of a large folio, the following
 * PTEs that map the next pages of the same folio with the same bits (folio_pte_batch()) are copied
 * together: references, mapcounts, PageAnonExclusive cleared, write-protected when COW. Returns how many
 * PTEs were copied, or 0 when the single-PTE path must run: a small folio, or an anon folio that may be
 * pinned (folio_try_dup_anon_rmap_ptes() refuses a batch with an exclusive page, and the kernel retries
 * page by page; the single-PTE path gives the same answer for a batch without one).
 */
function copyPresentPtesBatch(
  m: Machine,
  dst: Vma,
  src: Vma,
  addr: number,
  e: number,
  table: Uint32Array,
  dtable: Uint32Array,
  i: number,
  maxBytes: number,
  cow: boolean,
): number {
  const mem = m.mem;
  const page = pte_pfn(e);
  if (!(mem.flags[page]! & (PG_head | PG_tail))) return 0;
  const folio = mem.page_folio(page);
  const anon = mem.folio_test_anon(folio);
  if (anon && folio_needs_cow_for_dma(m, src, folio)) return 0;
  // folio_pte_batch(): up to the folio's end, the PTE table's end and the VMA's end.
  const max = Math.min(folio + mem.folio_nr_pages(folio) - page, PTRS_PER_PTE - i, maxBytes / PAGE_SIZE);
  const ignore = (src.flags & VM_SHARED) !== 0 ? BATCH_IGNORED | _PAGE_DIRTY : BATCH_IGNORED;
  const key = pte_flags(e) & ~ignore;
  if (cow) return copyCowPtesBatch(m, dst, folio, anon, page, e, key, ignore, table, dtable, i, max);
  let anyWritable = pte_write(e);
  let nr = 1;
  for (; nr < max; nr++) {
    const x = table[i + nr]!;
    if (pte_pfn(x) !== page + nr || (pte_flags(x) & ~ignore) !== key) break;
    if (pte_write(x)) anyWritable = true;
  }
  folio_ref_add(m, folio, nr);
  // folio_add_anon_rmap_ptes() / folio_add_file_rmap_ptes(): each page's mapcount is raised in the
  // pass below that writes its PTEs (one pass over the batch, not two); the folio-wide counts here.
  folioAddRmapPtes(m, folio, page, nr, false);
  if (anon) dst.mm.rss_anon += nr;
  else dst.mm.rss_file += nr;
  // __copy_present_ptes(): every child PTE is the first one's, PFN advanced.
  let pe = anyWritable ? pte_mkwrite(e) : e;
  const wrprotect = cow && pte_write(pe);
  if (wrprotect) pe = pte_wrprotect(pe);
  if (src.flags & VM_SHARED) pe = pte_mkclean(pe);
  const bits = pte_flags(pte_mkold(pe));
  const flags = mem.flags;
  const mapcount = mem.mapcount;
  const clear = anon ? ~PG_anon_exclusive : ~0;
  for (let k = 0; k < nr; k++) {
    const p = page + k;
    mapcount[p] = mapcount[p]! + 1;
    flags[p] = flags[p]! & clear;
    if (wrprotect) table[i + k] = pte_wrprotect(table[i + k]!);
    dtable[i + k] = mk_pte(p, bits);
  }
  return nr;
}

/**
 * copyPresentPtesBatch() of a COW mapping (private: no PTE cleaned): every PTE of the batch ends
 * write-protected in parent and child whatever the batch's write bits, so the child's bits are known
 * from the first PTE and the batch is found and copied in one pass over the parent's PTEs.
 */
function copyCowPtesBatch(
  m: Machine,
  dst: Vma,
  folio: number,
  anon: boolean,
  page: number,
  e: number,
  key: number,
  ignore: number,
  table: Uint32Array,
  dtable: Uint32Array,
  i: number,
  max: number,
): number {
  const mem = m.mem;
  const bits = pte_flags(pte_mkold(pte_wrprotect(e)));
  const flags = mem.flags;
  const mapcount = mem.mapcount;
  const clear = anon ? ~PG_anon_exclusive : ~0;
  let nr = 0;
  for (; nr < max; nr++) {
    const x = table[i + nr]!;
    const p = page + nr;
    if (nr > 0 && (pte_pfn(x) !== p || (pte_flags(x) & ~ignore) !== key)) break;
    table[i + nr] = pte_wrprotect(x);
    dtable[i + nr] = mk_pte(p, bits);
    mapcount[p] = mapcount[p]! + 1; // folio_add_anon_rmap_ptes()'s per-page count
    flags[p] = flags[p]! & clear;
  }
  folio_ref_add(m, folio, nr);
  folioAddRmapPtes(m, folio, page, nr, false);
  if (anon) dst.mm.rss_anon += nr;
  else dst.mm.rss_file += nr;
  return nr;
}

/**
 * copy_present_ptes() for one PTE: an anon page that is exclusive and maybe pinned is copied into a
 * new page for the child (copy_present_page); everything else is shared, write-protected in both
 * when the mapping is COW.
 */
function copyPresentPte(
  m: Machine,
  dst: Vma,
  src: Vma,
  addr: number,
  e: number,
  table: Uint32Array,
  dtable: Uint32Array,
  i: number,
  cow: boolean,
  st: ForkStats,
): number {
  const mem = m.mem;
  const page = pte_pfn(e);
  const folio = mem.page_folio(page);
  if (mem.folio_test_anon(folio)) {
    if (mem.PageAnonExclusive(page) && folio_needs_cow_for_dma(m, src, folio)) {
      const copy = m.folio_alloc(0);
      if (copy === NO_FOLIO) return -ENOMEM;
      copy_user_highpage(m, copy, page); // copy_present_page()
      folio_add_new_anon_rmap(m, copy, dst, addr, 'pte');
      folio_add_lru_vma(m, copy, dst);
      dtable[i] = mk_pte(copy, _PAGE_ACCESSED | _PAGE_DIRTY | (dst.flags & VM_WRITE ? _PAGE_RW : 0));
      dst.mm.rss_anon++;
      st.copied++;
      return 0;
    }
    mem.ClearPageAnonExclusive(page);
    dst.mm.rss_anon++;
  } else {
    dst.mm.rss_file++;
  }
  folio_ref_add(m, folio, 1);
  folioAddRmapPtes(m, folio, page, 1);
  st.shared++;
  let ce = e;
  if (cow) {
    table[i] = pte_wrprotect(e);
    ce = pte_wrprotect(e);
  }
  if (src.flags & VM_SHARED) ce = pte_mkclean(ce);
  dtable[i] = pte_mkold(ce);
  return 0;
}

/**
 * copy_huge_pmd(): true when the PMD was copied (shared, write-protected, or the huge zero folio);
 * false when an exclusive, maybe-pinned THP made it split the parent's PMD instead.
 */
function copy_huge_pmd(m: Machine, dst: Vma, src: Vma, addr: number, e: number, st: ForkStats): boolean {
  const mem = m.mem;
  const folio = pte_pfn(e);
  const haddr = addr - (addr % PMD_SIZE);
  if (is_huge_zero_folio(m, folio)) {
    dst.mm.pt.setPmdLeaf(haddr, e);
    return true;
  }
  if (mem.PageAnonExclusive(folio) && folio_needs_cow_for_dma(m, src, folio)) {
    __split_huge_pmd(m, src, haddr);
    st.pmd_split++;
    return false;
  }
  mem.ClearPageAnonExclusive(folio);
  folio_ref_add(m, folio, 1);
  folioAddRmapEntire(m, folio);
  const we = pte_wrprotect(e);
  src.mm.pt.setPmdLeaf(haddr, we);
  dst.mm.pt.setPmdLeaf(haddr, pte_mkold(we));
  dst.mm.rss_anon += HPAGE_PMD_NR;
  st.shared += HPAGE_PMD_NR;
  return true;
}

/**
 * copy_hugetlb_page_range() for one leaf: an exclusive, maybe-pinned anon hugetlb folio is copied
 * into a new pool folio, taken without a reservation (the child's VMA has none: fork fails with
 * -ENOMEM if no free page is unreserved and overcommit gives none); others are shared and
 * write-protected.
 */
function copyHugetlbEntry(
  m: Machine,
  dst: Vma,
  src: Vma,
  addr: number,
  e: number,
  size: number,
  st: ForkStats,
): number {
  const mem = m.mem;
  const folio = pte_pfn(e);
  const set = (pt: typeof src.mm.pt, v: number) =>
    size === PUD_SIZE ? pt.setPudLeaf(addr, v) : pt.setPmdLeaf(addr, v);
  const nr = size / PAGE_SIZE;
  if (mem.folio_test_anon(folio)) {
    if (mem.PageAnonExclusive(folio) && folio_needs_cow_for_dma(m, src, folio)) {
      // alloc_hugetlb_folio(dst_vma, addr, false): the child's VMA has no reservation.
      const copy = alloc_hugetlb_folio(m, dst, addr, false);
      if (copy === NO_FOLIO || copy < 0) return -ENOMEM; // dup_mm() failing makes fork -ENOMEM, whatever the cause
      copy_user_large_folio(m, copy, folio);
      // hugetlb_install_folio()
      folio_add_new_anon_rmap(m, copy, dst, addr, size === PUD_SIZE ? 'pud' : 'pmd');
      m.hugetlb.folio_set_hugetlb_restore_reserve(copy, false);
      set(dst.mm.pt, mk_pte(copy, _PAGE_ACCESSED | _PAGE_DIRTY | (dst.flags & VM_WRITE ? _PAGE_RW : 0)));
      dst.mm.rss_anon += nr;
      m.hugetlb.folio_set_hugetlb_migratable(copy);
      st.copied += nr;
      return 0;
    }
    mem.ClearPageAnonExclusive(folio);
    dst.mm.rss_anon += nr;
  } else {
    dst.mm.rss_file += nr;
  }
  folio_ref_add(m, folio, 1);
  folioAddRmapEntire(m, folio);
  st.shared += nr;
  const cow = is_cow_mapping(src.flags);
  const ne = cow ? pte_wrprotect(e) : e;
  set(src.mm.pt, ne);
  set(dst.mm.pt, ne);
  return 0;
}
