// Models the hugetlb pools of mm/hugetlb.c: nr_hugepages per size, free folios (refcount 0),
// reservations taken at mmap time, and allocation for faults (with a reservation) and for fork's
// copy of a pinned page (without one: alloc_hugetlb_folio() may then fail).

import { NO_FOLIO, ORDER_MASK, PG_head, PG_hugetlb, PG_tail, PMD_ORDER, PUD_ORDER } from './memmap.js';
import type { Machine } from './machine.js';

export interface HstatePool {
  order: number;
  free: number[];
  nr: number;
  resv: number;
}

export class HugetlbPool {
  readonly hstates = new Map<number, HstatePool>([
    [PMD_ORDER, { order: PMD_ORDER, free: [], nr: 0, resv: 0 }],
    [PUD_ORDER, { order: PUD_ORDER, free: [], nr: 0, resv: 0 }],
  ]);

  constructor(private readonly m: Machine) {}

  hstate(order: number): HstatePool {
    const h = this.hstates.get(order);
    if (!h) throw new RangeError(`no hugetlb size of order ${order}`);
    return h;
  }

  /** echo N > nr_hugepages: grow the pool from non-movable memory (as many as fit). */
  setPoolSize(order: number, n: number): number {
    const h = this.hstate(order);
    while (h.nr < n) {
      const pfn = this.m.folio_alloc(order, false);
      if (pfn === NO_FOLIO) break;
      this.m.mem.setFlag(pfn, PG_hugetlb);
      this.m.mem.refcount[pfn] = 0; // free hugetlb folios hold no reference
      h.free.push(pfn);
      h.nr++;
    }
    return h.nr;
  }

  /** hugetlb_reserve_pages(): mmap reserves the pages it may fault; false if the pool is short. */
  reserve(order: number, pages: number): boolean {
    const h = this.hstate(order);
    if (h.free.length - h.resv < pages) return false;
    h.resv += pages;
    return true;
  }

  unreserve(order: number, pages: number): void {
    const h = this.hstate(order);
    h.resv = Math.max(0, h.resv - pages);
  }

  /**
   * alloc_hugetlb_folio(): take a free folio, consuming a reservation when `useReserve`.
   * Without one only unreserved folios may be used. Returns the PFN (refcount 1) or NO_FOLIO.
   */
  alloc(order: number, useReserve: boolean): number {
    const h = this.hstate(order);
    if (useReserve && h.resv > 0) h.resv--;
    else if (h.free.length - h.resv <= 0) return NO_FOLIO;
    const pfn = h.free.pop();
    if (pfn === undefined) return NO_FOLIO;
    const mem = this.m.mem;
    mem.refcount[pfn] = 1;
    mem.setPincount(pfn, 0);
    mem.setEntireMapcount(pfn, 0);
    mem.refcount[pfn + 2] = 0;
    mem.flags[pfn] = mem.flags[pfn]! & (PG_hugetlb | ORDER_MASK | PG_head);
    mem.mapping[pfn] = 0;
    mem.index[pfn] = 0;
    return pfn;
  }

  /** free_huge_folio(): back to the pool. */
  free(pfn: number): void {
    const order = this.m.mem.folio_order(pfn);
    const mem = this.m.mem;
    const n = 1 << order;
    mem.flags[pfn] = mem.flags[pfn]! & (PG_hugetlb | ORDER_MASK | PG_head);
    for (let i = 1; i < n; i++) mem.flags[pfn + i] = PG_tail;
    mem.mapping[pfn] = 0;
    this.hstate(order).free.push(pfn);
  }

  nrFree(order: number): number {
    return this.hstate(order).free.length;
  }
}
