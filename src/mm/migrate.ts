// Models the folio move of FOLL_LONGTERM's migration step (mm/migrate.c migrate_pages() with
// MR_LONGTERM_PIN): an isolated folio moves to pinnable memory (allocations run under
// PF_MEMALLOC_PIN), every mapping and page-cache slot follows it, or it goes back on the LRU. A
// hugetlb folio moves into another pool folio (migrate_hugetlbs()). The decision to migrate
// (check_and_migrate_movable_pages()) is GUP's and lives in gup.ts.

import type { Machine } from './machine.js';
import { NO_FOLIO, PG_anon_exclusive, PAGE_SIZE, PMD_SIZE, PUD_SIZE } from './memmap.js';
import { mk_pte, pte_pfn, pte_flags, pte_index } from './pgtable.js';
import { rmap_walk } from './rmap.js';
import { AddressSpace } from './fs.js';
import { folio_add_lru, folioCacheRefs, lru_add_drain } from './swap.js';
import { folio_copy } from './highmem.js';

/**
 * putback_movable_pages() for one folio: back on the LRU through the LRU batch (folio_putback_lru():
 * folio_add_lru(), then the isolation reference dropped); a hugetlb folio becomes migratable again
 * (folio_putback_hugetlb()).
 */
export function putback_movable_pages(m: Machine, folio: number): void {
  const mem = m.mem;
  if (mem.folio_test_hugetlb(folio)) {
    m.hugetlb.folio_set_hugetlb_migratable(folio);
    mem.refcount[folio] = mem.refcount[folio]! - 1;
    return;
  }
  folio_add_lru(m, folio);
  mem.refcount[folio] = mem.refcount[folio]! - 1;
  m.vmstat.mod(mem.folio_test_anon(folio) ? 'nr_isolated_anon' : 'nr_isolated_file', -mem.folio_nr_pages(folio));
}

/** migrateFolioToPinnable()'s answer: the folio moved, or why it did not. */
export type MigrateResult = { ok: true } | { ok: false; why: string };

/**
 * Move one isolated folio to a new folio allocated outside ZONE_MOVABLE/CMA, remapping every PTE/PMD
 * that maps it and its page-cache slots. Returns whether it moved, and if not why.
 * @see mm/migrate.c migrate_folio_unmap(), migrate_folio_move(), folio_migrate_mapping()
 */
