// Models the folio move of FOLL_LONGTERM's migration step (mm/migrate.c migrate_pages() with
// MR_LONGTERM_PIN): an isolated folio moves to pinnable memory (allocations run under
// PF_MEMALLOC_PIN), every mapping and page-cache slot follows it, or it goes back on the LRU. A
// hugetlb folio moves into another pool folio (migrate_hugetlbs()). The decision to migrate
// (check_and_migrate_movable_pages()) is GUP's and lives in gup.ts.

import type { Machine } from './machine.js';
import { NO_FOLIO, PG_anon_exclusive, PG_lru, PAGE_SIZE, PMD_SIZE, PUD_SIZE } from './memmap.js';
import {
  mk_pte,
  pte_pfn,
  pte_flags,
  pte_index,
  pte_present,
  pte_write,
  _PAGE_PRESENT,
  _PAGE_SPECIAL,
} from './pgtable.js';
import {
  rmap_walk,
  folio_remove_rmap_ptes,
  folioRemoveRmapEntire,
  folioAddRmapPtes,
  folioAddRmapEntire,
  type MapLevel,
} from './rmap.js';
import type { Vma } from './mm_types.js';
import { folio_maybe_dma_pinned } from './dma_pinned.js';
import { EAGAIN, EBUSY, ENOMEM } from '../uapi/errno.js';
import { AddressSpace } from './fs.js';
import { folio_add_lru, folio_put_refs, folio_ref_add, folioCacheRefs, lru_add_drain } from './swap.js';
import { folio_copy } from './highmem.js';

/**
 * putback_movable_pages() for one folio: back on the LRU through the LRU batch (folio_putback_lru():
 * folio_add_lru(), then the isolation reference dropped); a hugetlb folio becomes migratable again
 * (folio_putback_hugetlb()).
 */
