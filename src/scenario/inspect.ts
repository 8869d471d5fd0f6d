// What `inspect` reports for a page of a process: the fields of DESIGN.md's result JSON, read from
// the model the way /proc/kpagecount, /proc/kpageflags and the page tables would show them, plus
// what only a model can say: who holds each reference of the folio's _refcount.

import type { Machine } from '../mm/machine.js';
import type { Process } from '../mm/task.js';
import { ZERO_PFN, PAGE_SIZE, PMD_SIZE, PUD_SIZE, GUP_PIN_COUNTING_BIAS, PG_lru, PG_writeback } from '../mm/memmap.js';
import { pte_pfn, pte_present, pte_write, pte_index } from '../mm/pgtable.js';
import { folio_maybe_dma_pinned } from '../mm/gup.js';
import { is_huge_zero_folio } from '../mm/huge_mm.js';
import { AddressSpace } from '../mm/fs.js';
import { folioCacheRefs, lruBatchRefs } from '../mm/swap.js';
import type { Holder, HolderType } from '../consumers/holder.js';
import { pageValue } from '../mm/highmem.js';

/** What one holder costs a folio: its plain references and pins, and the _refcount they add. */
export interface HolderShare {
  handle: string;
  type: HolderType;
  refs: number;
  pins: number;
  /** refs + pins, each pin counting GUP_PIN_COUNTING_BIAS on a small folio and 1 on a large one. */
  refcount: number;
}

/**
 * The folio's _refcount broken down: one reference per mapping (PTE, PMD or PUD) of it, the page
 * cache's (one per page while the folio is in a file's cache), the file system's buffer heads' (one
 * while attached: folio_attach_private()), each holder's references and pins, the
 * per-CPU LRU batches' (a new folio in the lru_add batch, an activated one in the activate batch: one
 * per entry, until the batch is moved: mm/swap.c), and what is
 * left (unattributed: a reference gupsim cannot name, e.g. after a misuse).
 */
export interface RefcountParts {
  mappings: number;
  page_cache: number;
  buffers: number;
  holders: HolderShare[];
  lru_batch: number;
  unattributed: number;
}

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
  /** maybe_dma_pinned although no pin is held: the bias was reached by plain references. */
  false_positive: boolean | null;
  anon_exclusive: boolean | null;
  zero_page: boolean | null;
  dirty: boolean | null;
  writeback: boolean | null;
  lru: boolean | null;
  mlocked: boolean | null;
  /**
   * The model's number for the folio (Machine.folioSerial(), no kernel counterpart): the same pfn with
   * the same serial at two steps is the same folio; another serial is a new folio in a frame freed and
   * handed out again. 0: allocated before the run's first inspect (the model numbers folios from then on).
   */
  serial: number | null;
  refcount_parts: RefcountParts | null;
  /** The page's contents (a 32-bit word standing for its bytes; null when nothing is mapped). */
  data: number | null;
}

/** Every holder's share of each folio it holds frames of, by folio. */
export type FolioHolds = Map<number, HolderShare[]>;

/** Who holds what, by folio, from the holders' frames (gupsim's ledger; the kernel keeps none). */
export function folioHolds(m: Machine, holders: Iterable<Holder>): FolioHolds {
  const mem = m.mem;
  const out: FolioHolds = new Map();
  for (const h of holders) {
    if (h.closed) continue;
    for (const f of h.frames()) {
      if (!f.pins && !f.refs) continue;
      const folio = mem.page_folio(f.pfn);
      let list = out.get(folio);
      if (!list) out.set(folio, (list = []));
      let share = list.find((x) => x.handle === h.name);
      if (!share) list.push((share = { handle: h.name, type: h.type, refs: 0, pins: 0, refcount: 0 }));
      share.refs += f.refs;
      share.pins += f.pins;
      share.refcount += f.refs + f.pins * (mem.folio_test_large(folio) ? 1 : GUP_PIN_COUNTING_BIAS);
    }
  }
  return out;
}

