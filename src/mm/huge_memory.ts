// Models mm/huge_memory.c: THP and mTHP policy (thp_vma_allowable_orders), the PMD anon fault (a THP,
// or the huge zero folio for reads), write/unshare faults on PMD mappings, and splitting a PMD
// mapping into PTEs (__split_huge_pmd). The folio itself is never split here: only its mapping.

import { type Machine, MTHP_SIZES, type MthpPolicy, mm_forbids_zeropage } from './machine.js';
import { NO_FOLIO, PMD_ORDER, PMD_SIZE, HPAGE_PMD_NR, PG_dirty, PG_referenced, ZERO_PFN } from './memmap.js';
import {
  VM_HUGEPAGE,
  VM_NOHUGEPAGE,
  VM_SHARED,
  VM_WRITE,
  type Vma,
  FAULT_FLAG_UNSHARE,
  FAULT_FLAG_WRITE,
  VM_FAULT_FALLBACK,
} from './mm_types.js';
import {
  mk_pte,
  pte_pfn,
  pte_mkwrite,
  pte_mkdirty,
  pte_mkyoung,
  pte_dirty,
  pte_young,
  pte_flags,
  _PAGE_ACCESSED,
  _PAGE_DIRTY,
  _PAGE_RW,
  _PAGE_SPECIAL,
} from './pgtable.js';
import { anon_vma_prepare, folio_add_new_anon_rmap, folioAddRmapPtes, folioRemoveRmapEntire } from './rmap.js';
import { folio_add_lru_vma, folio_put_refs, folio_ref_add } from './swap.js';
import { folio_mark_dirty } from './page-writeback.js';
import { is_huge_zero_folio } from './huge_mm.js';

const ORDER_SIZE = Object.fromEntries(Object.entries(MTHP_SIZES).map(([k, v]) => [v, k])) as Record<number, string>;

/** The effective policy of one folio order: per-size setting, 'inherit' resolving to the top level. */
function orderEnabled(m: Machine, vma: Vma, order: number): boolean {
  if (vma.flags & VM_NOHUGEPAGE) return false;
  const size = ORDER_SIZE[order]!;
  const dflt: MthpPolicy = order === PMD_ORDER ? 'inherit' : 'never';
  let p: MthpPolicy | 'madvise' = m.cfg.mthp[size] ?? dflt;
  if (p === 'inherit') p = m.cfg.thp;
  return p === 'always' || (p === 'madvise' && (vma.flags & VM_HUGEPAGE) !== 0);
}

/** thp_vma_allowable_order(PMD_ORDER) and the range check of do_huge_pmd_anonymous_page. */
export function thpPmdAllowed(m: Machine, vma: Vma, addr: number): boolean {
  if (vma.kind !== 'anon' || !orderEnabled(m, vma, PMD_ORDER)) return false;
  const haddr = addr - (addr % PMD_SIZE);
  return haddr >= vma.start && haddr + PMD_SIZE <= vma.end;
}

/** alloc_anon_folio(): mTHP orders below PMD_ORDER that the policy allows, largest first. */
export function mthpOrdersAllowed(m: Machine, vma: Vma, _addr: number): number[] {
  const out: number[] = [];
  if (vma.kind !== 'anon' || !m.profile.mthp) return out; // 6.1: order 0 or a PMD THP only
  for (let o = PMD_ORDER - 1; o >= 2; o--) if (orderEnabled(m, vma, o)) out.push(o);
  return out;
}

/** shmem_allowable_huge_orders(): shmem_enabled for MAP_SHARED anonymous and memfd mappings. */
export function shmemThpAllowed(m: Machine, vma: Vma, addr: number): boolean {
  if (vma.flags & VM_NOHUGEPAGE) return false;
  const p = m.cfg.shmem_thp;
  if (!(p === 'always' || (p === 'advise' && vma.flags & VM_HUGEPAGE))) return false;
  const haddr = addr - (addr % PMD_SIZE);
  return haddr >= vma.start && haddr + PMD_SIZE <= vma.end;
}

/** get_huge_zero_folio(): allocated on first use from non-movable memory; NO_FOLIO if it cannot be. */
export function get_huge_zero_folio(m: Machine): number {
  if (m.huge_zero_folio !== NO_FOLIO) return m.huge_zero_folio;
  const f = m.folio_alloc(PMD_ORDER, false);
  if (f === NO_FOLIO) return NO_FOLIO;
  m.huge_zero_folio = f;
  m.vmstat.mod('thp_zero_page_alloc', 1);
  return f;
}

/**
 * do_huge_pmd_anonymous_page(): a read maps the huge zero folio (use_zero_page, unless the mm forbids
 * zero pages), a write allocates a PMD-sized folio. VM_FAULT_FALLBACK sends the fault to the PTE level.
 */
export function do_huge_pmd_anonymous_page(m: Machine, vma: Vma, addr: number, flags: number): number {
  const haddr = addr - (addr % PMD_SIZE);
  const pt = vma.mm.pt;
  // vmf_anon_prepare() runs before the huge-zero path, so even a read gives the VMA an anon_vma
  // (and fork's vma_needs_copy() then copies the huge zero PMD). @see mm/huge_memory.c
  // do_huge_pmd_anonymous_page()
  anon_vma_prepare(m, vma);
  if (!(flags & FAULT_FLAG_WRITE) && !mm_forbids_zeropage(m) && m.cfg.use_zero_page) {
    const zf = get_huge_zero_folio(m);
    if (zf === NO_FOLIO) return VM_FAULT_FALLBACK;
    pt.setPmdLeaf(haddr, mk_pte(zf, _PAGE_SPECIAL | _PAGE_ACCESSED));
    return 0;
  }
  return mapNewAnonThp(m, vma, haddr);
}

