// Models mm/page_alloc.c: zones, the buddy allocator (free lists per order, buddies merged on free),
// MIGRATE_CMA pageblocks, the zone fallback order of GFP_HIGHUSER_MOVABLE, and PF_MEMALLOC_PIN
// (memalloc_pin_save) which keeps allocations out of ZONE_MOVABLE and CMA.
// Free lists are linked through the free head page's index (next) and mapcount (prev) slots, as the
// kernel links free pages through page->buddy_list.

import {
  FOLIO_FIELD_PAGES,
  MemMap,
  MAX_ORDER,
  NO_PFN,
  ORDER_MASK,
  PG_buddy,
  PG_head,
  PG_tail,
  type ZoneName,
} from './memmap.js';

export interface Area {
  readonly zone: ZoneName;
  readonly cma: boolean;
  readonly start: number;
  readonly end: number;
  readonly heads: Int32Array; // free list head per order, -1 empty
  free: number; // free pages
}

/** What the caller may allocate from: the model's GFP mask. */
export interface Gfp {
  /** __GFP_MOVABLE: may use ZONE_MOVABLE and CMA pageblocks. */
  movable: boolean;
  /** Allocate from ZONE_DEVICE (fsdax pmem); nothing else. */
  device?: boolean;
}

export const GFP_HIGHUSER_MOVABLE: Gfp = { movable: true };
export const GFP_USER: Gfp = { movable: false };
export const GFP_DEVICE: Gfp = { movable: false, device: true };

/** A scheduled allocation failure, so tests can reach the ENOMEM paths. */
export interface FailureInjection {
  /** Let this many allocations succeed first. */
  after: number;
  /** Then fail this many (Infinity: all). */
  times: number;
  /** Only allocations of at least this order count. */
  minOrder?: number;
}

/** Folios up to this many pages are cleared and prepared by a loop, larger ones by fill() (memset). */
const SMALL_FILL = 64;

export class PageAllocator {
  readonly areas: Area[] = [];
  private inject: FailureInjection | undefined;
  /** Allocations the injection has counted (read and put back only by the explorer's journal going back). */
  injectSeen = 0;
  /** PF_MEMALLOC_PIN nesting depth: while > 0 movable allocations avoid MOVABLE and CMA. */
  memallocPin = 0;
  allocations = 0;
  /**
   * Told of every run of frames whose struct pages the allocator writes (handed out, freed, split or
   * merged, linked into a free list): how the race explorer's state store knows which pages can change
   * without comparing all of them (tools/explore/journal.ts). No kernel counterpart.
   */
  onTouch: ((pfn: number, nr: number) => void) | undefined = undefined;

  constructor(readonly mem: MemMap) {}

  addArea(zone: ZoneName, start: number, end: number, cma = false): void {
    if (end <= start) return;
    const area: Area = { zone, cma, start, end, heads: new Int32Array(MAX_ORDER + 1).fill(NO_PFN), free: 0 };
    this.areas.push(area);
    this.byZone.clear();
    this.zonelists = [undefined, undefined, undefined];
    // Seed with maximal naturally aligned blocks.
    let pfn = start;
    while (pfn < end) {
      let order = MAX_ORDER;
      while (order > 0 && ((pfn & ((1 << order) - 1)) !== 0 || pfn + (1 << order) > end)) order--;
      this.pushFree(area, pfn, order);
      pfn += 1 << order;
    }
  }

  private byZone = new Map<ZoneName, { plain: Area[]; cma: Area[] }>();

  private zoneAreas(z: ZoneName): { plain: Area[]; cma: Area[] } {
    let e = this.byZone.get(z);
    if (!e) {
      e = {
        plain: this.areas.filter((a) => a.zone === z && !a.cma),
        cma: this.areas.filter((a) => a.zone === z && a.cma),
      };
      this.byZone.set(z, e);
    }
    return e;
  }

  /** The area of the last areaOf() hit: GUP asks about runs of neighbouring pages. Areas never move. */
  private lastArea: Area | undefined;

  areaOf(pfn: number): Area | undefined {
    const last = this.lastArea;
    if (last !== undefined && pfn >= last.start && pfn < last.end) return last;
    for (const a of this.areas) {
      if (pfn >= a.start && pfn < a.end) {
        this.lastArea = a;
        return a;
      }
    }
    return undefined;
  }

  zoneOf(pfn: number): ZoneName {
    return this.areaOf(pfn)?.zone ?? 'DMA32';
  }

  /** get_pageblock_migratetype() == MIGRATE_CMA. */
  is_migrate_cma_page(pfn: number): boolean {
    return this.areaOf(pfn)?.cma ?? false;
  }

  /** The last allocation that failed: its order and whether fail_alloc made it fail (for `why`). */
  lastFailure: { order: number; injected: boolean } | undefined;

