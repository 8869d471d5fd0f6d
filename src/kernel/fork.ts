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
  PTE_PFN_STEP,
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
 * Counted in the per-entry decisions (copyPresentPteDup, copyHugePmdDup, copyHugetlbDup and the
 * batched paths), so a fork run atomically and one run step by step (copyPageRangeStep) count alike.
 */
export interface ForkStats {
  shared: number;
  copied: number;
  pmd_split: number;
}

/** Fresh, zeroed fork counts. */
export function newForkStats(): ForkStats {
  return { shared: 0, copied: 0, pmd_split: 0 };
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
  stats: ForkStats = newForkStats(),
): Process | number {
  const { child, pairs } = forkBegin(m, parent, childName);
  let err = 0;
  for (const [cv, vma] of pairs) {
    err = copy_page_range(m, cv, vma, stats);
    if (err) break;
  }
  return forkEnd(m, parent, child, err);
}

/**
 * dup_mmap() up to the page-table copy: the child, its VMAs (and anon_vma chains, file links), and the
 * (child VMA, parent VMA) pairs whose page tables must be copied (copy_page_range() per pair).
 */
export function forkBegin(m: Machine, parent: Process, childName: string): { child: Process; pairs: [Vma, Vma][] } {
  const child = m.spawn(childName);
  child.rlimitMemlock = parent.rlimitMemlock;
  child.capIpcLock = parent.capIpcLock;
  const src = parent.mm;
  const dst = child.mm;
  dst.mmap_base = src.mmap_base;
  const pairs: [Vma, Vma][] = [];
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
    if (vma_needs_copy(vma)) pairs.push([cv, vma]);
  }
  return { child, pairs };
}

