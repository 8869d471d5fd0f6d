// Models the hugetlb pools of mm/hugetlb.c: one struct hstate per huge page size with the counters
// /proc/meminfo and /sys/kernel/mm/hugepages/hugepages-*kB/ show (nr_huge_pages, free_huge_pages,
// resv_huge_pages, surplus_huge_pages, nr_overcommit_huge_pages), its free list, fresh and surplus
// folios from the buddy allocator (htlb_alloc_mask(): movable unless gigantic), the global reservation
// count (hugetlb_acct_memory()), free_huge_folio() and the migration target of a hugetlb folio.
// Reservation maps and alloc_hugetlb_folio() live in hugetlb_resv.ts.

import { ORDER_MASK, PG_head, PG_hugetlb, PG_tail, PMD_ORDER, PUD_ORDER } from './memmap.js';
import type { Machine } from './machine.js';
import { ENOMEM } from '../uapi/errno.js';
import { kernel_init_pages } from './highmem.js';

// Hugetlb folio flags (enum hugetlb_page_flags, kept in folio->private). The model keeps them in the
// second tail page's index slot, which is otherwise unused (see memmap.ts).
const HPG_restore_reserve = 1 << 0;
const HPG_migratable = 1 << 1;
const HPG_temporary = 1 << 2;

/** Sizes by name, as machine configs and /sys/kernel/mm/hugepages/ list them. */
export const HUGETLB_SIZES: Record<'2M' | '1G', number> = { '2M': PMD_ORDER, '1G': PUD_ORDER };
export type HugetlbSize = keyof typeof HUGETLB_SIZES;

/** The counters of /sys/kernel/mm/hugepages/hugepages-<size>kB/, by file name. */
export type HugetlbCounters = {
  nr_hugepages: number;
  free_hugepages: number;
  resv_hugepages: number;
  surplus_hugepages: number;
  nr_overcommit_hugepages: number;
};

/** struct hstate: one pool. The counters are the kernel's; resv_huge_pages may go below zero (see there). */
export class Hstate {
  nr_huge_pages = 0;
  /**
   * Reserved, not yet allocated. An unsigned long in the kernel, which a fork child still mapping a
   * private page can make wrap below zero for a while (__unmap_hugepage_range() marks the page to
   * restore a reservation the owner's close already returned): kept signed here, shown as -1.
   */
  resv_huge_pages = 0;
  surplus_huge_pages = 0;
  nr_overcommit_huge_pages = 0;
  /** hugepage_freelists: free folios (refcount 0); enqueue and dequeue at the end (the list head). */
  readonly freelist: number[] = [];

  constructor(readonly order: number) {}

  get free_huge_pages(): number {
    return this.freelist.length;
  }
}

/** MAX_PAGE_ORDER of x86-64: the buddy allocator's largest block (the model's allocator goes further). */
const MAX_PAGE_ORDER = 10;

/** hstate_is_gigantic(): beyond the buddy allocator's largest block (1 GiB pages, from alloc_contig). */
export function hstate_is_gigantic(h: Hstate): boolean {
  return h.order > MAX_PAGE_ORDER;
}

/** available_huge_pages(): free pages nobody has reserved. */
export function available_huge_pages(h: Hstate): number {
  return h.free_huge_pages - h.resv_huge_pages;
}

export class HugetlbPool {
  readonly hstates = new Map<number, Hstate>([
    [PMD_ORDER, new Hstate(PMD_ORDER)],
    [PUD_ORDER, new Hstate(PUD_ORDER)],
  ]);

  constructor(private readonly m: Machine) {}

  hstate(order: number): Hstate {
    const h = this.hstates.get(order);
    if (!h) throw new RangeError(`no hugetlb size of order ${order}`);
    return h;
  }

  /** What sysfs shows for one size (resv_hugepages as a signed value: see Hstate). */
  counters(order: number): HugetlbCounters {
    const h = this.hstate(order);
    return {
      nr_hugepages: h.nr_huge_pages,
      free_hugepages: h.free_huge_pages,
      resv_hugepages: h.resv_huge_pages,
      surplus_hugepages: h.surplus_huge_pages,
      nr_overcommit_hugepages: h.nr_overcommit_huge_pages,
    };
  }

