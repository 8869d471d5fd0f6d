// Models FOLL_LONGTERM's migration step (mm/gup.c check_and_migrate_movable_pages() and friends)
// and the folio move itself (mm/migrate.c migrate_pages() with MR_LONGTERM_PIN): unpinnable folios
// (ZONE_MOVABLE, CMA, fsdax) are isolated, every pin of the call is dropped, the folios move to
// pinnable memory (allocations run under PF_MEMALLOC_PIN) and the caller pins the range again.

import type { Machine } from '../kernel/machine.js';
import { EAGAIN, ENOMEM } from '../kernel/errno.js';
import { PG_anon_exclusive, PG_lru, PAGE_SIZE } from './memmap.js';
import { mk_pte, pte_pfn } from './pgtable.js';
import { rmap_walk } from './rmap.js';
import { folio_is_longterm_pinnable, unpin_folio } from './gup.js';
import { AddressSpace } from './filemap.js';

/**
 * check_and_migrate_movable_pages(): 0 when every pinned folio is longterm-pinnable (pins kept);
 * -EAGAIN after migrating the others (all pins of this call dropped: the caller retries);
 * -ENOMEM when a folio could not be migrated (no pins held).
 */
export function check_and_migrate_movable_pages(m: Machine, nr: number, pages: Int32Array, off: number): number {
  const mem = m.mem;
  const list: number[] = [];
  const seen = new Set<number>();
  let collected = 0;
  let prev = -1;
  for (let i = 0; i < nr; i++) {
    const folio = mem.page_folio(pages[off + i]!);
    if (folio === prev) continue;
    prev = folio;
    if (folio_is_longterm_pinnable(m, folio)) continue;
    collected++;
    if (seen.has(folio)) continue; // folio_isolate_lru() fails the second time
    seen.add(folio);
    if (m.alloc.zoneOf(folio) === 'DEVICE') continue; // fsdax: nothing to migrate to
    // folio_isolate_lru(): off the LRU, with a reference held by the isolation.
    mem.clear_flag(folio, PG_lru);
    mem.refcount[folio] = mem.refcount[folio]! + 1;
    m.vmstat.mod(mem.folio_test_anon(folio) ? 'nr_isolated_anon' : 'nr_isolated_file', mem.folio_nr_pages(folio));
    list.push(folio);
  }
  if (collected === 0) return 0;
  // migrate_longterm_unpinnable_folios(): drop every pin this call took.
  for (let i = 0; i < nr; i++) {
    unpin_folio(m, mem.page_folio(pages[off + i]!));
    pages[off + i] = -1;
  }
  let failed = 0;
  let firstFailure = '';
  for (const folio of list) {
    const why = migrate_folio_to_pinnable(m, folio);
    if (why) {
      failed++;
      firstFailure ||= why;
      putback(m, folio);
    }
  }
  if (collected > list.length && !failed) {
    // fsdax folios are collected but cannot move.
    return m.refuse(-ENOMEM, 'migrate_longterm_unpinnable_folios', 'folio in ZONE_DEVICE (fsdax) cannot be migrated');
  }
  if (failed) return m.refuse(-ENOMEM, 'migrate_longterm_unpinnable_folios', `migrate_pages() failed: ${firstFailure}`);
  return -EAGAIN;
}

/** putback_movable_pages(): back on the LRU, isolation reference dropped. */
function putback(m: Machine, folio: number): void {
  const mem = m.mem;
  mem.set_flag(folio, PG_lru);
  mem.refcount[folio] = mem.refcount[folio]! - 1;
  m.vmstat.mod(mem.folio_test_anon(folio) ? 'nr_isolated_anon' : 'nr_isolated_file', -mem.folio_nr_pages(folio));
}

/**
 * Move one isolated folio to a new folio allocated outside ZONE_MOVABLE/CMA, remapping every PTE/PMD
 * that maps it and its page-cache slots. Returns '' on success or why it failed.
 * @see mm/migrate.c migrate_folio_unmap(), migrate_folio_move(), folio_migrate_mapping()
 */
