// What `inspect` reports for a page of a process: the fields of DESIGN.md's result JSON, read from
// the model the way /proc/kpagecount, /proc/kpageflags and the page tables would show them.

import type { Machine } from '../mm/machine.js';
import type { Process } from '../mm/task.js';
import { ZERO_PFN, PAGE_SIZE, PMD_SIZE, PUD_SIZE } from '../mm/memmap.js';
import { pte_pfn, pte_present, pte_write, pte_index } from '../mm/pgtable.js';
import { folio_maybe_dma_pinned } from '../mm/gup.js';
import { is_huge_zero_folio } from '../mm/huge_mm.js';

export interface PageInfo {
  page: number;
  present: boolean;
  pfn: number | null;
  refcount: number | null;
  mapcount: number | null;
  pincount: number | null;
  order: number | null;
  zone: string | null;
  mapped_by: 'pte' | 'pmd' | 'pud' | null;
  writable: boolean | null;
  maybe_dma_pinned: boolean | null;
  anon_exclusive: boolean | null;
  zero_page: boolean | null;
}

/** The PFN mapped at addr in p, and the level that maps it. */
export function lookupPage(
  p: Process,
  addr: number,
): { pfn: number; level: 'pte' | 'pmd' | 'pud'; writable: boolean } | undefined {
  const pt = p.mm.pt;
  const pud = pt.pudLeaf(addr);
  if (pud)
    return { pfn: pte_pfn(pud) + Math.floor((addr % PUD_SIZE) / PAGE_SIZE), level: 'pud', writable: pte_write(pud) };
  const slot = pt.pmdSlot(addr);
  if (typeof slot === 'number')
    return { pfn: pte_pfn(slot) + Math.floor((addr % PMD_SIZE) / PAGE_SIZE), level: 'pmd', writable: pte_write(slot) };
  if (!slot) return undefined;
  const e = slot[pte_index(addr)]!;
  if (!pte_present(e)) return undefined;
  return { pfn: pte_pfn(e), level: 'pte', writable: pte_write(e) };
}

export function inspectPage(m: Machine, p: Process, addr: number, page: number): PageInfo {
  const hit = p.alive ? lookupPage(p, addr) : undefined;
  if (!hit) {
    return {
      page,
      present: false,
      pfn: null,
      refcount: null,
      mapcount: null,
      pincount: null,
      order: null,
      zone: null,
      mapped_by: null,
      writable: null,
      maybe_dma_pinned: null,
      anon_exclusive: null,
      zero_page: null,
    };
  }
  const mem = m.mem;
  const pfn = hit.pfn;
  const folio = mem.page_folio(pfn);
  const zero = pfn === ZERO_PFN || is_huge_zero_folio(m, folio);
  // folio_precise_page_mapcount(), as /proc/kpagecount reports it.
  const mapcount = zero ? 0 : mem.mapcount[pfn]! + mem.folio_entire_mapcount(folio);
  const exclusiveBit = hit.level === 'pte' && !mem.folio_test_hugetlb(folio) ? pfn : folio;
  return {
    page,
    present: true,
    pfn,
    refcount: mem.refcount[folio]!,
    mapcount,
    pincount: mem.folioPincount(folio),
    order: mem.folio_order(folio),
    zone: m.alloc.is_migrate_cma_page(pfn) ? `${m.alloc.zoneOf(pfn)} (CMA)` : m.alloc.zoneOf(pfn),
    mapped_by: hit.level,
    writable: hit.writable,
    maybe_dma_pinned: folio_maybe_dma_pinned(m, folio),
    anon_exclusive: mem.folio_test_anon(folio) && mem.PageAnonExclusive(exclusiveBit),
    zero_page: zero,
  };
}