  nrFree(order: number): number {
    return this.hstate(order).free_huge_pages;
  }

  // --- folio flags ------------------------------------------------------------------------------

  private hpg(folio: number): number {
    return this.m.mem.index[folio + 2]!;
  }
  private setHpg(folio: number, bit: number, on: boolean): void {
    const mem = this.m.mem;
    mem.index[folio + 2] = on ? mem.index[folio + 2]! | bit : mem.index[folio + 2]! & ~bit;
  }
  folio_test_hugetlb_restore_reserve(folio: number): boolean {
    return (this.hpg(folio) & HPG_restore_reserve) !== 0;
  }
  folio_set_hugetlb_restore_reserve(folio: number, on = true): void {
    this.setHpg(folio, HPG_restore_reserve, on);
  }
  folio_test_hugetlb_migratable(folio: number): boolean {
    return (this.hpg(folio) & HPG_migratable) !== 0;
  }
  folio_set_hugetlb_migratable(folio: number, on = true): void {
    this.setHpg(folio, HPG_migratable, on);
  }
  folio_test_hugetlb_temporary(folio: number): boolean {
    return (this.hpg(folio) & HPG_temporary) !== 0;
  }
  folio_set_hugetlb_temporary(folio: number, on = true): void {
    this.setHpg(folio, HPG_temporary, on);
  }

  // --- growing the pool -------------------------------------------------------------------------

  /**
   * set_max_huge_pages() growing the pool (echo N > nr_hugepages): surplus pages become persistent
   * first, then fresh folios are allocated while they can be. Returns nr_huge_pages.
   */
  setPoolSize(order: number, count: number): number {
    const h = this.hstate(order);
    // adjust_pool_surplus(-1) while persistent_huge_pages(h) < count
    while (h.surplus_huge_pages > 0 && h.nr_huge_pages - h.surplus_huge_pages < count) h.surplus_huge_pages--;
    while (h.nr_huge_pages - h.surplus_huge_pages < count) {
      const folio = this.alloc_fresh_hugetlb_folio(h);
      if (folio < 0) break;
      h.nr_huge_pages++;
      this.enqueue_hugetlb_folio(h, folio);
    }
    return h.nr_huge_pages;
  }

  /** echo N > nr_overcommit_hugepages: how many surplus pages the pool may grow by. */
  setOvercommit(order: number, n: number): void {
    this.hstate(order).nr_overcommit_huge_pages = n;
  }

  /**
   * alloc_fresh_hugetlb_folio(): a new folio from the buddy allocator with htlb_alloc_mask(): non-gigantic
   * sizes may migrate (hugepage_movable_supported()), so they are allocated movable and can land in
   * ZONE_MOVABLE or CMA; gigantic ones are not. PF_MEMALLOC_PIN (memallocPin) keeps either out of
   * movable memory. Returns the head PFN, frozen (refcount 0, not yet counted), or -1.
   */
  private alloc_fresh_hugetlb_folio(h: Hstate): number {
    const m = this.m;
    const pfn = m.folio_alloc(h.order, !hstate_is_gigantic(h));
    if (pfn < 0) return -1;
    const mem = m.mem;
    mem.setFlag(pfn, PG_hugetlb);
    mem.refcount[pfn] = 0;
    mem.index[pfn + 2] = 0;
    return pfn;
  }

  /** update_and_free_hugetlb_folio(): give a folio that left the pool back to the buddy allocator. */
  private update_and_free_hugetlb_folio(folio: number): void {
    const order = this.m.mem.folio_order(folio);
    this.m.alloc.freeBlock(folio, order);
    this.m.vmstat.mod('nr_free_pages', 1 << order);
  }

  /** enqueue_hugetlb_folio(): onto the free list (refcount 0). */
  private enqueue_hugetlb_folio(h: Hstate, folio: number): void {
    this.m.mem.refcount[folio] = 0;
    h.freelist.push(folio);
  }

