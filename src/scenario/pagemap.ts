// A whole region's pages at once, for the playground's page map: one pass over the process's page
// tables (arch/x86 pgtable walk, as /proc/PID/pagemap reads them) that gives every page one state and
// a few bits, using the model's own predicates (folio_maybe_dma_pinned, is_zero_pfn,
// is_huge_zero_folio, PageAnonExclusive, the page-cache flags). Per page, `inspect` (inspect.ts) says
// the same thing in more words; the tests hold the two to agreement.

import type { Machine } from '../mm/machine.js';
import type { Process } from '../mm/task.js';
import { PAGE_SIZE, PUD_SIZE, HPAGE_PMD_NR, PG_writeback } from '../mm/memmap.js';
import { pte_pfn, pte_present, pte_write, pte_special, pte_index, is_zero_pfn } from '../mm/pgtable.js';
import { folio_maybe_dma_pinned } from '../mm/gup.js';
import { is_huge_zero_folio } from '../mm/huge_mm.js';
import {
  PageState,
  PAGE_FOLIO_HEAD,
  PAGE_LARGE,
  PAGE_PMD_MAPPED,
  PAGE_WRITABLE,
  type RegionMap,
} from './page_states.js';

// Its callers read the states and bits from here, beside the walk that computes them.
export * from './page_states.js';

export interface ClassifyOptions {
  /**
   * Pins held per folio (head PFN), from gupsim's ledger of holders. When given, a small folio that
   * folio_maybe_dma_pinned() calls pinned but that no holder pins is a FALSE_POSITIVE; when not, the
   * model cannot tell and calls it PINNED (as the kernel cannot either).
   */
  pinsByFolio?: ReadonlyMap<number, number>;
}

/** Classify `nrPages` pages of p from addr (page aligned). One page-table lookup per PMD range. */
export function classifyRegion(
  m: Machine,
  p: Process,
  addr: number,
  nrPages: number,
  opts: ClassifyOptions = {},
): RegionMap {
  const state = new Uint8Array(nrPages);
  const bits = new Uint8Array(nrPages);
  const pfn = new Int32Array(nrPages).fill(-1);
  if (!p.alive) return { state, bits, pfn };
  const mem = m.mem;
  const pt = p.mm.pt;
  // The state of a folio mapped by a leaf depends only on the folio (and, for PTEs, the page's own
  // PageAnonExclusive bit): one cache entry per folio keeps big folios O(folios).
  let lastFolio = -1;
  let lastFolioState = 0;
  let lastFolioBits = 0;
  const folioState = (folio: number): void => {
    if (folio === lastFolio) return;
    lastFolio = folio;
    const large = mem.folio_test_large(folio);
    lastFolioBits = large ? PAGE_LARGE : 0;
    if (is_zero_pfn(folio)) lastFolioState = PageState.ZERO;
    else if (is_huge_zero_folio(m, folio)) lastFolioState = PageState.HUGE_ZERO;
    else if (folio_maybe_dma_pinned(m, folio)) {
      const held = opts.pinsByFolio?.get(folio) ?? 0;
      lastFolioState = !large && opts.pinsByFolio && held === 0 ? PageState.FALSE_POSITIVE : PageState.PINNED;
    } else if (mem.folio_test_anon(folio))
      lastFolioState = PageState.ANON_SHARED; // refined per page below
    else if (mem.testFlag(folio, PG_writeback)) lastFolioState = PageState.CACHE_WRITEBACK;
    else if (mem.folio_test_dirty(folio)) lastFolioState = PageState.CACHE_DIRTY;
    else lastFolioState = PageState.CACHE_CLEAN;
  };
  // One mapped page: `exclusiveBit` is the page whose PG_anon_exclusive counts (the head for PMD and
  // hugetlb mappings, the page itself for PTEs of other folios).
  const put = (i: number, page: number, writable: boolean, leaf: boolean, exclusiveBit: number): void => {
    const folio = leaf ? exclusiveBit : mem.page_folio(page);
    folioState(folio);
    let s = lastFolioState;
    if (s === PageState.ANON_SHARED) {
      const bit = leaf || mem.folio_test_hugetlb(folio) ? folio : page;
      if (mem.PageAnonExclusive(bit)) s = PageState.ANON_EXCLUSIVE;
    }
    state[i] = s;
    let b = lastFolioBits | (writable ? PAGE_WRITABLE : 0) | (leaf ? PAGE_PMD_MAPPED : 0);
    if (b & PAGE_LARGE && page === folio) b |= PAGE_FOLIO_HEAD;
    bits[i] = b;
    pfn[i] = page;
  };
  let i = 0;
  while (i < nrPages) {
    const va = addr + i * PAGE_SIZE;
    const pud = pt.pudLeaf(va);
    if (pud) {
      const head = pte_pfn(pud);
      const first = Math.floor((va % PUD_SIZE) / PAGE_SIZE);
      const n = Math.min(nrPages - i, PUD_SIZE / PAGE_SIZE - first);
      for (let k = 0; k < n; k++) put(i + k, head + first + k, pte_write(pud), true, head);
      i += n;
      continue;
    }
    const slot = pt.pmdSlot(va);
    const first = pte_index(va);
    const n = Math.min(nrPages - i, HPAGE_PMD_NR - first);
    if (typeof slot === 'number') {
      const head = pte_pfn(slot);
      for (let k = 0; k < n; k++) put(i + k, head + first + k, pte_write(slot), true, head);
    } else if (slot) {
      for (let k = 0; k < n; k++) {
        const e = slot[first + k]!;
        if (!pte_present(e)) continue;
        const page = pte_pfn(e);
        if (pte_special(e) && !is_zero_pfn(page)) {
          // A PFN map: nothing in the memmap describes it.
          state[i + k] = PageState.PFNMAP;
          bits[i + k] = pte_write(e) ? PAGE_WRITABLE : 0;
          pfn[i + k] = page;
          continue;
        }
        put(i + k, page, pte_write(e), false, page);
      }
    }
    i += n;
  }
  return { state, bits, pfn };
}
