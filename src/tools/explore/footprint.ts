// Footprints: what an atomic point of the race explorer may read and write (no kernel counterpart). They
// define the dependency relation of the explorer's partial-order reduction (explorer.ts, sleep sets):
// two points are independent when neither writes a resource the other reads or writes. Every resource a
// point's effect or its enabledness depends on is in its read set (a point whose lock may be taken
// reads that mm's LOCK resource), and every resource it may change is in its write set, so two
// independent points run in either order from one state reach the same state, and neither enables or
// disables the other. Resources are coarse, which keeps the relation simple to check:
//   FRAMES   every page's state (struct page, contents), the page allocator, the PTE slab's allocation,
//            vmstat, the LRU batches, the WARN and misuse logs (kept as counts in the state);
//   HANDLES  the scenario's handles (what GUP steps hand back, rings);
//   per mm:  PT (its page tables), FIELDS (write_protect_seq, MMF_HAS_PINNED, RSS, locked/pinned_vm)
//            and LOCK (its mmap_lock, page-table lock, GUP-fast's IRQs-off count, migration entries).
// A point that may touch anything else (a process made or ended, VMAs changed, an MMU notifier called,
// any step the explorer runs whole) says `all`, which depends on every other point.

import { PTRS_PER_PTE } from '../../mm/pgtable.js';

export const R_FRAMES = 1 << 0;
export const R_HANDLES = 1 << 1;
const MM_BASE_SHIFT = 2;
const MM_KINDS = 3;
/** Per-mm resources exist for this many processes (slots); a point on any other says `all`. */
export const MAX_MM_SLOTS = 9;
/** A process without a slot. */
export const NO_SLOT = -1;

export const MM_PT = 0;
export const MM_FIELDS = 1;
export const MM_LOCK = 2;

/** The resource bit of `kind` (MM_PT, MM_FIELDS, MM_LOCK) of the mm in slot `slot`. */
export function mmRes(slot: number, kind: number): number {
  return 1 << (MM_BASE_SHIFT + slot * MM_KINDS + kind);
}

/** Every per-mm resource of every slot. */
export const R_ALL_MMS = ((1 << (MM_BASE_SHIFT + MAX_MM_SLOTS * MM_KINDS)) - 1) & ~(R_FRAMES | R_HANDLES);
/** Every mm's lock, and every mm's fields and page tables (all but the locks). */
export const R_MM_LOCKS = Array.from({ length: MAX_MM_SLOTS }, (_, i) => mmRes(i, MM_LOCK)).reduce((a, b) => a | b, 0);
export const R_MM_STATE = R_ALL_MMS & ~R_MM_LOCKS;

/**
 * The struct-page arrays a named frame range may write (Footprint.frames()): fork's share of a batch writes
 * each page's mapcount and PageAnonExclusive only (the folio's own counts are named apart, as its fields).
 */
export const FRAME_REFCOUNT = 1 << 0;
export const FRAME_MAPCOUNT = 1 << 1;
export const FRAME_INDEX = 1 << 2;
export const FRAME_FLAGS = 1 << 3;
export const FRAME_MAPPING = 1 << 4;
export const FRAME_ALL = FRAME_REFCOUNT | FRAME_MAPCOUNT | FRAME_INDEX | FRAME_FLAGS | FRAME_MAPPING;

/**
 * What a point may read (r) and write (w), as resource bits; `all`: it may touch anything. A point that
 * writes FRAMES may also name the frames it may write (frames()): the journal then compares only those
 * and the ones the page allocator reports touching, not every frame in use; and one that writes page
 * tables the PTE tables (or entries of them) it may write (table()), besides those it allocates or frees
 * (the slab reports them: PteSlab.onSlot). Neither is part of the dependency relation: the journal's
 * verify mode checks each such list against a compare of everything.
 */