export function putback_movable_pages(m: Machine, folio: number): void {
  const mem = m.mem;
  // folio_putback_hugetlb() / folio_putback_lru(): back on its list, then folio_put() of the isolation's
  // reference -- the last but the LRU batch's when every mapping went away while the folio was isolated
  // (it is freed when the batch lets it go).
  if (mem.folio_test_hugetlb(folio)) {
    m.hugetlb.folio_set_hugetlb_migratable(folio);
    folio_put_refs(m, folio, 1);
    return;
  }
  folio_add_lru(m, folio);
  countIsolated(m, folio, -1);
  folio_put_refs(m, folio, 1);
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
  const hugetlb = mem.folio_test_hugetlb(folio);
  if (mem.refcount[folio] === 1) {
    // migrate_folio_unmap(), unmap_and_move_huge_page(): the isolation holds the last reference (every
    // mapping and the page cache let the folio go meanwhile): it was freed from under the migration, which
    // is done (counted as a success) and drops that reference instead of moving it: a hugetlb folio through
    // folio_putback_hugetlb(), any other through migrate_folio_done() (not back onto the LRU).
    m.vmstat.mod('pgmigrate_success', nr);
    if (hugetlb) {
      putback_movable_pages(m, folio);
      return { ok: true };
    }
    m.activeFolios.delete(folio); // folio_clear_active()
    countIsolated(m, folio, -1);
    folio_put_refs(m, folio, 1);
    return { ok: true };
  }
  const cacheRefs = obj instanceof AddressSpace ? folioCacheRefs(m, folio) : 0; // __filemap_add_folio()
  const expected = mem.folio_mapcount(folio) + cacheRefs + 1; // + the isolation reference
  if (mem.refcount[folio] !== expected) {
    m.vmstat.mod('pgmigrate_fail', nr);
    return {
      ok: false,
      why: `folio has ${mem.refcount[folio]! - expected} unexpected reference(s) (another pin or GUP reference)`,
    };
  }
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
    mem.setLargeMapcount(dst, mem.folio_mapcount(folio));
    if (nr > 2) mem.setEntireMapcount(dst, mem.folio_entire_mapcount(folio));
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
  // gupsim's misuse taint, not kernel state: what misuse did to the old folio moves with its state.
  if (m.misuse.touches(folio, nr)) m.misuse.taint(dst, order);
  // The old folio is now unreferenced: free it without touching the moved accounting.
  for (let k = 0; k < nr; k++) mem.mapcount[folio + k] = 0;
  m.vmstat.mod('pgmigrate_success', nr);
  if (hugetlb) {
    move_hugetlb_state(m, folio, dst);
    mem.setEntireMapcount(folio, 0);
    mem.setLargeMapcount(folio, 0);
    mem.refcount[folio] = 0;
    m.hugetlb.free_huge_folio(folio);
    return { ok: true };
  }
  countIsolated(m, folio, -1);
  // A folio misuse freed while mapped is reached by nothing now: its frames go back like any (swap.ts).
  m.misuse.freedInUse.delete(folio);
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

// ---------------------------------------------------------------------------------------------
// migrate_pages() of one folio, one step at a time (move_pages(2), compaction): isolate, unmap (the
// entries become migration entries), freeze the refcount, move (copy, remap to the new folio) or
// restore (remap to the old one). The explorer runs these as its atomic points; migrateFolio() runs
// them back to back.

/** A migration entry: the PTE without _PAGE_PRESENT, the PFN kept; _PAGE_SPECIAL marks the readable-
 *  exclusive kind (make_readable_exclusive_migration_entry()), _PAGE_RW the writable kind. */
export const is_migration_entry = (e: number): boolean => e !== 0 && !pte_present(e);
const SWP_MIGRATION_EXCLUSIVE = _PAGE_SPECIAL;

/** One entry that maps the folio, turned into a migration entry (remove_migration_ptes() restores it). */
export interface MigrationHit {
  vma: Vma;
  addr: number;
  level: MapLevel;
  pfn: number;
}

/** NR_ISOLATED_ANON or NR_ISOLATED_FILE, by the folio's pages: it is taken off the LRU (1) or comes back (-1). */
function countIsolated(m: Machine, folio: number, sign: 1 | -1): void {
  const mem = m.mem;
  m.vmstat.mod(mem.folio_test_anon(folio) ? 'nr_isolated_anon' : 'nr_isolated_file', sign * mem.folio_nr_pages(folio));
}

/** folio_isolate_lru(): off the LRU with a reference held by the isolation; false if not on the LRU. */
export function folioIsolateLru(m: Machine, folio: number): boolean {
  const mem = m.mem;
  if (!mem.testFlag(folio, PG_lru) || mem.refcount[folio]! <= 0) return false;
  mem.clearFlag(folio, PG_lru);
  mem.refcount[folio] = mem.refcount[folio]! + 1;
  countIsolated(m, folio, 1);
  return true;
}

function readEntry(hit: { vma: Vma; addr: number; level: MapLevel }): number {
  const pt = hit.vma.mm.pt;
  return hit.level === 'pte' ? pt.pte(hit.addr) : hit.level === 'pmd' ? pt.pmdLeaf(hit.addr) : pt.pudLeaf(hit.addr);
}

function writeEntry(hit: { vma: Vma; addr: number; level: MapLevel }, e: number): void {
  const pt = hit.vma.mm.pt;
  if (hit.level === 'pte') pt.pteTable(hit.addr)![pte_index(hit.addr)] = e;
  else if (hit.level === 'pmd') pt.setPmdLeaf(hit.addr, e);
  else pt.setPudLeaf(hit.addr, e);
}

/**
 * try_to_migrate(): every entry mapping the folio becomes a migration entry, its mapcount and reference
 * dropped. An exclusive anon page is shared first (folio_try_share_anon_rmap_pte()): a maybe-pinned one
 * refuses (m.protections.tryShareAnon), its entry is put back and the unmap stops (false; the entries
 * already unmapped stay in `hits` for the restore).
 */
export function tryToMigrate(m: Machine, folio: number, hits: MigrationHit[]): boolean {
  const mem = m.mem;
  const anon = mem.folio_test_anon(folio);
  for (const h of rmap_walk(m, folio)) {
    const e = readEntry(h);
    if (!pte_present(e)) continue;
    const page = h.level === 'pte' ? h.pfn : folio;
    const exclusive = anon && mem.PageAnonExclusive(page);
    // The entry is cleared (and flushed) before the share is tried: GUP-fast re-checks it.
    writeEntry(h, 0);
    if (exclusive) {
      if (m.protections.tryShareAnon && folio_maybe_dma_pinned(m, folio)) {
        writeEntry(h, e);
        return false;
      }
      mem.ClearPageAnonExclusive(page);
    }
    let me = (e - _PAGE_PRESENT) & ~SWP_MIGRATION_EXCLUSIVE;
    if (exclusive && !pte_write(e)) me |= SWP_MIGRATION_EXCLUSIVE;
    writeEntry(h, me);
    if (h.level === 'pte') folio_remove_rmap_ptes(m, folio, h.pfn, 1);
    else folioRemoveRmapEntire(m, folio);
    folio_put_refs(m, folio, 1);
    m.mmuNotify(h.vma.mm, h.addr, h.addr + levelSize(h.level), 'migrate');
    hits.push({ vma: h.vma, addr: h.addr, level: h.level, pfn: h.pfn });
  }
  return true;
}

function levelSize(level: MapLevel): number {
  return level === 'pte' ? PAGE_SIZE : level === 'pmd' ? PMD_SIZE : PUD_SIZE;
}

/** folio_expected_refs() + the isolation's reference: the count an unmapped folio must have to move. */
export function migrateExpectedRefs(m: Machine, folio: number): number {
  const obj = m.mappingObj(m.mem.mapping[folio]!);
  return (obj instanceof AddressSpace ? m.mem.folio_nr_pages(folio) : 0) + 1;
}

/**
 * folio_migrate_mapping(): a page-cache folio (or a large anon one) is frozen at the expected count
 * (folio_ref_freeze(): its refcount becomes 0, so no speculative reference can be taken); a small anon
 * folio is only compared (6.18 __folio_migrate_mapping() has no mapping to protect). false: an extra
 * reference (a pin, a GUP or speculative reference): -EAGAIN, the folio stays.
 * With m.protections.refcountFreeze off, every folio is only compared.
 */
export function migrateFreeze(m: Machine, folio: number): boolean {
  const mem = m.mem;
  const expected = migrateExpectedRefs(m, folio);
  if (mem.refcount[folio] !== expected) return false;
  const freeze = m.protections.refcountFreeze && (expected > 1 || mem.folio_test_large(folio));
  if (freeze) mem.refcount[folio] = 0;
  return true;
}

/**
 * remove_migration_ptes(): every migration entry of `hits` maps `to` (the new folio after a move, the
 * old one after a failure), with a reference and mapcount each; an exclusive entry sets
 * PageAnonExclusive again.
 */
export function removeMigrationPtes(m: Machine, from: number, to: number, hits: MigrationHit[]): void {
  const mem = m.mem;
  const anon = mem.folio_test_anon(to);
  for (const h of hits) {
    const me = readEntry(h);
    if (!is_migration_entry(me)) continue;
    const pfn = to + (h.pfn - from);
    const exclusive = anon && (pte_write(me) || (me & SWP_MIGRATION_EXCLUSIVE) !== 0);
    writeEntry(h, mk_pte(pfn, pte_flags(me) & ~SWP_MIGRATION_EXCLUSIVE));
    if (h.level === 'pte') folioAddRmapPtes(m, to, pfn, 1);
    else folioAddRmapEntire(m, to);
    folio_ref_add(m, to, 1);
    if (exclusive) mem.SetPageAnonExclusive(h.level === 'pte' ? pfn : to);
  }
}

/**
 * migrate_folio_move(): a new folio (NO_FOLIO without memory) takes the old one's state and page-cache
 * slots, the entries are remapped to it, and the old folio, unfrozen, loses the isolation's reference
 * (freed unless someone still holds one). Returns the new folio.
 */
export function migrateMove(m: Machine, folio: number, hits: MigrationHit[]): number {
  const mem = m.mem;
  const order = mem.folio_order(folio);
  const nr = 1 << order;
  const dst = m.folio_alloc(order);
  if (dst === NO_FOLIO) return NO_FOLIO;
  const obj = m.mappingObj(mem.mapping[folio]!);
  mem.flags[dst] = (mem.flags[folio]! & ~PG_lru) | (mem.flags[dst]! & PG_lru);
  mem.mapping[dst] = mem.mapping[folio]!;
  mem.index[dst] = mem.index[folio]!;
  for (let k = 1; k < nr; k++)
    mem.flags[dst + k] = (mem.flags[dst + k]! & ~PG_anon_exclusive) | (mem.flags[folio + k]! & PG_anon_exclusive);
  const cacheRefs = obj instanceof AddressSpace ? nr : 0;
  if (obj instanceof AddressSpace) {
    const idx = mem.index[folio]!;
    for (let k = 0; k < nr; k++) if (obj.pages[idx + k] === folio + k) obj.pages[idx + k] = dst + k;
    mem.refcount[dst] = mem.refcount[dst]! + cacheRefs;
  }
  removeMigrationPtes(m, folio, dst, hits);
  m.vmstat.mod('pgmigrate_success', nr);
  // folio_ref_unfreeze(): the page cache's references moved to the new folio; the isolation's stays.
  if (mem.refcount[folio] === 0) mem.refcount[folio] = 1;
  else mem.refcount[folio] = mem.refcount[folio]! - cacheRefs;
  countIsolated(m, folio, -1);
  // migrate_folio_done(): the old folio's last reference (the isolation's) goes; the new one joins the LRU.
  mem.flags[folio] = mem.flags[folio]! & ~PG_anon_exclusive;
  folio_put_refs(m, folio, 1);
  mem.setFlag(dst, PG_lru);
  folio_put_refs(m, dst, 1);
  // gupsim's misuse taint, not kernel state: what misuse did to the old folio moves with its state (a
  // PageAnonExclusive a refcount misuse let do_wp_page() set while another mm maps the page).
  if (m.misuse.touches(folio, nr)) m.misuse.taint(dst, order);
  return dst;
}

/** A failed migration: unfreeze, restore the entries to the old folio, put it back on the LRU. */
export function migrateRestore(m: Machine, folio: number, hits: MigrationHit[], frozen: boolean): void {
  if (frozen && m.mem.refcount[folio] === 0) m.mem.refcount[folio] = migrateExpectedRefs(m, folio);
  removeMigrationPtes(m, folio, folio, hits);
  m.vmstat.mod('pgmigrate_fail', m.mem.folio_nr_pages(folio));
  putback_movable_pages(m, folio);
}

/** migrate_pages() of one folio, every step at once: 0, or -EBUSY / -EAGAIN / -ENOMEM. */
export function migrateFolio(m: Machine, folio: number): number {
  // do_pages_move(): lru_cache_disable() drains the per-CPU LRU batches first, so a folio still in one
  // can be isolated.
  lru_add_drain(m);
  if (m.mem.folio_test_hugetlb(folio) || !folioIsolateLru(m, folio)) return -EBUSY;
  const hits: MigrationHit[] = [];
  if (!tryToMigrate(m, folio, hits) || !migrateFreeze(m, folio)) {
    migrateRestore(m, folio, hits, false);
    return -EAGAIN;
  }
  if (migrateMove(m, folio, hits) === NO_FOLIO) {
    migrateRestore(m, folio, hits, true);
    return -ENOMEM;
  }
  return 0;
}
