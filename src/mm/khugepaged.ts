// Models MADV_COLLAPSE (mm/khugepaged.c madvise_collapse()): PTE-mapped anon memory in a PMD range is
// copied into a new THP mapped by one PMD. Pages with extra references (a pin, a GUP reference) make
// the collapse fail with -EAGAIN (SCAN_PAGE_COUNT); pages shared with another mm are collapsed too.

import type { Machine } from '../kernel/machine.js';
import { EAGAIN, ENOMEM, EINVAL } from '../kernel/errno.js';
import { PMD_ORDER, PMD_SIZE } from './memmap.js';
import { VM_NOHUGEPAGE, VM_WRITE, type Vma } from './mm_types.js';
import { mk_pte, pte_pfn, pte_present, pte_special, _PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_RW } from './pgtable.js';
import { folio_add_new_anon_rmap, folio_remove_rmap_ptes } from './rmap.js';
import { folio_put_refs } from './memory.js';

/**
 * madvise_collapse() on [start, end) of an anonymous VMA. Returns 0, -EINVAL when the VMA may not
 * hold THPs at all - not anonymous, or MADV_NOHUGEPAGE (VM_NOHUGEPAGE): MADV_COLLAPSE ignores the
 * sysfs policy but not the VMA's own opt-out (thp_vma_allowable_order(.., TVA_FORCED_COLLAPSE, ..)
 * fails through vma_thp_disabled()) - -EAGAIN when a page has extra references, -ENOMEM.
 * @see mm/khugepaged.c madvise_collapse(), include/linux/huge_mm.h vma_thp_disabled()
 */
export function collapse_pte_mapped_range(m: Machine, vma: Vma, start: number, end: number): number {
  if (vma.kind !== 'anon' || vma.flags & VM_NOHUGEPAGE) return -EINVAL;
  const mem = m.mem;
  const pt = vma.mm.pt;
  const first = Math.ceil(start / PMD_SIZE) * PMD_SIZE;
  for (let h = first; h + PMD_SIZE <= end; h += PMD_SIZE) {
    if (pt.pmd_leaf(h)) continue; // already a THP
    const table = pt.pte_table(h);
    // Every present page must be an anon page referenced only by its mapping(s). Pages shared with
    // another mm are fine: only khugepaged limits them (cc->is_khugepaged && max_ptes_shared).
    // @see mm/khugepaged.c hpage_collapse_scan_pmd(), __collapse_huge_page_isolate()
    if (table) {
      for (let i = 0; i < 512; i++) {
        const e = table[i]!;
        if (!pte_present(e) || pte_special(e)) continue;
        const pfn = pte_pfn(e);
        const folio = mem.page_folio(pfn);
        if (!mem.folio_test_anon(folio)) return -EAGAIN;
        if (mem.refcount[folio] !== mem.folio_mapcount(folio)) return -EAGAIN;
      }
    }
    const thp = m.folio_alloc(PMD_ORDER);
    if (thp < 0) return -ENOMEM;
    if (table) {
      for (let i = 0; i < 512; i++) {
        const e = table[i]!;
        table[i] = 0;
        if (!pte_present(e) || pte_special(e)) continue;
        const pfn = pte_pfn(e);
        const folio = mem.page_folio(pfn);
        folio_remove_rmap_ptes(m, folio, pfn, 1);
        folio_put_refs(m, folio, 1);
        vma.mm.rss_anon--;
      }
      pt.pmds.delete(h / PMD_SIZE);
    }
    folio_add_new_anon_rmap(m, thp, vma, h, 'pmd');
    pt.set_pmd_leaf(h, mk_pte(thp, _PAGE_ACCESSED | _PAGE_DIRTY | (vma.flags & VM_WRITE ? _PAGE_RW : 0)));
    vma.mm.rss_anon += 512;
  }
  return 0;
}