export class Footprint {
  all = true;
  r = 0;
  w = 0;
  /**
   * The footprint of the point about to run, which the journal reads the named frames and tables of (a
   * sleep set's footprints need none: ops name them only here).
   */
  forJournal = false;
  /** Whether framesAt lists every frame the point may write outside the allocator (else: any frame). */
  framesNamed = false;
  /** The frames named: (first, count, FRAME_* arrays) triples, nFrames of them. */
  framesAt = new Int32Array(24);
  nFrames = 0;
  /** Whether tablesAt lists every PTE table the point may write (else: any table). */
  tablesNamed = false;
  tablesAt: Uint32Array[] = [];
  /** Per table named, the first entry and how many from it the point may write. */
  tableFirst = new Int32Array(8);
  tableCount = new Int32Array(8);
  nTables = 0;
  /**
   * For the journal: the resources the point writes, where that is less than the footprint the reduction
   * orders it by says (`all`, or page state a point will not touch this time): which parts of the hot state
   * the journal saves before it and the state hash takes again after. -1: the footprint's (anything, for `all`).
   */
  journalW = -1;
  /** Anything at all. */
  any(): void {
    this.all = true;
    this.r = this.w = 0;
    this.journalW = -1;
    this.framesNamed = this.tablesNamed = false;
  }
  /** Exactly these reads and writes (a slot of NO_SLOT makes it `all`). */
  set(r: number, w: number): void {
    this.all = false;
    this.r = r;
    this.w = w;
    this.journalW = -1;
    this.framesNamed = this.tablesNamed = false;
  }
  /** From now on the point writes no frame but those named by frames() (and the allocator's). */
  namesFrames(): void {
    this.framesNamed = true;
    this.nFrames = 0;
  }
  /** Frames [first, first + count) may be written (after namesFrames()): in the arrays `arrays` (FRAME_*). */
  frames(first: number, count: number, arrays = FRAME_ALL): void {
    if (3 * this.nFrames === this.framesAt.length) {
      const a = new Int32Array(this.framesAt.length * 2);
      a.set(this.framesAt);
      this.framesAt = a;
    }
    const at = 3 * this.nFrames++;
    this.framesAt[at] = first;
    this.framesAt[at + 1] = count;
    this.framesAt[at + 2] = arrays;
  }
  /**
   * In a PTE table the point allocates, the entries [newFirst, newFirst + newCount) it may write (a fault
   * maps its page, or its mTHP's pages, in the table it allocates): every entry unless newEntries() says.
   */
  newFirst = 0;
  newCount = PTRS_PER_PTE;
  /** Whether newEntries() has named a range, or anyNewEntry() said every entry (later ranges widen none). */
  private newNamed = false;
  private newAll = false;
  /** From now on the point writes no PTE table but those named by table() and those it allocates or frees. */
  namesTables(): void {
    this.tablesNamed = true;
    this.nTables = 0;
    this.newFirst = 0;
    this.newCount = PTRS_PER_PTE;
    this.newNamed = this.newAll = false;
  }
  /**
   * In a table the point allocates, it writes entries [first, first + count) at most, besides any ranges
   * named before (after namesTables(): the smallest range covering them all).
   */
  newEntries(first: number, count: number): void {
    if (this.newAll) return;
    if (this.newNamed) {
      const end = Math.max(this.newFirst + this.newCount, first + count);
      first = Math.min(this.newFirst, first);
      count = end - first;
    }
    this.newNamed = true;
    this.newFirst = first;
    this.newCount = count;
  }
  /** In a table the point allocates, any entry may be written (whatever else names a range). */
  anyNewEntry(): void {
    this.newAll = true;
    this.newFirst = 0;
    this.newCount = PTRS_PER_PTE;
  }
  /** Entries [first, first + count) of PTE table t may be written (after namesTables()); all by default. */
  table(t: Uint32Array, first = 0, count = t.length): void {
    if (this.nTables === this.tableFirst.length) {
      const f = new Int32Array(2 * this.nTables);
      f.set(this.tableFirst);
      this.tableFirst = f;
      const c = new Int32Array(2 * this.nTables);
      c.set(this.tableCount);
      this.tableCount = c;
    }
    this.tableFirst[this.nTables] = first;
    this.tableCount[this.nTables] = count;
    this.tablesAt[this.nTables++] = t;
  }
}

/** Whether two points commute: neither is `all`, and neither writes what the other reads or writes. */
export function independent(a: Footprint, b: Footprint): boolean {
  if (a.all || b.all) return false;
  return (a.w & (b.r | b.w)) === 0 && (b.w & a.r) === 0;
}