/** dup_mmap()'s end: on error the child is torn down, else it shares every open file. */
export function forkEnd(m: Machine, parent: Process, child: Process, err: number): Process | number {
  if (err) {
    exit_mmap(m, child.mm);
    child.alive = false;
    m.processes.delete(child.name);
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

/**
 * copy_page_range() (and copy_hugetlb_page_range()): 0 or -ENOMEM. A COW mapping's copy runs inside the
 * write side of the parent's write_protect_seq (raw_write_seqcount_begin/end()), so GUP-fast pins that
 * overlap it back off.
 */
function copy_page_range(m: Machine, dst: Vma, src: Vma, st: ForkStats): number {
  const cow = is_cow_mapping(src.flags);
  if (cow) writeProtectSeqBegin(src);
  const r = copyPageRangeBody(m, dst, src, cow, st);
  if (cow) writeProtectSeqEnd(src);
  return r;
}

/** raw_write_seqcount_begin(&src_mm->write_protect_seq): odd while the copy runs. */
function writeProtectSeqBegin(src: Vma): void {
  src.mm.write_protect_seq++;
}

/** raw_write_seqcount_end(&src_mm->write_protect_seq). */
function writeProtectSeqEnd(src: Vma): void {
  src.mm.write_protect_seq++;
}

function copyPageRangeBody(m: Machine, dst: Vma, src: Vma, cow: boolean, st: ForkStats): number {
  const spt = src.mm.pt;
  const dpt = dst.mm.pt;
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
  // Small integers, but worked out from addresses (doubles above 2^31): as int32, the loop indexes the
  // tables without converting each time.
  i |= 0;
  iEnd |= 0;
  const mem = m.mem;
  const flags = mem.flags;
  const refcount = mem.refcount;
  const mapcount = mem.mapcount;
  const shared = (src.flags & VM_SHARED) !== 0;
  // folio_needs_cow_for_dma() is false for every folio of an mm that never pinned.
  const mayCopy = src.mm.has_pinned;
  // The module constants in locals (V8 reloads and checks a module binding on every use).
  const kind = PG_head | PG_tail | PG_anon;
  const anon = PG_anon;
  const notExclusive = ~PG_anon_exclusive;
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
    if (!mayCopy && (f & kind) === anon) {
      flags[page] = f & notExclusive;
      refcount[page] = refcount[page]! + 1;
      mapcount[page] = mapcount[page]! + 1;
      rssAnon++;
      let ce = e;
      if (cow) table[i] = ce = pte_wrprotect(e);
      if (shared) ce = pte_mkclean(ce);
      dtable[i] = pte_mkold(ce);
      st.shared++;
      continue;
    }
    if (!mayCopy && cow && f & (PG_head | PG_tail)) {
      // Large folios of an mm that never pinned, in a COW mapping: batch after batch in one call.
      const end = copyCowLargeRun(m, dst, table, dtable, i, iEnd, st);
      done += end - i - 1;
      i = end - 1;
      continue;
    }
    const a = addr + (i - pte_index(addr)) * PAGE_SIZE;
    // copy_present_ptes(): the PTEs that map the rest of one large folio are copied as a batch.
    const nr = copyPresentPtesBatch(m, dst, src, e, table, dtable, i, (iEnd - i) * PAGE_SIZE, cow);
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

/** The bits folio_pte_batch() never compares (young, write). */
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
  e: number,
  table: Uint32Array,
  dtable: Uint32Array,
  i: number,
  maxBytes: number,
  cow: boolean,
): number {
  const mem = m.mem;
  const page = pte_pfn(e);
  const max = batchReach(m, src, page, i, maxBytes);
  if (max === 0) return 0;
  const folio = mem.page_folio(page);
  const anon = mem.folio_test_anon(folio);
  const ignore = batchIgnored(src);
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
 * copyPresentPtesBatch() of a COW mapping of an mm that never pinned (folio_needs_cow_for_dma() is false
 * for all its folios), repeated from slot i while the PTEs are present, not special, and map large
 * folios: the batches copy_present_ptes() takes one after another (folio_pte_batch() up to the folio's
 * end, then folio_try_dup_anon_rmap_ptes()/folio_dup_file_rmap_ptes() and __copy_present_ptes()), with
 * the per-folio look-ups made once per batch and no call per batch. Each page: the parent's PTE
 * write-protected, the child's the first one's bits (old, read-only) with the PFN advanced, one more
 * mapcount, PageAnonExclusive cleared; each folio: refs and _large_mapcount raised by the batch's size.
 * Returns the slot it stopped at (the first PTE this path does not take, or iEnd), having counted the
 * PTEs in st.shared and the child's RSS.
 */
function copyCowLargeRun(
  m: Machine,
  dst: Vma,
  table: Uint32Array,
  dtable: Uint32Array,
  i: number,
  iEnd: number,
  st: ForkStats,
): number {
  const mem = m.mem;
  const flags = mem.flags;
  const mapcount = mem.mapcount;
  const start = i;
  // The module constants in locals (V8 reloads and checks a module binding on every use).
  const ignored = BATCH_IGNORED;
  const step = PTE_PFN_STEP;
  let rssAnon = 0;
  let rssFile = 0;
  while (i < iEnd) {
    const e = table[i]!;
    if (!pte_present(e) || pte_special(e)) break;
    const page = pte_pfn(e);
    const f = flags[page]!;
    if (!(f & (PG_head | PG_tail))) break;
    const folio = f & PG_head ? page : mem.page_folio(page);
    const anon = mem.folio_test_anon(folio);
    // folio_pte_batch(): up to the folio's end (the table's end is iEnd's bound too).
    const max = Math.min(folio + mem.folio_nr_pages(folio) - page, iEnd - i);
    // A PTE continues the batch when it is the first one with the PFN advanced, young and write ignored:
    // its entry less those bits is the first one's less them, plus k pages.
    let want = e - (e & ignored);
    let child = mk_pte(page, pte_flags(pte_mkold(pte_wrprotect(e))));
    const clear = anon ? ~PG_anon_exclusive : ~0;
    let nr = 0;
    for (; nr < max; nr++, want += step, child += step) {
      const x = table[i + nr]!;
      if (x - (x & ignored) !== want) break;
      const p = page + nr;
      table[i + nr] = pte_wrprotect(x);
      dtable[i + nr] = child;
      mapcount[p] = mapcount[p]! + 1; // folio_add_anon_rmap_ptes()'s per-page count
      flags[p] = flags[p]! & clear;
    }
    folio_ref_add(m, folio, nr);
    folioAddRmapPtes(m, folio, page, nr, false);
    if (anon) rssAnon += nr;
    else rssFile += nr;
    i += nr;
  }
  dst.mm.rss_anon += rssAnon;
  dst.mm.rss_file += rssFile;
  st.shared += i - start;
  return i;
}

/**
 * The batch's decision (folio_pte_batch() and folio_try_dup_anon_rmap_ptes()): how many PTEs from slot i
 * map the next pages of one large folio with the same bits, their references and mapcounts taken and
 * PageAnonExclusive cleared; 0 when the single-PTE path must run (see copyPresentPtesBatch()).
 */
export function copyPresentPtesBatchDup(
  m: Machine,
  dst: Vma,
  src: Vma,
  e: number,
  table: Uint32Array,
  i: number,
  maxBytes: number,
): number {
  const mem = m.mem;
  const page = pte_pfn(e);
  const max = batchReach(m, src, page, i, maxBytes);
  if (max === 0) return 0;
  const folio = mem.page_folio(page);
  const anon = mem.folio_test_anon(folio);
  const ignore = batchIgnored(src);
  const key = pte_flags(e) & ~ignore;
  let nr = 1;
  for (; nr < max; nr++) {
    const x = table[i + nr]!;
    if (pte_pfn(x) !== page + nr || (pte_flags(x) & ~ignore) !== key) break;
  }
  folio_ref_add(m, folio, nr);
  folioAddRmapPtes(m, folio, page, nr);
  if (anon) {
    dst.mm.rss_anon += nr;
    const flags = mem.flags;
    for (let k = 0; k < nr; k++) flags[page + k] = flags[page + k]! & ~PG_anon_exclusive;
  } else dst.mm.rss_file += nr;
  return nr;
}

/**
 * folio_pte_batch()'s reach from slot i: up to the folio's end, the PTE table's end and the VMA's end;
 * 0 when the single-PTE path must run (a small folio, or an anon folio fork must copy).
 */
export function batchReach(m: Machine, src: Vma, page: number, i: number, maxBytes: number): number {
  const mem = m.mem;
  if (!(mem.flags[page]! & (PG_head | PG_tail))) return 0;
  const folio = mem.page_folio(page);
  if (mem.folio_test_anon(folio) && folio_needs_cow_for_dma(m, src, folio)) return 0;
  return Math.min(folio + mem.folio_nr_pages(folio) - page, PTRS_PER_PTE - i, maxBytes / PAGE_SIZE);
}

/** pte_batch_clear_ignored(): the bits folio_pte_batch() never compares (young, write); a shared
 *  mapping ignores dirty too. */
function batchIgnored(src: Vma): number {
  return (src.flags & VM_SHARED) !== 0 ? BATCH_IGNORED | _PAGE_DIRTY : BATCH_IGNORED;
}

/**
 * __copy_present_ptes() for a batch of nr PTEs from slot i: the parent's write-protected when COW, the
 * child's the first one's bits (writable if any was, old, clean for a shared mapping), PFN advanced.
 */
export function copyPresentPtesBatchMap(
  m: Machine,
  src: Vma,
  table: Uint32Array,
  dtable: Uint32Array,
  i: number,
  nr: number,
  cow: boolean,
): void {
  const e = table[i]!;
  const page = pte_pfn(e);
  let anyWritable = false;
  for (let k = 0; k < nr; k++) if (pte_write(table[i + k]!)) anyWritable = true;
  let pe = anyWritable ? pte_mkwrite(e) : e;
  const wrprotect = cow && pte_write(pe);
  if (wrprotect) pe = pte_wrprotect(pe);
  if (src.flags & VM_SHARED) pe = pte_mkclean(pe);
  const bits = pte_flags(pte_mkold(pe));
  for (let k = 0; k < nr; k++) {
    if (wrprotect) table[i + k] = pte_wrprotect(table[i + k]!);
    dtable[i + k] = mk_pte(page + k, bits);
  }
}

/** What fork's folio_try_dup_anon_rmap_*() step decided for one entry. */
export type ForkDup = 'shared' | 'copied' | 'zero' | 'split';

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
  const r = copyPresentPteDup(m, dst, src, addr, e, dtable, i, st);
  if (r === 'shared') copyPresentPteMap(m, src, e, table, dtable, i, cow);
  return typeof r === 'number' ? r : 0;
}

/**
 * copy_present_ptes() up to the decision (folio_try_dup_anon_rmap_pte()): an exclusive anon page that
 * may be pinned is copied for the child ('copied', its PTE set; -ENOMEM without memory); else one
 * more reference and mapcount, PageAnonExclusive cleared ('shared': copyPresentPteMap() follows).
 */
export function copyPresentPteDup(
  m: Machine,
  dst: Vma,
  src: Vma,
  addr: number,
  e: number,
  dtable: Uint32Array,
  i: number,
  st: ForkStats,
): ForkDup | number {
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
      return 'copied';
    }
    mem.ClearPageAnonExclusive(page);
    dst.mm.rss_anon++;
  } else {
    dst.mm.rss_file++;
  }
  folio_ref_add(m, folio, 1);
  folioAddRmapPtes(m, folio, page, 1);
  st.shared++;
  return 'shared';
}