export function migrate_folio_to_pinnable(m: Machine, folio: number): string {
  const mem = m.mem;
  const obj = m.mappingObj(mem.mapping[folio]!);
  const nr = mem.folio_nr_pages(folio);
  const order = mem.folio_order(folio);
  const cacheRefs = obj instanceof AddressSpace ? nr : 0; // __filemap_add_folio(): nr refs, hugetlb too
  const expected = mem.folio_mapcount(folio) + cacheRefs + 1; // + the isolation reference
  if (mem.refcount[folio] !== expected) {
    m.vmstat.mod('pgmigrate_fail', nr);
    return `folio has ${mem.refcount[folio]! - expected} unexpected reference(s) (another pin or GUP reference)`;
  }
  if (mem.folio_test_hugetlb(folio)) {
    m.vmstat.mod('pgmigrate_fail', nr);
    return 'hugetlb folio outside pinnable memory';
  }
  m.alloc.memallocPin++;
  const dst = m.folio_alloc(order);
  m.alloc.memallocPin--;
  if (dst < 0) {
    m.vmstat.mod('pgmigrate_fail', nr);
    return 'no pinnable memory for the new folio';
  }
  const hits = rmap_walk(m, folio);
  // Copy struct page/folio state.
  mem.flags[dst] = mem.flags[folio]!;
  mem.mapping[dst] = mem.mapping[folio]!;
  mem.index[dst] = mem.index[folio]!;
  for (let k = 0; k < nr; k++) {
    mem.mapcount[dst + k] = mem.mapcount[folio + k]!;
    if (k > 0) mem.flags[dst + k] = (mem.flags[dst + k]! & ~PG_anon_exclusive) | (mem.flags[folio + k]! & PG_anon_exclusive);
  }
  if (nr > 1) {
    mem.set_pincount(dst, 0);
    mem.set_entire_mapcount(dst, mem.folio_entire_mapcount(folio));
    mem.refcount[dst + 2] = mem.refcount[folio + 2]!;
  }
  mem.refcount[dst] = expected - 1;
  // Remap.
  for (const h of hits) {
    const pt = h.vma.mm.pt;
    if (h.level === 'pte') {
      const t = pt.pte_table(h.addr)!;
      const i = (h.addr / PAGE_SIZE) % 512;
      const e = t[i]!;
      t[i] = mk_pte(dst + (pte_pfn(e) - folio), e % 32);
    } else if (h.level === 'pmd') {
      const e = pt.pmd_leaf(h.addr);
      pt.set_pmd_leaf(h.addr, mk_pte(dst, e % 32));
    } else {
      const e = pt.pud_leaf(h.addr);
      pt.set_pud_leaf(h.addr, mk_pte(dst, e % 32));
    }
    m.mmu_notify(h.vma.mm, h.addr, h.addr + (h.level === 'pte' ? PAGE_SIZE : h.level === 'pmd' ? PAGE_SIZE << 9 : PAGE_SIZE << 18), 'migrate');
  }
  if (obj instanceof AddressSpace) {
    const idx = mem.index[folio]!;
    for (let k = 0; k < nr; k++) if (obj.pages[idx + k] === folio + k) obj.pages[idx + k] = dst + k;
  }
  // The old folio is now unreferenced: free it without touching the moved accounting.
  for (let k = 0; k < nr; k++) mem.mapcount[folio + k] = 0;
  m.vmstat.mod(mem.folio_test_anon(folio) ? 'nr_isolated_anon' : 'nr_isolated_file', -nr);
  m.alloc.free_block(folio, order);
  m.vmstat.mod('nr_free_pages', nr);
  m.vmstat.mod('pgmigrate_success', nr);
  mem.set_flag(dst, PG_lru);
  return '';
}
