// Models mm/rmap.c: adding and removing a folio's mappings (mapcounts, PageAnonExclusive on new anon
// folios, the anon/file counters) and the reverse-map walk that finds every page table entry mapping
// a folio, through folio->mapping (anon_vma or address_space) and folio->index.

import type { Machine } from './machine.js';
import { PAGE_SIZE, PG_anon, PG_anon_exclusive, PG_swapbacked, PMD_ORDER, PMD_SIZE, PUD_SIZE } from './memmap.js';
import { AnonVma, type Vma } from './mm_types.js';
import { pte_pfn, pte_present, pte_index } from './pgtable.js';
import { NR_ANON_MAPPED, NR_FILE_MAPPED } from './vmstat.js';

export type MapLevel = 'pte' | 'pmd' | 'pud';

/** anon_vma_prepare(): the VMA's own anon_vma, created on its first anon folio. */
export function anon_vma_prepare(m: Machine, vma: Vma): AnonVma {
  if (!vma.anonVma) {
    const av = m.newAnonVma();
    vma.anonVma = av;
    vma.anonChain.push(av);
    av.vmas.add(vma);
  }
  return vma.anonVma;
}

/** linear_page_index(): the folio->index a page at addr gets in this VMA. */
export function linear_page_index(vma: Vma, addr: number): number {
  return (vma.pgoff + (addr - vma.start) / PAGE_SIZE) >>> 0;
}

/**
 * folio_add_new_anon_rmap(): a freshly allocated folio becomes anon, exclusive to this mm.
 * `addr` is where the folio's first page is mapped. (Its caller puts it on the LRU: folio_add_lru_vma().)
 */
export function folio_add_new_anon_rmap(m: Machine, folio: number, vma: Vma, addr: number, level: MapLevel): void {
  const mem = m.mem;
  const av = anon_vma_prepare(m, vma);
  mem.flags[folio] = mem.flags[folio]! | PG_anon | PG_swapbacked;
  mem.mapping[folio] = av.id;
  mem.index[folio] = linear_page_index(vma, addr);
  const nr = mem.folio_nr_pages(folio);
  if (level === 'pte') {
    for (let i = 0; i < nr; i++) {
      mem.mapcount[folio + i] = 1;
      mem.flags[folio + i] = mem.flags[folio + i]! | PG_anon_exclusive;
    }
    if (nr > 1) mem.addLargeMapcount(folio, nr);
  } else {
    mem.setEntireMapcount(folio, 1);
    mem.addLargeMapcount(folio, 1);
    mem.SetPageAnonExclusive(folio);
    if (level === 'pmd') accountPmdMapped(m, folio, 1);
  }
  if (!mem.folio_test_hugetlb(folio)) m.vmstat.mod(NR_ANON_MAPPED, nr);
}

/**
 * folio_add_{anon,file}_rmap_ptes(): nr more PTE mappings of consecutive pages from pfn. A caller that
 * raises each page's mapcount in a pass of its own (fork's batch copy) passes pages = false.
 */
export function folioAddRmapPtes(m: Machine, folio: number, pfn: number, nr: number, pages = true): void {
  const mem = m.mem;
  const anon = mem.folio_test_anon(folio);
  const first = anon && !mem.folio_mapped(folio);
  if (pages) for (let i = 0; i < nr; i++) mem.mapcount[pfn + i] = mem.mapcount[pfn + i]! + 1;
  if (mem.folio_test_large(folio)) mem.addLargeMapcount(folio, nr);
  if (!anon) m.vmstat.mod(NR_FILE_MAPPED, nr);
  else if (first) accountAnon(m, folio);
}

/** folio_add_{anon,file}_rmap_{pmd,pud}(): one more mapping of the entire folio. */
export function folioAddRmapEntire(m: Machine, folio: number): void {
  const mem = m.mem;
  const first = mem.folio_test_anon(folio) && !mem.folio_mapped(folio);
  const entire = mem.folio_entire_mapcount(folio) + 1;
  mem.setEntireMapcount(folio, entire);
  mem.addLargeMapcount(folio, 1);
  if (first) accountAnon(m, folio);
  if (entire === 1) accountPmdMapped(m, folio, 1);
}

/** folio_remove_rmap_ptes(). A caller that lowers each page's mapcount itself (zap) passes pages = false. */
export function folio_remove_rmap_ptes(m: Machine, folio: number, pfn: number, nr: number, pages = true): void {
  const mem = m.mem;
  if (pages) for (let i = 0; i < nr; i++) mem.mapcount[pfn + i] = mem.mapcount[pfn + i]! - 1;
  if (mem.folio_test_large(folio)) mem.addLargeMapcount(folio, -nr);
  if (!mem.folio_test_anon(folio)) m.vmstat.mod(NR_FILE_MAPPED, -nr);
  else if (!mem.folio_mapped(folio)) unaccountAnon(m, folio);
}