export function migrateFolioToPinnable(m: Machine, folio: number): MigrateResult {
  const mem = m.mem;
  const obj = m.mappingObj(mem.mapping[folio]!);
  const nr = mem.folio_nr_pages(folio);
  const order = mem.folio_order(folio);
  const cacheRefs = obj instanceof AddressSpace ? folioCacheRefs(m, folio) : 0; // __filemap_add_folio()
  const expected = mem.folio_mapcount(folio) + cacheRefs + 1; // + the isolation reference
  if (mem.refcount[folio] !== expected) {
    m.vmstat.mod('pgmigrate_fail', nr);
    return {
      ok: false,
      why: `folio has ${mem.refcount[folio]! - expected} unexpected reference(s) (another pin or GUP reference)`,
    };
  }
  const hugetlb = mem.folio_test_hugetlb(folio);
  m.alloc.memallocPin++;
  // alloc_migration_target(): a hugetlb folio moves into another pool folio (unmap_and_move_huge_page()).
  const dst = hugetlb ? m.hugetlb.alloc_hugetlb_folio_nodemask(order) : m.folio_alloc(order);
  m.alloc.memallocPin--;
  if (dst === NO_FOLIO) {
    m.vmstat.mod('pgmigrate_fail', nr);
    return { ok: false, why: 'no pinnable memory for the new folio' };
  }
  const hits = rmap_walk(m, folio);
  const wasMlocked = mem.mlocked.has(folio);
  folio_copy(m, dst, folio); // folio_migrate_copy()
  // Copy struct page/folio state (folio_migrate_flags(): PG_active too).
  mem.flags[dst] = mem.flags[folio]!;
  if (m.activeFolios.delete(folio)) m.activeFolios.add(dst);
  mem.mapping[dst] = mem.mapping[folio]!;
  mem.index[dst] = mem.index[folio]!;
  for (let k = 0; k < nr; k++) {
    mem.mapcount[dst + k] = mem.mapcount[folio + k]!;
    if (k > 0)
      mem.flags[dst + k] = (mem.flags[dst + k]! & ~PG_anon_exclusive) | (mem.flags[folio + k]! & PG_anon_exclusive);
  }
  if (nr > 1) {
    mem.setPincount(dst, 0);
    mem.setEntireMapcount(dst, mem.folio_entire_mapcount(folio));
    mem.refcount[dst + 2] = mem.refcount[folio + 2]!;
  }
  mem.refcount[dst] = expected - 1;
  // Remap.
  for (const h of hits) {
    const pt = h.vma.mm.pt;
    if (h.level === 'pte') {
      const t = pt.pteTable(h.addr)!;
      const i = pte_index(h.addr);
      const e = t[i]!;
      t[i] = mk_pte(dst + (pte_pfn(e) - folio), pte_flags(e));
    } else if (h.level === 'pmd') {
      const e = pt.pmdLeaf(h.addr);
      pt.setPmdLeaf(h.addr, mk_pte(dst, pte_flags(e)));
    } else {
      const e = pt.pudLeaf(h.addr);
      pt.setPudLeaf(h.addr, mk_pte(dst, pte_flags(e)));
    }
    m.mmuNotify(
      h.vma.mm,
      h.addr,
      h.addr + (h.level === 'pte' ? PAGE_SIZE : h.level === 'pmd' ? PMD_SIZE : PUD_SIZE),
      'migrate',
    );
  }
  if (obj instanceof AddressSpace) {
    const idx = mem.index[folio]!;
    for (let k = 0; k < nr; k++) if (obj.pages[idx + k] === folio + k) obj.pages[idx + k] = dst + k;
  }
  // The old folio is now unreferenced: free it without touching the moved accounting.
  for (let k = 0; k < nr; k++) mem.mapcount[folio + k] = 0;
  m.vmstat.mod('pgmigrate_success', nr);
  if (hugetlb) {
    move_hugetlb_state(m, folio, dst);
    mem.setEntireMapcount(folio, 0);
    mem.refcount[folio + 2] = 0;
    mem.refcount[folio] = 0;
    m.hugetlb.free_huge_folio(folio);
    return { ok: true };
  }
  m.vmstat.mod(mem.folio_test_anon(folio) ? 'nr_isolated_anon' : 'nr_isolated_file', -nr);
  m.alloc.freeBlock(folio, order);
  m.vmstat.mod('nr_free_pages', nr);
  // migrate_folio_move(): the new folio goes on the LRU through the LRU batch; the batch is drained
  // at once when the old folio was mlocked (PAGE_WAS_MLOCKED), and on 6.1 whenever it was mapped
  // (page_was_mapped: profile.migrateDrainsMapped), so only 6.12 and later leave it in the batch.
  if (wasMlocked) {
    // remove_migration_pte() mlocks the new folio in its VM_LOCKED mapping; the old one is gone.
    mem.mlocked.delete(folio);
    mem.mlocked.add(dst);
  }
  folio_add_lru(m, dst);
  if (wasMlocked || (m.profile.migrateDrainsMapped && hits.length > 0)) lru_add_drain(m);
  return { ok: true };
}

/**
 * move_hugetlb_state(): a fresh (temporary) target becomes the pool's folio and the source takes
 * over the temporary state, so it leaves the pool when freed; the target is migratable.
 */
function move_hugetlb_state(m: Machine, src: number, dst: number): void {
  const pool = m.hugetlb;
  if (pool.folio_test_hugetlb_temporary(dst)) {
    pool.folio_set_hugetlb_temporary(src);
    pool.folio_set_hugetlb_temporary(dst, false);
  }
  pool.folio_set_hugetlb_migratable(dst);
}