/** References the page cache holds on a folio while it is in its file's cache (folioCacheRefs()). */
function pageCacheRefs(m: Machine, folio: number): number {
  const mem = m.mem;
  const file = m.mappingObj(mem.mapping[folio]!);
  if (!(file instanceof AddressSpace) || file.lookup(mem.index[folio]!) !== folio) return 0;
  return folioCacheRefs(m, folio);
}

/** The breakdown of a folio's _refcount (the zero pages' mappings take no reference: vm_normal_page()). */
export function refcountParts(m: Machine, folio: number, holds: FolioHolds): RefcountParts {
  const mem = m.mem;
  const zero = folio === ZERO_PFN || is_huge_zero_folio(m, folio);
  const mappings = zero ? 0 : mem.folio_mapcount(folio);
  const cache = zero ? 0 : pageCacheRefs(m, folio);
  const buffers = cache && mem.fsPrivate.has(folio) ? 1 : 0;
  const page_cache = cache - buffers;
  const holders = holds.get(folio) ?? [];
  const held = holders.reduce((t, h) => t + h.refcount, 0);
  const lru_batch = lruBatchRefs(m, folio);
  const unattributed = mem.refcount[folio]! - mappings - cache - held - lru_batch;
  return { mappings, page_cache, buffers, holders, lru_batch, unattributed };
}

/** What inspect shows of a page that nothing maps: its index and present: false, every other field null. */
export function absentPage(page: number): PageInfo {
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
    false_positive: null,
    anon_exclusive: null,
    zero_page: null,
    dirty: null,
    writeback: null,
    lru: null,
    mlocked: null,
    serial: null,
    refcount_parts: null,
    data: null,
  };
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

export function inspectPage(
  m: Machine,
  p: Process,
  addr: number,
  page: number,
  holds: FolioHolds = new Map(),
): PageInfo {
  const hit = p.alive ? lookupPage(p, addr) : undefined;
  if (!hit) return absentPage(page);
  const mem = m.mem;
  const pfn = hit.pfn;
  const folio = mem.page_folio(pfn);
  const zero = pfn === ZERO_PFN || is_huge_zero_folio(m, folio);
  // folio_precise_page_mapcount(), as /proc/kpagecount reports it.
  const mapcount = zero ? 0 : mem.mapcount[pfn]! + mem.folio_entire_mapcount(folio);
  const exclusiveBit = hit.level === 'pte' && !mem.folio_test_hugetlb(folio) ? pfn : folio;
  const parts = refcountParts(m, folio, holds);
  const maybePinned = folio_maybe_dma_pinned(m, folio);
  // A large folio counts pins exactly; a small one is "pinned" by a refcount of the bias or more.
  const pinsHeld = mem.folio_has_pincount(folio)
    ? mem.folioPincount(folio)
    : parts.holders.reduce((t, h) => t + h.pins, 0);
  return {
    page,
    present: true,
    pfn,
    refcount: mem.refcount[folio]!,
    mapcount,
    // Small folios have no _pincount (folio_has_pincount()): null, not 0.
    pincount: mem.folio_has_pincount(folio) ? mem.folioPincount(folio) : null,
    order: mem.folio_order(folio),
    zone: m.alloc.is_migrate_cma_page(pfn) ? `${m.alloc.zoneOf(pfn)} (CMA)` : m.alloc.zoneOf(pfn),
    mapped_by: hit.level,
    writable: hit.writable,
    maybe_dma_pinned: maybePinned,
    false_positive: maybePinned && pinsHeld === 0,
    anon_exclusive: mem.folio_test_anon(folio) && mem.PageAnonExclusive(exclusiveBit),
    zero_page: zero,
    dirty: mem.folio_test_dirty(folio),
    writeback: mem.testFlag(folio, PG_writeback),
    lru: mem.testFlag(folio, PG_lru),
    mlocked: mem.folio_test_mlocked(folio),
    serial: m.folioSerial(folio),
    refcount_parts: parts,
    data: pageValue(m, pfn),
  };
}