/** __copy_present_ptes() for a shared page: the parent's PTE write-protected when COW, the child's set. */
export function copyPresentPteMap(
  m: Machine,
  src: Vma,
  e: number,
  table: Uint32Array,
  dtable: Uint32Array,
  i: number,
  cow: boolean,
): void {
  let ce = e;
  if (cow) {
    table[i] = pte_wrprotect(e);
    ce = pte_wrprotect(e);
  }
  if (src.flags & VM_SHARED) ce = pte_mkclean(ce);
  dtable[i] = pte_mkold(ce);
}

/**
 * copy_huge_pmd(): true when the PMD was copied (shared, write-protected, or the huge zero folio);
 * false when an exclusive, maybe-pinned THP made it split the parent's PMD instead.
 */
function copy_huge_pmd(m: Machine, dst: Vma, src: Vma, addr: number, e: number, st: ForkStats): boolean {
  const r = copyHugePmdDup(m, dst, src, addr, e, st);
  if (r === 'shared') copyHugePmdMap(m, dst, src, addr, e);
  return r !== 'split';
}

/**
 * copy_huge_pmd() up to the decision: the huge zero folio is mapped in the child ('zero'); an exclusive,
 * maybe-pinned THP splits the parent's PMD ('split': the PTEs are copied instead); else
 * folio_try_dup_anon_rmap_pmd() shares it ('shared': copyHugePmdMap() follows).
 */