function mapNewAnonThp(m: Machine, vma: Vma, haddr: number): number {
  const folio = m.folio_alloc(PMD_ORDER);
  if (folio === NO_FOLIO) {
    m.vmstat.mod('thp_fault_fallback', 1);
    return VM_FAULT_FALLBACK;
  }
  m.vmstat.mod('thp_fault_alloc', 1);
  folio_add_new_anon_rmap(m, folio, vma, haddr, 'pmd');
  folio_add_lru_vma(m, folio, vma); // a large folio: the batch is moved at once
  // map_anon_folio_pmd(): maybe_pmd_mkwrite(pmd_mkdirty(entry)) whatever the fault: a read fault
  // without the huge zero page and an unshare of the huge zero PMD map it writable too.
  const bits = _PAGE_ACCESSED | _PAGE_DIRTY | (vma.flags & VM_WRITE ? _PAGE_RW : 0);
  vma.mm.pt.setPmdLeaf(haddr, mk_pte(folio, bits));
  vma.mm.rss_anon += HPAGE_PMD_NR;
  return 0;
}

/**
 * do_huge_pmd_wp_page(): write or unshare fault on a read-only PMD. The huge zero folio is replaced
 * by a new THP (6.18: do_huge_zero_wp_pmd; 6.1 and 6.12 split); an exclusive or singly referenced
 * anon THP is reused;
 * anything else has its PMD split and the fault retried at the PTE level.
 */
export function do_huge_pmd_wp_page(m: Machine, vma: Vma, addr: number, flags: number): number {
  const haddr = addr - (addr % PMD_SIZE);
  const pt = vma.mm.pt;
  const e = pt.pmdLeaf(haddr);
  const folio = pte_pfn(e);
  const mem = m.mem;
  const unshare = (flags & FAULT_FLAG_UNSHARE) !== 0;
  if (is_huge_zero_folio(m, folio)) {
    if (m.profile.hugeZeroWpAllocatesThp) {
      pt.setPmdLeaf(haddr, 0);
      const r = mapNewAnonThp(m, vma, haddr);
      if (!(r & VM_FAULT_FALLBACK)) return r;
      pt.setPmdLeaf(haddr, e);
    }
    __split_huge_pmd(m, vma, haddr);
    return VM_FAULT_FALLBACK;
  }
  if (mem.folio_test_anon(folio)) {
    if (mem.PageAnonExclusive(folio) || mem.refcount[folio] === 1) {
      mem.SetPageAnonExclusive(folio);
      if (unshare) return 0;
      pt.setPmdLeaf(haddr, pte_mkyoung(pte_mkdirty(vma.flags & VM_WRITE ? pte_mkwrite(e) : e)));
      return 0;
    }
  }
  // Unsharing only concerns COW mappings; a shared mapping keeps its page.
  if (unshare && !mem.folio_test_anon(folio) && vma.flags & VM_SHARED) return 0;
  __split_huge_pmd(m, vma, haddr);
  return VM_FAULT_FALLBACK;
}

/**
 * __split_huge_pmd(): replace a PMD mapping by 512 PTEs. Anon THP: each subpage gets a PTE with the
 * PMD's bits, a mapcount and a reference, and inherits PageAnonExclusive. The huge zero PMD becomes
 * 512 zero-page PTEs. File and shmem THPs are simply unmapped and refault through PTEs.
 */
export function __split_huge_pmd(m: Machine, vma: Vma, haddr: number): void {
  const pt = vma.mm.pt;
  const e = pt.pmdLeaf(haddr);
  if (!e) return;
  const folio = pte_pfn(e);
  const mem = m.mem;
  m.vmstat.mod('thp_split_pmd', 1);
  pt.setPmdLeaf(haddr, 0);
  if (is_huge_zero_folio(m, folio)) {
    const t = pt.pte_alloc(haddr)!;
    for (let i = 0; i < HPAGE_PMD_NR; i++) t[i] = mk_pte(ZERO_PFN, _PAGE_SPECIAL | _PAGE_ACCESSED);
    return;
  }
  if (!mem.folio_test_anon(folio)) {
    // The PMD's dirty and young bits reach the folio before the mapping goes (__split_huge_pmd_locked).
    if (pte_dirty(e)) folio_mark_dirty(m, folio);
    if (pte_young(e)) mem.setFlag(folio, PG_referenced);
    folioRemoveRmapEntire(m, folio);
    folio_put_refs(m, folio, 1);
    vma.mm.rss_file -= HPAGE_PMD_NR;
    return;
  }
  const t = pt.pte_alloc(haddr)!;
  const bits = pte_flags(e) & ~_PAGE_SPECIAL;
  const exclusive = mem.PageAnonExclusive(folio);
  // A dirty PMD sets PG_dirty on the anon folio too (folio_set_dirty(), no accounting), besides
  // making every PTE dirty. @see mm/huge_memory.c __split_huge_pmd_locked()
  if (pte_dirty(e)) mem.setFlag(folio, PG_dirty);
  for (let i = 0; i < HPAGE_PMD_NR; i++) {
    t[i] = mk_pte(folio + i, bits);
    if (exclusive) mem.SetPageAnonExclusive(folio + i);
  }
  // folio_add_anon_rmap_ptes() of every page, then folio_remove_rmap_pmd() of the PMD's mapping.
  folioAddRmapPtes(m, folio, folio, HPAGE_PMD_NR);
  folioRemoveRmapEntire(m, folio);
  folio_ref_add(m, folio, HPAGE_PMD_NR - 1);
}