/** folio_remove_rmap_{pmd,pud}(). */
export function folioRemoveRmapEntire(m: Machine, folio: number): void {
  const mem = m.mem;
  const entire = mem.folio_entire_mapcount(folio) - 1;
  mem.setEntireMapcount(folio, entire);
  mem.addLargeMapcount(folio, -1);
  if (mem.folio_test_anon(folio) && !mem.folio_mapped(folio)) unaccountAnon(m, folio);
  if (entire === 0) accountPmdMapped(m, folio, -1);
}

/**
 * NR_ANON_THPS (nr_anon_transparent_hugepages, in THPs here) counts the anon folios mapped entire by a PMD:
 * it moves when a folio's first entire mapping comes and its last goes (__folio_add_rmap() and
 * __folio_remove_rmap() at RMAP_LEVEL_PMD, their nr_pmdmapped through __folio_mod_stat()), so a THP whose
 * PMD was split, or that is mapped by PTEs alone, is not counted. hugetlb folios have rmap code of their own.
 */
function accountPmdMapped(m: Machine, folio: number, delta: 1 | -1): void {
  const mem = m.mem;
  if (mem.folio_test_anon(folio) && !mem.folio_test_hugetlb(folio) && mem.folio_order(folio) === PMD_ORDER)
    m.vmstat.mod('nr_anon_transparent_hugepages', delta);
}

/**
 * NR_ANON_MAPPED counts an anon folio's pages from its first mapping to its last unmapping
 * (__folio_mod_stat()): an existing folio mapped again after every mapping went (remove_migration_pte()
 * mapping the new folio of a migration) counts them again. hugetlb folios are not counted.
 */
function accountAnon(m: Machine, folio: number): void {
  const mem = m.mem;
  if (mem.folio_test_hugetlb(folio)) return;
  m.vmstat.mod(NR_ANON_MAPPED, mem.folio_nr_pages(folio));
}

function unaccountAnon(m: Machine, folio: number): void {
  const mem = m.mem;
  if (mem.folio_test_hugetlb(folio)) return;
  m.vmstat.mod(NR_ANON_MAPPED, -mem.folio_nr_pages(folio));
}

/** One page-table entry that maps (part of) a folio. */
export interface RmapHit {
  vma: Vma;
  /** Virtual address of the entry (PTE: the page; PMD/PUD: the leaf's start). */
  addr: number;
  level: MapLevel;
  /** PFN the entry maps. */
  pfn: number;
}

/**
 * rmap_walk(): every entry that maps a page of the folio, in every VMA of every mm that can see it.
 * @see mm/rmap.c rmap_walk_anon(), rmap_walk_file()
 */
export function rmap_walk(m: Machine, folio: number): RmapHit[] {
  const mem = m.mem;
  const obj = m.mappingObj(mem.mapping[folio]!);
  if (!obj) return [];
  const nr = mem.folio_nr_pages(folio);
  const first = mem.index[folio]!;
  const hits: RmapHit[] = [];
  const vmas = obj.vmas;
  for (const vma of vmas) {
    if (vma.mm.users === 0) continue;
    // Pages [first, first+nr) sit at vma.start + (index - pgoff) pages, where inside the VMA.
    const off = (first - vma.pgoff) | 0;
    const lo = vma.start + off * PAGE_SIZE;
    const hi = lo + nr * PAGE_SIZE;
    const s = Math.max(lo, vma.start);
    const e = Math.min(hi, vma.end);
    if (s >= e) continue;
    const pt = vma.mm.pt;
    let a = s;
    while (a < e) {
      const pud = pt.pudLeaf(a);
      if (pud) {
        const pfn = pte_pfn(pud);
        if (pfn === folio) hits.push({ vma, addr: a - (a % PUD_SIZE), level: 'pud', pfn });
        a = a - (a % PUD_SIZE) + PUD_SIZE;
        continue;
      }
      const slot = pt.pmdSlot(a);
      if (typeof slot === 'number') {
        const pfn = pte_pfn(slot);
        if (pfn === folio) hits.push({ vma, addr: a - (a % PMD_SIZE), level: 'pmd', pfn });
        a = a - (a % PMD_SIZE) + PMD_SIZE;
        continue;
      }
      if (slot === undefined) {
        a = a - (a % PMD_SIZE) + PMD_SIZE;
        continue;
      }
      const tableEnd = Math.min(e, a - (a % PMD_SIZE) + PMD_SIZE);
      for (; a < tableEnd; a += PAGE_SIZE) {
        const pte = slot[pte_index(a)]!;
        if (!pte_present(pte)) continue;
        const pfn = pte_pfn(pte);
        if (pfn >= folio && pfn < folio + nr) hits.push({ vma, addr: a, level: 'pte', pfn });
      }
    }
  }
  return hits;
}