  setFailureInjection(inj: FailureInjection | undefined): void {
    this.inject = inj;
    this.injectSeen = 0;
  }

  nr_free_pages(): number {
    let n = 0;
    for (const a of this.areas) if (a.zone !== 'DEVICE') n += a.free;
    return n;
  }

  /**
   * Allocate a block of 2^order pages; returns its first PFN or NO_PFN (the caller turns that into
   * ENOMEM / VM_FAULT_OOM). The pages are left zeroed, with refcount 0: prep is the caller's.
   * @see mm/page_alloc.c __alloc_pages(): zonelist fallback MOVABLE -> NORMAL -> DMA32.
   */
  allocBlock(order: number, gfp: Gfp): number {
    if (this.inject && order >= (this.inject.minOrder ?? 0)) {
      this.injectSeen++;
      if (this.injectSeen > this.inject.after && this.injectSeen <= this.inject.after + this.inject.times) {
        this.lastFailure = { order, injected: true };
        return NO_PFN;
      }
    }
    this.allocations++;
    for (const area of this.candidates(gfp, order)) {
      const pfn = this.takeFrom(area, order);
      if (pfn !== NO_PFN) return pfn;
    }
    this.lastFailure = { order, injected: false };
    return NO_PFN;
  }

  /**
   * The areas to try, in order (the zonelist). Built eagerly: takeFrom() changes nothing when it
   * fails, so this is the order a lazy walk would see. Without CMA areas in play the list never
   * changes, so it is cached (by kind: 0 kernel, 1 movable, 2 device; addArea() resets it) — one
   * allocation per fault must not build lists or run a generator.
   */
  private candidates(gfp: Gfp, order: number): readonly Area[] {
    const movable = !gfp.device && gfp.movable && this.memallocPin === 0;
    const kind = gfp.device ? 2 : movable ? 1 : 0;
    const cached = this.zonelists[kind];
    if (cached) return cached;
    if (gfp.device) return (this.zonelists[2] = this.areas.filter((a) => a.zone === 'DEVICE'));
    const zones: ZoneName[] = movable ? ['MOVABLE', 'NORMAL', 'DMA32'] : ['NORMAL', 'DMA32'];
    const out: Area[] = [];
    let dependsOnFree = false;
    for (const z of zones) {
      const byZone = this.zoneAreas(z);
      const plain = byZone.plain;
      if (!movable || byZone.cma.length === 0) {
        out.push(...plain);
        continue;
      }
      const cma = byZone.cma;
      dependsOnFree = true;
      // __rmqueue(): movable allocations take CMA first once CMA holds over half the zone's free pages.
      const cmaFree = cma.reduce((s, a) => s + a.free, 0);
      const plainFree = plain.reduce((s, a) => s + a.free, 0);
      const cmaFirst = cmaFree > (cmaFree + plainFree) / 2 && cmaFree >= 1 << order;
      out.push(...(cmaFirst ? [...cma, ...plain] : [...plain, ...cma]));
    }
    if (!dependsOnFree) this.zonelists[kind] = out;
    return out;
  }

  /** candidates() lists that do not depend on free counts, by kind (see there). */
  private zonelists: (readonly Area[] | undefined)[] = [undefined, undefined, undefined];

  private takeFrom(area: Area, order: number): number {
    let o = order;
    while (o <= MAX_ORDER && area.heads[o] === NO_PFN) o++;
    if (o > MAX_ORDER) return NO_PFN;
    const pfn = area.heads[o]!;
    this.onTouch?.(pfn, 1 << order);
    this.unlinkFree(area, pfn, o);
    // expand(): hand back the upper halves.
    while (o > order) {
      o--;
      this.pushFree(area, pfn + (1 << o), o);
    }
    const m = this.mem;
    m.flags[pfn] = 0;
    m.index[pfn] = 0;
    m.mapcount[pfn] = 0;
    return pfn;
  }