export function copyHugePmdDup(m: Machine, dst: Vma, src: Vma, addr: number, e: number, st: ForkStats): ForkDup {
  const mem = m.mem;
  const folio = pte_pfn(e);
  const haddr = addr - (addr % PMD_SIZE);
  if (is_huge_zero_folio(m, folio)) {
    dst.mm.pt.setPmdLeaf(haddr, e);
    return 'zero';
  }
  if (mem.PageAnonExclusive(folio) && folio_needs_cow_for_dma(m, src, folio)) {
    __split_huge_pmd(m, src, haddr);
    st.pmd_split++;
    return 'split';
  }
  mem.ClearPageAnonExclusive(folio);
  folio_ref_add(m, folio, 1);
  folioAddRmapEntire(m, folio);
  dst.mm.rss_anon += HPAGE_PMD_NR;
  st.shared += HPAGE_PMD_NR;
  return 'shared';
}

/** copy_huge_pmd() for a shared THP: both PMDs write-protected (pmdp_set_wrprotect()), the child's old. */
export function copyHugePmdMap(m: Machine, dst: Vma, src: Vma, addr: number, e: number): void {
  const haddr = addr - (addr % PMD_SIZE);
  const we = pte_wrprotect(e);
  src.mm.pt.setPmdLeaf(haddr, we);
  dst.mm.pt.setPmdLeaf(haddr, pte_mkold(we));
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
  const r = copyHugetlbDup(m, dst, src, addr, e, size, st);
  if (r === 'shared') copyHugetlbMap(m, dst, src, addr, e, size);
  return typeof r === 'number' ? r : 0;
}

/** Set a hugetlb leaf of `size` (PMD or PUD) at addr. */
function setHugetlbLeaf(pt: Vma['mm']['pt'], addr: number, size: number, v: number): void {
  if (size === PUD_SIZE) pt.setPudLeaf(addr, v);
  else pt.setPmdLeaf(addr, v);
}

/**
 * copy_hugetlb_page_range() for one leaf up to the decision: 'copied' (the child's leaf set to a new
 * pool folio), -ENOMEM, or 'shared' (reference, mapcount, PageAnonExclusive cleared; copyHugetlbMap()
 * follows).
 */
export function copyHugetlbDup(
  m: Machine,
  dst: Vma,
  src: Vma,
  addr: number,
  e: number,
  size: number,
  st: ForkStats,
): ForkDup | number {
  const mem = m.mem;
  const folio = pte_pfn(e);
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
      setHugetlbLeaf(
        dst.mm.pt,
        addr,
        size,
        mk_pte(copy, _PAGE_ACCESSED | _PAGE_DIRTY | (dst.flags & VM_WRITE ? _PAGE_RW : 0)),
      );
      dst.mm.rss_anon += nr;
      m.hugetlb.folio_set_hugetlb_migratable(copy);
      st.copied += nr;
      return 'copied';
    }
    mem.ClearPageAnonExclusive(folio);
    dst.mm.rss_anon += nr;
  } else {
    dst.mm.rss_file += nr;
  }
  folio_ref_add(m, folio, 1);
  folioAddRmapEntire(m, folio);
  st.shared += nr;
  return 'shared';
}

