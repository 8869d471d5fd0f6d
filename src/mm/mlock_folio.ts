// Models the folio side of mm/mlock.c: mlock_folio() / munlock_folio() (PG_mlocked) and the page
// walk of mlock_vma_pages_range() (mlock_pte_range()), shared by mlock(2), munmap and mremap.

import type { Machine } from './machine.js';
import type { Vma } from './mm_types.js';
import { VM_LOCKED } from './mm_types.js';
import { PAGE_SIZE, PMD_SIZE, ZERO_PFN } from './memmap.js';
import { pte_index, pte_pfn, pte_present, pte_special } from './pgtable.js';
import { is_huge_zero_folio } from './huge_mm.js';

/** mlock_folio() / munlock_folio(): PG_mlocked on or off (the mlock_count is not modelled). */
function mlockFolio(m: Machine, folio: number, lock: boolean): void {
  if (lock) m.mem.mlocked.add(folio);
  else m.mem.mlocked.delete(folio);
}

/**
 * mlock_pte_range() over [start, end) of a VMA: every mapped folio is mlocked (VM_LOCKED) or
 * munlocked. A large PTE-mapped folio is mlocked only when all of it is mapped inside the range
 * (allow_mlock_munlock()); the zero pages and device pages are skipped.
 */
export function mlock_vma_pages_range(
  m: Machine,
  vma: Vma,
  start: number,
  end: number,
  lock = (vma.flags & VM_LOCKED) !== 0,
): void {
  const mem = m.mem;
  const pt = vma.mm.pt;
  const skip = (folio: number) =>
    folio === ZERO_PFN || is_huge_zero_folio(m, folio) || m.alloc.zoneOf(folio) === 'DEVICE';
  for (let a = start; a < end;) {
    const slot = pt.pmdSlot(a);
    const next = Math.min(end, a - (a % PMD_SIZE) + PMD_SIZE);
    if (typeof slot === 'number') {
      const folio = pte_pfn(slot);
      if (pte_present(slot) && !skip(folio)) mlockFolio(m, folio, lock);
    } else if (slot) {
      for (let x = a; x < next; x += PAGE_SIZE) {
        const e = slot[pte_index(x)]!;
        if (!pte_present(e) || pte_special(e)) continue;
        const folio = mem.page_folio(pte_pfn(e));
        if (skip(folio)) continue;
        if (lock && mem.folio_test_large(folio)) {
          // folio_within_range() and fully mapped: its first page at or after start, its last before end.
          const first = x - (pte_pfn(e) - folio) * PAGE_SIZE;
          if (first < start || first + mem.folio_nr_pages(folio) * PAGE_SIZE > end) continue;
        }
        mlockFolio(m, folio, lock);
      }
    }
    a = next;
  }
}