  /**
   * dequeue_hugetlb_folio_node_exact(): the most recently freed folio; under PF_MEMALLOC_PIN only a
   * longterm-pinnable one. Returns it with one reference and clean folio state, or -1.
   */
  dequeue_hugetlb_folio(h: Hstate): number {
    const pin = this.m.alloc.memallocPin > 0;
    for (let i = h.freelist.length - 1; i >= 0; i--) {
      const folio = h.freelist[i]!;
      if (pin && !this.pinnable(folio)) continue;
      h.freelist.splice(i, 1);
      this.prepare(folio);
      return folio;
    }
    return -1;
  }

  /** folio_is_longterm_pinnable() for a pool folio: not in a CMA pageblock nor in ZONE_MOVABLE. */
  private pinnable(folio: number): boolean {
    const area = this.m.alloc.areaOf(folio);
    return !area?.cma && area?.zone !== 'MOVABLE';
  }

  /** folio_ref_unfreeze(folio, 1) on a folio leaving the free list, with no mapping state left. */
  private prepare(folio: number): void {
    const mem = this.m.mem;
    mem.refcount[folio] = 1;
    mem.setPincount(folio, 0);
    mem.setEntireMapcount(folio, 0);
    mem.setLargeMapcount(folio, 0);
    mem.flags[folio] = mem.flags[folio]! & (PG_hugetlb | ORDER_MASK | PG_head);
    mem.mapping[folio] = 0;
    mem.index[folio] = 0;
    // Every user of a pool folio zeroes it (folio_zero_user() in hugetlb_no_page() and
    // memfd_alloc_folio()) or copies into it (hugetlb_wp(), fork, migration).
    kernel_init_pages(this.m, folio, 1 << (mem.flags[folio]! & ORDER_MASK));
  }

  // --- surplus pages and the global reservation count -----------------------------------------

  /**
   * alloc_surplus_hugetlb_folio(): a fresh folio beyond the persistent pool, while surplus_huge_pages
   * stays below nr_overcommit_hugepages. Returns it frozen and counted (nr and surplus), or -1.
   */
  alloc_surplus_hugetlb_folio(h: Hstate): number {
    if (h.surplus_huge_pages >= h.nr_overcommit_huge_pages) return -1;
    const folio = this.alloc_fresh_hugetlb_folio(h);
    if (folio < 0) return -1;
    h.nr_huge_pages++;
    h.surplus_huge_pages++;
    return folio;
  }

  /**
   * gather_surplus_pages(): grow the pool with surplus pages until the free pages cover the
   * reservations plus delta, then reserve delta. 0, or -ENOMEM (nothing kept) when it cannot.
   */
  private gather_surplus_pages(h: Hstate, delta: number): number {
    const needed = h.resv_huge_pages + delta - h.free_huge_pages;
    if (needed <= 0) {
      h.resv_huge_pages += delta;
      return 0;
    }
    const got: number[] = [];
    for (let i = 0; i < needed; i++) {
      const folio = this.alloc_surplus_hugetlb_folio(h);
      if (folio < 0) break;
      got.push(folio);
    }
    if (got.length < needed) {
      // Not enough for the whole reservation: what was allocated goes back (free_huge_folio()).
      for (const folio of got) this.free_huge_folio(folio);
      return -ENOMEM;
    }
    h.resv_huge_pages += delta;
    for (const folio of got) this.enqueue_hugetlb_folio(h, folio);
    return 0;
  }

  /**
   * return_unused_surplus_pages(): drop unused reservations and free up to as many surplus pages
   * (free ones only) back to the buddy allocator.
   */
  private return_unused_surplus_pages(h: Hstate, unused: number): void {
    h.resv_huge_pages -= unused;
    let n = Math.min(unused, h.surplus_huge_pages);
    while (n-- > 0) {
      const folio = h.freelist.pop();
      if (folio === undefined) return;
      h.nr_huge_pages--;
      h.surplus_huge_pages--;
      this.update_and_free_hugetlb_folio(folio);
    }
  }

