// Models MADV_COLLAPSE (mm/khugepaged.c madvise_collapse()): PTE-mapped anon memory in a PMD range is
// copied into a new THP mapped by one PMD. Pages with extra references (a pin, a GUP reference) keep
// their PMD range from collapsing (SCAN_PAGE_COUNT, -EAGAIN); pages shared with another mm are
// collapsed too.

import type { Machine } from './machine.js';
import { EAGAIN, ENOMEM, EINVAL } from '../uapi/errno.js';
import { NO_FOLIO, PMD_ORDER, PMD_SIZE, HPAGE_PMD_NR } from './memmap.js';
import { VM_NOHUGEPAGE, VM_WRITE, type Vma } from './mm_types.js';
import { mk_pte, pte_pfn, pte_present, pte_special, _PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_RW } from './pgtable.js';
import { folio_add_new_anon_rmap, folio_remove_rmap_ptes } from './rmap.js';
import { folio_add_lru_vma, folio_put_refs, lru_add_drain } from './swap.js';
import { copy_highpage } from './highmem.js';

/** The scan results madvise_collapse() can end with here (enum scan_result). */
type ScanResult = 'SCAN_FAIL' | 'SCAN_PMD_NULL' | 'SCAN_PAGE_COUNT';

/** What the last failed PMD range met, in words. */
const SCAN_WHY: Record<ScanResult, string> = {
  SCAN_FAIL: 'the range holds no whole PMD range and does not start on a PMD boundary (SCAN_FAIL)',
  SCAN_PMD_NULL: 'a PMD range without a page table (SCAN_PMD_NULL)',
  SCAN_PAGE_COUNT: 'a page with references beyond its mappings, e.g. a pin (SCAN_PAGE_COUNT)',
};

/** madvise_collapse_errno(): the errno for the last failed PMD range. */
function madvise_collapse_errno(r: ScanResult): number {
  return r === 'SCAN_PAGE_COUNT' ? -EAGAIN : -EINVAL;
}

/**
 * madvise_collapse() on [start, end) of an anonymous VMA. Returns -EINVAL when the VMA may not hold
 * THPs at all - not anonymous, MADV_NOHUGEPAGE (VM_NOHUGEPAGE: MADV_COLLAPSE ignores the sysfs
 * policy but not the VMA's own opt-out, vma_thp_disabled()), or no anon_vma yet (never written:
 * __thp_vma_allowable_orders() outside a fault). Then every PMD range is tried: one already mapped by
 * a PMD counts as done; one without a page table (SCAN_PMD_NULL) or with a page holding extra
 * references (a pin, a GUP reference: SCAN_PAGE_COUNT) is skipped and the others are still collapsed.
 * The result is 0 only if every range ended up PMD-mapped, else the errno of the last failure
 * (madvise_collapse_errno(): SCAN_PAGE_COUNT -EAGAIN, SCAN_PMD_NULL -EINVAL); a THP that cannot be
 * allocated stops at once with -ENOMEM. A range that covers no whole PMD is 0 if it starts on a PMD
 * boundary, else -EINVAL.
 * @see mm/khugepaged.c madvise_collapse(), hpage_collapse_scan_pmd(), include/linux/huge_mm.h vma_thp_disabled()
 */
export function collapsePteMappedRange(m: Machine, vma: Vma, start: number, end: number): number {
  if (vma.kind !== 'anon' || vma.flags & VM_NOHUGEPAGE || !vma.anonVma)
    return m.refuse(
      -EINVAL,
      '__thp_vma_allowable_orders',
      'MADV_COLLAPSE: not anonymous, MADV_NOHUGEPAGE, or never written (no anon_vma)',
    );
  lru_add_drain(m); // madvise_collapse(): lru_add_drain_all() before scanning
  const mem = m.mem;
  const pt = vma.mm.pt;
  const hstart = Math.ceil(start / PMD_SIZE) * PMD_SIZE;
  const hend = end - (end % PMD_SIZE);
  let thps = 0;
  let last_fail: ScanResult = 'SCAN_FAIL';
  scan: for (let h = hstart; h < hend; h += PMD_SIZE) {
    if (pt.pmdLeaf(h)) {
      thps++;
      continue;
    } // SCAN_PMD_MAPPED
    const table = pt.pteTable(h);
    // find_pmd_or_thp_or_none(): an empty PMD (no page table) is not collapsed.
    if (!table) {
      last_fail = 'SCAN_PMD_NULL';
      continue;
    }
    // Every present page must be an anon page referenced only by its mapping(s). Pages shared with
    // another mm are fine: only khugepaged limits them (cc->is_khugepaged && max_ptes_shared).
    // @see mm/khugepaged.c hpage_collapse_scan_pmd(), __collapse_huge_page_isolate()
    for (let i = 0; i < HPAGE_PMD_NR; i++) {
      const e = table[i]!;
      if (!pte_present(e) || pte_special(e)) continue;
      const pfn = pte_pfn(e);
      const folio = mem.page_folio(pfn);
      if (!mem.folio_test_anon(folio) || mem.refcount[folio] !== mem.folio_mapcount(folio)) {
        last_fail = 'SCAN_PAGE_COUNT';
        continue scan;
      }
    }
    const thp = m.folio_alloc(PMD_ORDER);
    // SCAN_ALLOC_HUGE_PAGE_FAIL ends the walk
    if (thp === NO_FOLIO) return m.refuse(-ENOMEM, 'alloc_charge_folio', 'no THP could be allocated');
    for (let i = 0; i < HPAGE_PMD_NR; i++) {
      const e = table[i]!;
      table[i] = 0;
      if (!pte_present(e) || pte_special(e)) continue;
      const pfn = pte_pfn(e);
      const folio = mem.page_folio(pfn);
      copy_highpage(m, thp + i, pfn); // __collapse_huge_page_copy(); none and zero PTEs leave zeroes
      folio_remove_rmap_ptes(m, folio, pfn, 1);
      folio_put_refs(m, folio, 1);
      vma.mm.rss_anon--;
    }
    pt.pmds.delete(h / PMD_SIZE);
    folio_add_new_anon_rmap(m, thp, vma, h, 'pmd');
    folio_add_lru_vma(m, thp, vma);
    pt.setPmdLeaf(h, mk_pte(thp, _PAGE_ACCESSED | _PAGE_DIRTY | (vma.flags & VM_WRITE ? _PAGE_RW : 0)));
    vma.mm.rss_anon += HPAGE_PMD_NR;
    thps++;
  }
  // A range inside one PMD that does not start on its boundary has hend < hstart: the kernel's
  // unsigned count of ranges is then huge, never met, and the answer is -EINVAL (SCAN_FAIL).
  const ranges = (hend - hstart) / PMD_SIZE;
  if (ranges >= 0 && thps === ranges) return 0;
  return m.refuse(madvise_collapse_errno(last_fail), 'madvise_collapse', SCAN_WHY[last_fail]);
}