  /**
   * __free_pages(): return a block to the buddy lists, merging with free buddies. A free block keeps
   * nothing but its head's buddy fields, so the next prepNewFolio() need not clear it. Like
   * free_pages_prepare(), a large block clears what a folio can have left behind: every page's flags
   * (PG_tail, PageAnonExclusive), mapcount and mapping (a tail's compound_head), and the folio fields
   * of the head and the first tails (_pincount, _entire_mapcount, _large_mapcount); other tail slots
   * hold nothing in a folio.
   */
  freeBlock(pfn: number, order: number): Area {
    const area = this.areaOf(pfn);
    if (!area) throw new Error(`gupsim bug: free of pfn ${pfn} outside every zone`);
    const m = this.mem;
    const flags = m.flags;
    const mapcount = m.mapcount;
    const mapping = m.mapping;
    const n = 1 << order;
    this.onTouch?.(pfn, n);
    if (n === 1) {
      flags[pfn] = 0;
      m.refcount[pfn] = 0;
      mapcount[pfn] = 0;
      mapping[pfn] = 0;
      m.index[pfn] = 0;
    } else {
      const last = pfn + n;
      if (n <= SMALL_FILL) {
        // An mTHP: a loop (by 8-byte words) beats three calls into the fill builtin.
        m.clearPageFields(pfn, n);
      } else {
        flags.fill(0, pfn, last);
        mapcount.fill(0, pfn, last);
        mapping.fill(0, pfn, last);
      }
      // The folio fields (order >= 2: the head and two tails hold them).
      const fieldsEnd = pfn + (n < FOLIO_FIELD_PAGES ? n : FOLIO_FIELD_PAGES);
      for (let i = pfn; i < fieldsEnd; i++) {
        m.refcount[i] = 0;
        m.index[i] = 0;
      }
    }
    const start = area.start;
    const end = area.end;
    while (order < MAX_ORDER) {
      const size = 1 << order;
      const buddy = pfn ^ size;
      if (buddy < start || buddy + size > end) break;
      const bf = flags[buddy]!;
      if (!(bf & PG_buddy) || (bf & ORDER_MASK) !== order) break;
      this.unlinkFree(area, buddy, order);
      this.onTouch?.(buddy, 1);
      flags[buddy] = 0;
      m.index[buddy] = 0;
      m.mapcount[buddy] = 0;
      if (buddy < pfn) pfn = buddy;
      order++;
    }
    this.pushFree(area, pfn, order);
    return area;
  }

  private pushFree(area: Area, pfn: number, order: number): void {
    const m = this.mem;
    const head = area.heads[order]!;
    this.onTouch?.(pfn, 1);
    if (head !== NO_PFN) this.onTouch?.(head, 1);
    m.flags[pfn] = PG_buddy | order;
    m.index[pfn] = head + 1; // next (+1, 0 = none)
    m.mapcount[pfn] = NO_PFN; // prev
    if (head !== NO_PFN) m.mapcount[head] = pfn;
    area.heads[order] = pfn;
    area.free += 1 << order;
  }

  private unlinkFree(area: Area, pfn: number, order: number): void {
    const m = this.mem;
    const next = m.index[pfn]! - 1;
    const prev = m.mapcount[pfn]!;
    if (prev !== NO_PFN) this.onTouch?.(prev, 1);
    if (next !== NO_PFN) this.onTouch?.(next, 1);
    if (prev !== NO_PFN) m.index[prev] = next + 1;
    else area.heads[order] = next;
    if (next !== NO_PFN) m.mapcount[next] = prev;
    area.free -= 1 << order;
  }

  /** True when pfn is the head of a free buddy block. */
  isFreeHead(pfn: number): boolean {
    return (this.mem.flags[pfn]! & PG_buddy) !== 0;
  }

  /** is_free_buddy_page(): pfn lies in a free buddy block (its head or inside it). */
  is_free_buddy_page(pfn: number): boolean {
    const flags = this.mem.flags;
    for (let order = 0; order <= MAX_ORDER; order++) {
      const head = pfn - (pfn & ((1 << order) - 1));
      const f = flags[head]!;
      if (f & PG_buddy && (f & ORDER_MASK) >= order) return true;
    }
    return false;
  }
}

/** prep_new_page() + prep_compound_page(): turn a fresh block into a folio with one reference. A
 * block from the buddy allocator is clear (see freeBlock()), so only the head and the tails' PG_tail
 * and compound_head (the folio order, in the mapping slot) are written, the latter at memset speed. */
export function prepNewFolio(mem: MemMap, pfn: number, order: number): void {
  mem.refcount[pfn] = 1;
  if (order > 0) {
    mem.flags[pfn] = PG_head | order;
    // prep_compound_head(): the folio fields start from zero (_pincount, _large_mapcount,
    // _entire_mapcount), whatever a stale reference left in those words while the pages were free.
    mem.refcount[pfn + 1] = 0;
    mem.index[pfn + 1] = 0;
    if (order > 1) {
      mem.refcount[pfn + 2] = 0;
      mem.index[pfn + 2] = 0;
    }
    const end = pfn + (1 << order);
    // prep_compound_tail(): PG_tail, and the way to the head (the order, in the mapping slot).
    if (1 << order <= SMALL_FILL) {
      for (let i = pfn + 1; i < end; i++) {
        mem.flags[i] = PG_tail;
        mem.mapping[i] = order;
      }
    } else {
      mem.flags.fill(PG_tail, pfn + 1, end);
      mem.mapping.fill(order, pfn + 1, end);
    }
  }
}