  /**
   * hugetlb_acct_memory(): take (delta > 0) or return (delta < 0) global reservations. Returns 0 or
   * -ENOMEM when the free pages, grown by surplus pages as far as overcommit allows, cannot cover them.
   */
  hugetlb_acct_memory(order: number, delta: number): number {
    const h = this.hstate(order);
    if (delta > 0) {
      if (this.gather_surplus_pages(h, delta) < 0) return -ENOMEM;
      // allowed_mems_nr(): the free pages of the nodes the task may use (one node, no cpuset here).
      if (delta > h.free_huge_pages) {
        this.return_unused_surplus_pages(h, delta);
        return -ENOMEM;
      }
    } else if (delta < 0) {
      this.return_unused_surplus_pages(h, -delta);
    }
    return 0;
  }

  // --- freeing ----------------------------------------------------------------------------------

  /**
   * free_huge_folio(): the last reference is gone. A folio that consumed a reservation it must give
   * back (restore_reserve) restores it; a temporary folio or, while the pool has surplus pages, any
   * folio leaves the pool for the buddy allocator; the others go back on the free list.
   */
  free_huge_folio(folio: number): void {
    const mem = this.m.mem;
    const h = this.hstate(mem.folio_order(folio));
    const restore = this.folio_test_hugetlb_restore_reserve(folio);
    const temporary = this.folio_test_hugetlb_temporary(folio);
    mem.index[folio + 2] = 0;
    mem.flags[folio] = mem.flags[folio]! & (PG_hugetlb | ORDER_MASK | PG_head);
    const n = 1 << (mem.flags[folio]! & ORDER_MASK);
    for (let i = 1; i < n; i++) mem.flags[folio + i] = PG_tail;
    mem.mapping[folio] = 0;
    if (restore) h.resv_huge_pages++;
    if (temporary || h.surplus_huge_pages > 0) {
      // remove_hugetlb_folio(): a temporary folio was never counted as surplus.
      h.nr_huge_pages--;
      if (!temporary) h.surplus_huge_pages--;
      this.update_and_free_hugetlb_folio(folio);
      return;
    }
    this.enqueue_hugetlb_folio(h, folio);
  }

  // --- other allocations ------------------------------------------------------------------------

  /**
   * alloc_hugetlb_folio_nodemask(), the migration target of a hugetlb folio (alloc_migration_target()):
   * an unreserved free folio if the pool has one (under PF_MEMALLOC_PIN a pinnable one), else a fresh
   * temporary folio from the buddy allocator (alloc_migrate_hugetlb_folio(), never for gigantic
   * sizes), which is not surplus: after the migration the source folio takes over the temporary state
   * (move_hugetlb_state()) and leaves the pool when freed. Returns the folio (refcount 1) or -1.
   */
  alloc_hugetlb_folio_nodemask(order: number): number {
    const h = this.hstate(order);
    if (available_huge_pages(h) > 0) {
      const folio = this.dequeue_hugetlb_folio(h);
      if (folio >= 0) return folio;
    }
    if (hstate_is_gigantic(h)) return -1;
    const folio = this.alloc_fresh_hugetlb_folio(h);
    if (folio < 0) return -1;
    h.nr_huge_pages++;
    this.prepare(folio);
    this.folio_set_hugetlb_temporary(folio);
    return folio;
  }

  /**
   * alloc_hugetlb_folio_reserve() (memfd_alloc_folio()): a free folio taken against a reservation the
   * caller made. Returns the folio (refcount 1) or -1 when nothing is reserved or free.
   */
  alloc_hugetlb_folio_reserve(order: number): number {
    const h = this.hstate(order);
    if (h.resv_huge_pages <= 0) return -1;
    const folio = this.dequeue_hugetlb_folio(h);
    if (folio >= 0) h.resv_huge_pages--;
    return folio;
  }

  /** alloc_buddy_hugetlb_folio_with_mpol(): a surplus folio for a fault, with one reference, or -1. */
  alloc_buddy_hugetlb_folio_with_mpol(h: Hstate): number {
    const folio = this.alloc_surplus_hugetlb_folio(h);
    if (folio >= 0) this.prepare(folio);
    return folio;
  }
}