/** copy_hugetlb_page_range() for a shared leaf: both write-protected when COW (huge_ptep_set_wrprotect()). */
export function copyHugetlbMap(m: Machine, dst: Vma, src: Vma, addr: number, e: number, size: number): void {
  const ne = is_cow_mapping(src.flags) ? pte_wrprotect(e) : e;
  setHugetlbLeaf(src.mm.pt, addr, size, ne);
  setHugetlbLeaf(dst.mm.pt, addr, size, ne);
}

/** ForkCursor.stage: copy_page_range() not begun, copying entries, done. */
export const FORK_COPY_BEGIN = 0;
export const FORK_COPY_ENTRIES = 1;
export const FORK_COPY_DONE = 2;

/**
 * Where a stepwise copy_page_range() of one VMA is (the explorer's fork, one atomic point at a time): the
 * stage, the address, and after a 'shared' decision the entry read then (and, for a batch of PTEs of one
 * large folio, how many), whose write-protect step comes next.
 */
export interface ForkCursor {
  stage: number;
  addr: number;
  /** The entry a 'shared' decision read (its map step is next), or 0. */
  pending: number;
  /** PTEs a batched decision shared (folio_pte_batch()), or 0 for a single entry. */
  pendingNr: number;
  /** Something was copied (the fork mmu notifier fires at the VMA's end). */
  touched: boolean;
  /** What the copy shared, copied and split so far (as kernel_clone()'s `stats`). */
  stats: ForkStats;
}

/** A cursor at the start of src's copy. */
export function forkCursor(src: Vma, stats: ForkStats): ForkCursor {
  return { stage: FORK_COPY_BEGIN, addr: src.start, pending: 0, pendingNr: 0, touched: false, stats };
}

/** One atomic point of fork's copy: the kernel function and what it did, for a trace. */
export interface ForkPoint {
  fn: string;
  what: string;
  addr: number;
}

/**
 * Run the next atomic point of copy_page_range(dst, src) at `c`: for a COW mapping the write side of
 * write_protect_seq opening, then per entry the decision (folio_try_dup_anon_rmap_*: share or copy; a batch
 * of PTEs of one large folio at once, as copy_present_ptes() takes them) or, after a share, the
 * write-protect of both entries, and the seqcount closing. The same per-entry code as kernel_clone()'s
 * loop. Returns the point, a negative errno (the fork fails; the seqcount is closed), or undefined when
 * the VMA is done. `describe`: build the point's words (a search that reads none builds none).
 */
export function copyPageRangeStep(
  m: Machine,
  dst: Vma,
  src: Vma,
  c: ForkCursor,
  describe = true,
): ForkPoint | number | undefined {
  const cow = is_cow_mapping(src.flags);
  if (c.stage === FORK_COPY_DONE) return undefined;
  if (c.stage === FORK_COPY_BEGIN) {
    c.stage = FORK_COPY_ENTRIES;
    if (cow) {
      writeProtectSeqBegin(src);
      return {
        fn: src.kind === 'hugetlb' ? 'copy_hugetlb_page_range' : 'copy_page_range',
        what: describe ? `raw_write_seqcount_begin(write_protect_seq) = ${src.mm.write_protect_seq}` : '',
        addr: src.start,
      };
    }
  }
  const r = copyEntryStep(m, dst, src, c, cow, describe);
  if (r !== undefined) {
    if (typeof r === 'number' && cow) writeProtectSeqEnd(src);
    if (typeof r === 'number') c.stage = FORK_COPY_DONE;
    return r;
  }
  if (c.touched && cow) m.mmuNotify(src.mm, src.start, src.end, 'fork');
  c.touched = false;
  c.stage = FORK_COPY_DONE;
  if (!cow) return undefined;
  writeProtectSeqEnd(src);
  return {
    fn: src.kind === 'hugetlb' ? 'copy_hugetlb_page_range' : 'copy_page_range',
    what: describe ? `raw_write_seqcount_end(write_protect_seq) = ${src.mm.write_protect_seq}` : '',
    addr: src.end,
  };
}

/** The next entry's point of copyPageRangeStep(), or undefined when no entry is left. */
function copyEntryStep(
  m: Machine,
  dst: Vma,
  src: Vma,
  c: ForkCursor,
  cow: boolean,
  describe: boolean,
): ForkPoint | number | undefined {
  const spt = src.mm.pt;
  while (c.addr < src.end) {
    const a = c.addr;
    const pud = spt.pudLeaf(a);
    const leaf = pud || (typeof spt.pmdSlot(a) === 'number' ? spt.pmdLeaf(a) : 0);
    const size = pud ? PUD_SIZE : PMD_SIZE;
    const next = a - (a % size) + size;
    if (leaf && (pud || src.kind === 'hugetlb')) {
      if (c.pending) {
        copyHugetlbMap(m, dst, src, a, c.pending, size);
        c.pending = 0;
        c.addr = next;
        return { fn: 'huge_ptep_set_wrprotect', what: 'write-protect the shared hugetlb entry in both', addr: a };
      }
      c.touched = true;
      const r = copyHugetlbDup(m, dst, src, a, leaf, size, c.stats);
      if (typeof r === 'number') return r;
      if (r === 'shared') c.pending = leaf;
      else c.addr = next;
      return { fn: 'copy_hugetlb_page_range', what: describe ? forkDupWhat(r, pte_pfn(leaf)) : '', addr: a };
    }
    if (leaf) {
      if (src.kind !== 'anon') {
        c.addr = next; // file PMDs refault in the child
        continue;
      }
      if (c.pending) {
        copyHugePmdMap(m, dst, src, a, c.pending);
        c.pending = 0;
        c.addr = next;
        return { fn: 'pmdp_set_wrprotect', what: 'write-protect the shared THP in both', addr: a };
      }
      c.touched = true;
      const r = copyHugePmdDup(m, dst, src, a, leaf, c.stats);
      if (r === 'shared') c.pending = leaf;
      else if (r === 'zero') c.addr = next;
      return { fn: 'copy_huge_pmd', what: describe ? forkDupWhat(r, pte_pfn(leaf)) : '', addr: a };
    }
    const table = spt.pteTable(a);
    const stop = Math.min(a - (a % PMD_SIZE) + PMD_SIZE, src.end);
    if (!table) {
      c.addr = stop;
      continue;
    }
    const i = pte_index(a);
    const e = table[i]!;
    if (!pte_present(e)) {
      c.addr = a + PAGE_SIZE;
      continue;
    }
    const dtable = dst.mm.pt.pte_alloc(a)!;
    if (c.pending) {
      const nr = c.pendingNr;
      if (nr) copyPresentPtesBatchMap(m, src, table, dtable, i, nr, cow);
      else copyPresentPteMap(m, src, c.pending, table, dtable, i, cow);
      c.pending = 0;
      c.pendingNr = 0;
      c.addr = a + Math.max(nr, 1) * PAGE_SIZE;
      return {
        fn: nr ? 'wrprotect_ptes' : 'ptep_set_wrprotect',
        what: describe
          ? nr
            ? `write-protect the ${nr} shared pages in both`
            : 'write-protect the shared page in both'
          : '',
        addr: a,
      };
    }
    if (pte_special(e)) {
      dtable[i] = e;
      c.addr = a + PAGE_SIZE;
      return { fn: 'copy_present_ptes', what: 'copy a special entry (no struct page)', addr: a };
    }
    c.touched = true;
    const nr = copyPresentPtesBatchDup(m, dst, src, e, table, i, stop - a);
    if (nr > 0) {
      c.stats.shared += nr;
      c.pending = e;
      c.pendingNr = nr;
      return {
        fn: 'folio_try_dup_anon_rmap_ptes',
        what: describe
          ? `${nr} PTEs of the large folio from pfn 0x${pte_pfn(e).toString(16)} not pinned: shared as a batch`
          : '',
        addr: a,
      };
    }
    const r = copyPresentPteDup(m, dst, src, a, e, dtable, i, c.stats);
    if (typeof r === 'number') return r;
    if (r === 'shared') c.pending = e;
    else c.addr = a + PAGE_SIZE;
    return {
      fn: r === 'copied' ? 'copy_present_page' : 'folio_try_dup_anon_rmap_pte',
      what: describe ? forkDupWhat(r, pte_pfn(e)) : '',
      addr: a,
    };
  }
  return undefined;
}

function forkDupWhat(r: ForkDup, pfn: number): string {
  const f = `pfn 0x${pfn.toString(16)}`;
  if (r === 'copied') return `${f} is exclusive and maybe pinned: the child gets a copy`;
  if (r === 'split') return `${f}: an exclusive, maybe-pinned THP; the parent's PMD is split`;
  if (r === 'zero') return 'the huge zero folio is mapped in the child';
  return `${f} not pinned: shared (PageAnonExclusive cleared, one more reference)`;
}
