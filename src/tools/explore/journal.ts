// The race explorer's journal (no kernel counterpart): it runs the search forward and back without
// copying the machine at every state. Before each atomic point it records what the point may change
// (the "hot" state: counters, the allocator's list heads, each mm's fields and page-table directory, the
// locks, the threads' progress and each op's own fields); after the point it compares the page state
// (struct pages, contents, PTE tables) with its shadow copy and logs every word that changed, with its
// old value. Going back replays the log backwards and puts the hot state back. A point that may change
// anything else (structural(): a process made or ended, VMAs, files, handles, a whole scenario step)
// takes a snapshot of the machine's object graph (mm/snapshot.ts, without the page state, which the
// compare logs for every point) instead.
//
// Which pages can change: those in use when the search starts, and those the allocator hands out, frees,
// splits or links (PageAllocator.onTouch) -- a free page nobody allocates is never written. The compare
// runs over that set only; for a point whose footprint names the frames it may write (fork's copy of a
// PTE, GUP-fast's grab: Footprint.frames()), over those, the frames the allocator touched during the point
// and the folios of the LRU batches (which a point may drain) only. The page-state part of the state hash
// (state.ts) is kept up to date here from the same compares: per word, a mix of its index and value, summed
// (state_hash.ts); PTE tables get a sum of their own, by slot, so a table hashes by its contents wherever
// the slab put it.
//
// `verify` (tests): after every point, the whole page state is compared too (a change outside the set, or
// outside the frames a point named, is a gupsim bug), and after every step back the machine is compared
// with a snapshot taken before the point (anything the hot state missed is a gupsim bug).

import type { Machine } from '../../mm/machine.js';
import type { Process } from '../../mm/task.js';
import type { AnonVma, MmStruct, Vma } from '../../mm/mm_types.js';
import { AddressSpace } from '../../mm/fs.js';
import type { PmdSlot } from '../../mm/pgtable.js';
import { FOLIO_FIELD_PAGES, PG_buddy, ORDER_MASK, ZERO_PFN } from '../../mm/memmap.js';
import { FOLIO_SERIAL } from '../../mm/machine.js';
import { snapshotMachine, restoreMachine, type MachineSnapshot } from '../../mm/snapshot.js';
import { laneA, laneB } from './state_hash.js';
import { LaneMemo, MEMO_POOL, MEMO_SLAB } from './lane_memo.js';
import type { Locks } from './locks.js';
import { PinHandle, type RunContext as Ctx } from '../../scenario/context.js';
import type { Holder } from '../../consumers/holder.js';
import type { Thread } from './state.js';
import { SavedList, SavedMap, SavedSet } from './saved.js';
import { Copies, restoreOwned, saveOwned } from './owned.js';
import {
  Footprint,
  FRAME_ALL,
  FRAME_FLAGS,
  FRAME_INDEX,
  FRAME_MAPCOUNT,
  FRAME_MAPPING,
  FRAME_REFCOUNT,
  R_FRAMES,
  R_HANDLES,
  R_MM_LOCKS,
  R_MM_STATE,
  MAX_MM_SLOTS,
  MM_PT,
  mmRes,
} from './footprint.js';

/** One mTHP order's fault counters (Vmstat.mthp). */
type MthpStat = Machine['vmstat']['mthp'] extends Map<number, infer S> ? S : never;

/** Every mm's page tables. */
const R_MM_TABLES = Array.from({ length: MAX_MM_SLOTS }, (_, i) => mmRes(i, MM_PT)).reduce((a, b) => a | b, 0);

/** Words of one PTE table (PTRS_PER_PTE). */
const TABLE_WORDS = 512;
/** The hash lanes' mixes of each slot of a PTE table holding no entry (fork fills new tables, munmap clears). */
const EMPTY_A = Int32Array.from({ length: TABLE_WORDS }, (_, i) => laneA(i, 0));
const EMPTY_B = Int32Array.from({ length: TABLE_WORDS }, (_, i) => laneB(i, 0));

/** The per-page arrays the journal watches, by id in the log. */
const A_REFCOUNT = 0;
const A_MAPCOUNT = 1;
const A_INDEX = 2;
const A_FLAGS = 3;
const A_MAPPING = 4;
/** Extra arrays (contents...) take ids from A_EXTRA up; PTE-slab words are A_SLAB. */
const A_EXTRA = 5;
const A_SLAB = 1000;
/** A PTE table's hash lanes (by slab slot) before a point changed it: put back whole on a step back. */
const A_SLOT_A = 1001;
const A_SLOT_B = 1002;
/**
 * A run of words changed together (fork's copy of a batch of PTEs changes every page's mapcount and flags,
 * and every entry of two tables): one entry for the run, its old words kept in Log.saved. A_POOL_RUN: words
 * of MemMap.pool (index: the first word); A_SLAB_RUN: words of the PTE slab.
 */
const A_POOL_RUN = 1003;
const A_SLAB_RUN = 1004;
/** The FRAME_* bit of each word array (refcount, mapcount, index) and each half array (flags, mapping). */
const WORD_ARRAYS = [FRAME_REFCOUNT, FRAME_MAPCOUNT, FRAME_INDEX];
const HALF_ARRAYS = [FRAME_FLAGS, FRAME_MAPPING];
/** A compare logs the words it found changed as one run when there are at least this many... */
const RUN_MIN = 8;
/** ...and the run (first to last changed word) is at most this many times as long as their number. */
const RUN_SPREAD = 8;

/** A growable log of (array, index, old value) entries. */
class Log {
  arr = new Int32Array(4096);
  idx = new Int32Array(4096);
  old = new Int32Array(4096);
  n = 0;
  /** The old words of the runs logged (A_POOL_RUN, A_SLAB_RUN): at a run's `old`, its length, then its words. */
  saved = new Int32Array(4096);
  savedN = 0;
  push(a: number, i: number, o: number): void {
    if (this.n === this.arr.length) {
      const grow = (x: Int32Array) => {
        const y = new Int32Array(x.length * 2);
        y.set(x);
        return y;
      };
      this.arr = grow(this.arr);
      this.idx = grow(this.idx);
      this.old = grow(this.old);
    }
    this.arr[this.n] = a;
    this.idx[this.n] = i;
    this.old[this.n++] = o;
  }
  /** Log run `a` of words [w0, w1) of `from` (their old values), which begins at index i of its array. */
  pushRun(a: number, i: number, from: Int32Array, w0: number, w1: number): void {
    const len = w1 - w0;
    const at = this.savedN;
    if (at + len + 1 > this.saved.length) {
      const y = new Int32Array(Math.max(2 * this.saved.length, at + len + 1));
      y.set(this.saved.subarray(0, at));
      this.saved = y;
    }
    const saved = this.saved;
    saved[at] = len;
    // Loops, not set(subarray()): a view object per run was a tenth of what a search allocated.
    for (let w = w0, k = at + 1; w < w1; w++, k++) saved[k] = from[w]!;
    this.savedN = at + len + 1;
    this.push(a, i, at);
  }
}

/** What a point may change besides page words, saved before it. */
class Hot {
  why: unknown;
  hugeZero = 0;
  allocations = 0;
  injectSeen = 0;
  lastFailure: unknown;
  memallocPin = 0;
  slabUsed = 0;
  slabFree = new SavedList<number>();
  areaFree: number[] = [];
  heads: Int32Array[] = [];
  vm = new Float64Array(0);
  /** Per mTHP order: order, anon_fault_alloc, anon_fault_fallback; and its stats object (put back as it was). */
  mthp = new SavedList<number>();
  mthpStats = new SavedList<MthpStat>();
  lru = new SavedList<number>();
  lruAdd = new SavedList<number>();
  lruMlock = new SavedList<number>();
  foliosAllocated = 0;
  active = new SavedSet<number>();
  mlocked = new SavedSet<number>();
  fsPrivate = new SavedSet<number>();
  /** Per hugetlb size: nr_huge_pages, resv, surplus, overcommit, then its free list. */
  hstateNums = new SavedList<number>();
  hstateFree: SavedList<number>[] = [];
  warns = 0;
  procs = new SavedList<Process>();
  mmNums = new SavedList<number>();
  /**
   * The VMAs without an anon_vma, each with its anon_vma chain's length, and the mapping-id registry: a
   * first anon fault makes an anon_vma (anon_vma_prepare()), which a step back takes away again.
   */
  bareVmas = new SavedList<Vma>();
  bareChains = new SavedList<number>();
  mappingIds = 0;
  freeMappingIds = new SavedList<number>();
  /**
   * Private hugetlb VMAs' reservations (vm_private_data: its flags and resv map, whose regions
   * region_add() and region_del() edit): per VMA its data object, flags, map and region count; per region
   * the region and its bounds.
   */
  hugetlbVmas = new SavedList<unknown>();
  resvRegions = new SavedList<unknown>();
  /** The processes by name, the next pid, and each anon_vma's and file's VMAs (and a file's users). */
  processes = new SavedMap<string, Process>();
  nextPid = 0;
  mappings = new SavedList<AnonVma | AddressSpace>();
  mappingVmas: SavedSet<Vma>[] = [];
  fileUsers = new SavedList<number>();
  /** Each mm, its VMA list (munmap makes a new one) and its VMAs, and each VMA's bounds, offset and flags. */
  vmaLists = new SavedList<unknown>();
  vmaFields = new SavedList<number>();
  /** Misuse records and the folios misuse tainted or freed while in use (MisuseLog). */
  misuse = 0;
  tainted = new SavedMap<number, number>();
  freedInUse = new SavedMap<number, unknown>();
  /** Per process: its PMD directory and its PUD leaves. */
  pmds: SavedMap<number, PmdSlot>[] = [];
  puds: SavedMap<number, number>[] = [];
  /** The run's handles and ledger (each keyed by its name). */
  objects = new SavedMap<string, Holder>();
  holders = new SavedMap<string, Holder>();
  handles = new SavedList<PinHandle>();
  handleLens = new SavedList<number>();
  /** Each pin handle's released entries (PinHandle.releasedAt), in the order of `handles`. */
  released: SavedMap<number, number | undefined>[] = [];
  locks: SavedMap<string, unknown>[] = [];
  /** Per thread saved: its index and its pc. Per op saved: its thread and its index, then its fields in `ops`. */
  pcs = new SavedList<number>();
  opAt = new SavedList<number>();
  ops = new SavedList<unknown>();
  opCopies = new Copies();
  /** Where the scenario runner is (a whole step run as a point sets them). */
  warnStep: number | undefined;
  misuseStep: number | undefined;
  stepIndex = 0;
  rep = 0;
  /** The page-state hash lanes before the point. */
  pageA = 0;
  pageB = 0;
  /** Which parts were saved (H_FRAMES...). */
  parts = 0;
}

/** Ranges a RangeLog keeps before the point compares every page of the set instead. */
const EXTRA_RANGES = 256;

/** Frame ranges noted during a point, as (first, count) pairs; past EXTRA_RANGES of them, `all`. */
class RangeLog {
  readonly start = new Int32Array(EXTRA_RANGES);
  readonly nr = new Int32Array(EXTRA_RANGES);
  n = 0;
  all = false;
  add(first: number, count: number): void {
    if (this.n === EXTRA_RANGES) this.all = true;
    else {
      this.start[this.n] = first;
      this.nr[this.n++] = count;
    }
  }
  clear(): void {
    this.n = 0;
    this.all = false;
  }
}

/**
 * Hot records of closed journals, for the next search (a search of a small scenario is a few milliseconds:
 * new records for each would be most of what it allocates).
 */
const hotPool: Hot[] = [];
const HOT_POOL = 1024;

/** The parts of the hot state, saved only when the point's footprint may write them (footprint.ts). */
export const H_FRAMES = 1;
export const H_MMS = 2;
export const H_HANDLES = 4;
export const H_LOCKS = 8;
/**
 * The processes, their VMA lists and VMAs' bounds, and who maps each anon_vma and file: only a point that may
 * do anything (fork's start, munmap's end).
 */
export const H_PROCS = 16;
export const H_ALL = H_FRAMES | H_MMS | H_HANDLES | H_LOCKS | H_PROCS;

/** The hot-state parts a footprint's writes fall in. */
function partsOf(fp: Footprint | undefined): number {
  if (!fp || (fp.all && fp.journalW < 0)) return H_ALL;
  const w = fp.journalW >= 0 ? fp.journalW : fp.w;
  let parts = 0;
  if (w & R_FRAMES) parts |= H_FRAMES;
  if (w & R_HANDLES) parts |= H_HANDLES;
  if (w & R_MM_STATE) parts |= H_MMS;
  if (w & R_MM_LOCKS) parts |= H_LOCKS;
  return parts;
}

/**
 * One point's record: where its log starts, and either the hot state or a full snapshot, or (`into`) the
 * record of an earlier point whose save serves it too.
 */
interface Frame {
  logStart: number;
  hot: Hot;
  /**
   * A tail point (the last one the search runs from its state) whose step back is followed at once by the
   * step back over the point before it: the depth of the first point of that run of tails, whose record
   * puts back the state before the whole run (the tails add to it what it did not save); -1: its own.
   */
  into: number;
  /** What the point may change: the hot-state parts, and the thread whose op it runs (-1: any). */
  parts: number;
  thread: number;
  /** The point took a full snapshot (into snap, reused at this depth). */
  full: boolean;
  /** Its page changes are in the log (commit() ran). */
  committed: boolean;
  snap: MachineSnapshot | undefined;
  /**
   * `snap` holds the state the search is in now, at this depth: the next point begun here (a sibling
   * of the last, run from the same state after it was undone) reuses it instead of taking another.
   */
  snapValid: boolean;
  /** verify: the whole state before the point. */
  check: MachineSnapshot | undefined;
}

/** Per-page and per-table views the journal compares. */
export class Journal {
  private readonly m: Machine;
  private readonly nr: number;
  private readonly rc: Int32Array;
  private readonly mc: Int32Array;
  private readonly ix: Int32Array;
  private readonly fl: Uint16Array;
  private readonly mp: Uint16Array;
  private readonly src: Int32Array;
  private readonly smc: Int32Array;
  private readonly six: Int32Array;
  private readonly sfl: Uint16Array;
  private readonly smp: Uint16Array;
  /** The pool (MemMap.pool) and its shadow as 32-bit words: the compare reads them word by word. */
  private readonly pool32: Int32Array;
  private readonly shadow32: Int32Array;
  /** Where each 32-bit array starts in the pool (in words), and each 16-bit one (in halfwords). */
  private readonly wordBase: Int32Array;
  private readonly halfBase: Int32Array;
  private readonly extras: { name: string; a: Int32Array; s: Int32Array; hashed: boolean }[] = [];
  /** The pages that can change (in use at the start, or touched by the allocator since). */
  private readonly inSet: Uint8Array;
  /** The same set as sorted, disjoint runs of frames [runStart, runEnd): the compare walks memory in order. */
  private runStart = new Int32Array(16);
  private runEnd = new Int32Array(16);
  private runs = 0;
  /** Frames in the set. */
  private setFrames = 0;
  /** The slab's words, shadowed, and per table (slot) its hash lanes. */
  private slabShadow = new Int32Array(0);
  private slabViews: Int32Array[] = [];
  slotA = new Int32Array(0);
  slotB = new Int32Array(0);
  /** Per slot, the serial of the last point that logged its lanes (a table's lanes are logged once a point). */
  private slotStamp = new Int32Array(0);
  /** Points begun so far (a serial number per point). */
  private serial = 0;
  /** The page-state hash lanes (struct pages and contents). */
  pageA = 0;
  pageB = 0;
  /**
   * The extra arrays' pages written since the point began (MemMap.onExtraWrite): only they are compared;
   * past EXTRA_RANGES of them, every page of the set is.
   */
  private readonly written = new RangeLog();
  /**
   * The frames the allocator touched since the point began: with the frames the point's footprint names,
   * the only ones compared; past EXTRA_RANGES of them, every frame of the set is.
   */
  private readonly touched = new RangeLog();
  /** The PTE slab's slots handed out, and taken back, since the point began (PteSlab.onSlot). */
  private readonly slots = new RangeLog();
  private readonly freedSlots = new RangeLog();
  private readonly log = new Log();
  /** The lanes' change of compares of long ranges, by what their words were and are (lane_memo.ts; tests read it). */
  readonly memo = new LaneMemo();
  private readonly frames: Frame[] = [];
  /**
   * What the snapshots need not walk: the scenario, the release profile and the machine's settings (and
   * everything they reach), which nothing changes. A verify snapshot walks them, so a change would show.
   */
  private readonly constants = new WeakSet<object>();
  private depth = 0;

  constructor(
    private readonly ctx: Ctx,
    private readonly locks: Locks,
    private readonly threads: Thread[],
    private readonly roots: object[],
    private readonly verify = false,
  ) {
    const m = (this.m = ctx.m);
    const mem = m.mem;
    const n = (this.nr = mem.nr);
    this.rc = mem.refcount;
    this.mc = mem.mapcount;
    this.ix = new Int32Array(mem.index.buffer, mem.index.byteOffset, n);
    this.fl = mem.flags;
    this.mp = mem.mapping;
    // The shadow is a copy of the whole pool, with the same layout.
    const pool = mem.pool;
    for (const a of [this.rc, this.mc, this.ix, this.fl, this.mp])
      if (a.buffer !== pool) throw new Error('gupsim bug: a per-page array outside MemMap.pool');
    const shadow = pool.slice(0);
    this.pool32 = new Int32Array(pool);
    this.shadow32 = new Int32Array(shadow);
    this.src = new Int32Array(shadow, this.rc.byteOffset, n);
    this.smc = new Int32Array(shadow, this.mc.byteOffset, n);
    this.six = new Int32Array(shadow, this.ix.byteOffset, n);
    this.sfl = new Uint16Array(shadow, this.fl.byteOffset, n);
    this.smp = new Uint16Array(shadow, this.mp.byteOffset, n);
    this.wordBase = Int32Array.of(this.rc.byteOffset / 4, this.mc.byteOffset / 4, this.ix.byteOffset / 4);
    this.halfBase = Int32Array.of(this.fl.byteOffset / 2, this.mp.byteOffset / 2);
    this.inSet = new Uint8Array(n);
    this.initialSet();
    this.addExtras(true);
    this.pageA = this.pageB = 0;
    const add = (id: number, a: ArrayLike<number>) => {
      for (let p = 0; p < n; p++) {
        const v = a[p]!;
        if (v !== 0) {
          const i = id * n + p;
          this.pageA = (this.pageA + laneA(i, v) - laneA(i, 0)) | 0;
          this.pageB = (this.pageB + laneB(i, v) - laneB(i, 0)) | 0;
        }
      }
    };
    add(A_REFCOUNT, this.rc);
    add(A_MAPCOUNT, this.mc);
    add(A_INDEX, this.ix);
    add(A_FLAGS, this.fl);
    add(A_MAPPING, this.mp);
    this.extras.forEach((x, k) => {
      if (x.hashed) add(A_EXTRA + k, x.a);
    });
    this.syncSlab(true);
    for (const c of [ctx.sc, m.profile, m.cfg]) reachable(c, this.constants);
    m.alloc.onTouch = (pfn, nr) => this.addPages(pfn, nr);
    m.pteSlab.onSlot = (slot, freed) => (freed ? this.freedSlots : this.slots).add(slot, 1);
    mem.onExtraWrite = (pfn, nr) => this.written.add(pfn, nr);
  }

  /** Whether every point is checked (tests). */
  get verifying(): boolean {
    return this.verify;
  }

  /** Points begun and not undone: the depth of the state the search is in. */
  get points(): number {
    return this.depth;
  }

  /**
   * What the last point begun may have changed: the hot-state parts (H_FRAMES...; H_ALL for a point that took
   * a snapshot) and the one thread whose ops it ran (-1: any). The state hash recomputes only those (state.ts).
   */
  lastParts(): number {
    const f = this.frames[this.depth - 1]!;
    return f.full ? H_ALL : f.parts;
  }
  lastThread(): number {
    const f = this.frames[this.depth - 1]!;
    return f.full ? -1 : f.thread;
  }

  /** Stop listening to the allocator. */
  close(): void {
    this.m.alloc.onTouch = undefined;
    this.m.pteSlab.onSlot = undefined;
    this.m.mem.onExtraWrite = undefined;
    for (const f of this.frames) if (hotPool.length < HOT_POOL) hotPool.push(f.hot);
    this.frames.length = 0;
    this.memo.close();
  }

  private addPages(pfn: number, nr: number): void {
    this.touched.add(pfn, nr);
    const start = Math.max(pfn, 0);
    const end = Math.min(pfn + nr, this.nr);
    if (start >= end) return;
    let fresh = false;
    for (let p = start; p < end; p++)
      if (!this.inSet[p]) {
        this.inSet[p] = 1;
        this.setFrames++;
        fresh = true;
      }
    if (fresh) this.addRun(start, end);
  }

  /** Add [start, end) to the runs, merging it with the runs it overlaps or touches. */
  private addRun(start: number, end: number): void {
    const rs = this.runStart;
    const re = this.runEnd;
    let n = this.runs;
    // The first run that ends at or after start, and the first that starts after end.
    let lo = 0;
    while (lo < n && re[lo]! < start) lo++;
    let hi = lo;
    while (hi < n && rs[hi]! <= end) hi++;
    if (hi > lo) {
      // Merge runs lo..hi-1 with [start, end) into run lo.
      rs[lo] = Math.min(rs[lo]!, start);
      re[lo] = Math.max(re[hi - 1]!, end);
      rs.copyWithin(lo + 1, hi, n);
      re.copyWithin(lo + 1, hi, n);
      this.runs = n - (hi - lo - 1);
      return;
    }
    if (n === rs.length) {
      const a = new Int32Array(n * 2);
      a.set(rs);
      const b = new Int32Array(n * 2);
      b.set(re);
      this.runStart = a;
      this.runEnd = b;
    }
    this.runStart.copyWithin(lo + 1, lo, n);
    this.runEnd.copyWithin(lo + 1, lo, n);
    this.runStart[lo] = start;
    this.runEnd[lo] = end;
    this.runs = ++n;
  }

  /** Every page not inside a free buddy block, and any other page with some state (the zero page). */
  private initialSet(): void {
    const mem = this.m.mem;
    const free = new Uint8Array(this.nr);
    for (const area of this.m.alloc.areas)
      for (let pfn = area.start; pfn < area.end;) {
        const f = mem.flags[pfn]!;
        if (f & PG_buddy) {
          free.fill(1, pfn, pfn + (1 << (f & ORDER_MASK)));
          pfn += 1 << (f & ORDER_MASK);
        } else pfn++;
      }
    const inArea = new Uint8Array(this.nr);
    for (const area of this.m.alloc.areas) inArea.fill(1, area.start, area.end);
    for (let p = 0; p < this.nr; p++) {
      const some = this.rc[p] || this.mc[p] || this.ix[p] || this.fl[p] || this.mp[p];
      if ((inArea[p] && !free[p]) || some || p === ZERO_PFN) this.addPages(p, 1);
    }
  }

  /**
   * Extra per-page arrays (contents) made since the last call: watched from now on. One there at the start
   * is shadowed as it is; one made by a point was all zeros before it (what its compare then logs).
   */
  private addExtras(atStart = false): void {
    const mem = this.m.mem;
    if (mem.extras.size === this.extras.length) return;
    for (const [name, arr] of mem.extras) {
      if (this.extras.some((x) => x.name === name)) continue;
      const a = new Int32Array(arr.buffer, arr.byteOffset, arr.length);
      // gupsim's folio serial numbers (Machine.folioSerial()) follow the order of allocations, which is
      // not state the kernel has: journalled, not hashed.
      this.extras.push({ name, a, s: atStart ? a.slice() : new Int32Array(arr.length), hashed: name !== FOLIO_SERIAL });
    }
  }

  /** Grow the slab's shadow to its high-water mark (new slots are zeros); `all`: copy every word. */
  private syncSlab(all: boolean): void {
    const slab = this.m.pteSlab;
    const words = slab.usedWords();
    if (this.slabShadow.length < words) {
      const s = new Int32Array(Math.max(words, this.slabShadow.length * 2));
      s.set(this.slabShadow);
      this.slabShadow = s;
      const a = new Int32Array(s.length / TABLE_WORDS);
      a.set(this.slotA);
      this.slotA = a;
      const b = new Int32Array(s.length / TABLE_WORDS);
      b.set(this.slotB);
      this.slotB = b;
      const st = new Int32Array(s.length / TABLE_WORDS);
      st.set(this.slotStamp);
      this.slotStamp = st;
    }
    for (let c = this.slabViews.length; c < slab.chunks.length; c++) {
      const ch = slab.chunks[c]!;
      this.slabViews.push(new Int32Array(ch.buffer, ch.byteOffset, ch.length));
    }
    if (!all) return;
    this.slotA.fill(0);
    this.slotB.fill(0);
    // Above the high-water mark the slab is zeros (a restore clears what was used since).
    this.slabShadow.fill(0, words);
    for (let w = 0; w < words; w++) {
      const v = this.slabWord(w);
      this.slabShadow[w] = v;
      if (v !== 0) {
        const s = (w / TABLE_WORDS) | 0;
        const i = w % TABLE_WORDS;
        this.slotA[s] = (this.slotA[s]! + laneA(i, v) - laneA(i, 0)) | 0;
        this.slotB[s] = (this.slotB[s]! + laneB(i, v) - laneB(i, 0)) | 0;
      }
    }
  }

  private slabWord(w: number): number {
    const per = this.slabViews[0]?.length ?? 1;
    return this.slabViews[(w / per) | 0]![w % per]!;
  }

  /** Which slab slot a table is (for its hash lanes). */
  slotOf(t: Uint32Array): number {
    const per = this.slabViews[0]!.length;
    const chunks = this.m.pteSlab.chunks;
    let c = 0;
    while (chunks[c]!.buffer !== t.buffer) c++;
    return (c * per + t.byteOffset / 4) / TABLE_WORDS;
  }

  // --- a point ----------------------------------------------------------------------------------

  /**
   * Before a point: record the hot state (or, `structural`, a full snapshot). With the point's footprint
   * and thread, only the parts it may write and that thread's progress are recorded (a point changes no
   * other thread's op). `tail`: the search runs nothing more from this state, so stepping back over the
   * point is followed by stepping back over the one before: the record of the first of such a run of
   * points serves the whole run, and this one adds to it only what it does not hold yet.
   */
  begin(structural: boolean, fp?: Footprint, thread = -1, tail = false): void {
    const f = (this.frames[this.depth] ??= {
      logStart: 0,
      hot: hotPool.pop() ?? new Hot(),
      into: -1,
      parts: 0,
      thread: -1,
      full: false,
      committed: false,
      snap: undefined,
      snapValid: false,
      check: undefined,
    });
    f.logStart = this.log.n;
    this.serial++;
    this.written.clear();
    this.touched.clear();
    this.slots.clear();
    this.freedSlots.clear();
    const parts = partsOf(fp);
    f.parts = parts;
    f.thread = thread;
    f.committed = false;
    // Misuse records and their bookkeeping are not in the hot state: once there are any, every point
    // takes a snapshot.
    f.full = structural || this.m.misuse.records.length > 0;
    f.into = -1;
    // A tail after a point (a snapshot serves none: it is a record of its own).
    const merged = tail && !f.full && this.depth > 0;
    if (!merged) {
      f.hot.pageA = this.pageA;
      f.hot.pageB = this.pageB;
    }
    if (f.full) {
      if (!f.snapValid) {
        f.snap = snapshotMachine(this.m, this.roots, f.snap, false, this.constants);
        f.snapValid = true;
      }
    } else if (merged) {
      const before = this.frames[this.depth - 1]!;
      f.into = before.into >= 0 ? before.into : this.depth - 1;
      const head = this.frames[f.into]!;
      // A snapshot puts back everything; a hot record, what it holds and what is added here.
      if (!head.full) this.extendHot(head.hot, parts, thread);
      // The LRU batches before the point, in its own record: commit() compares their folios if it drains one.
      if (parts & H_FRAMES) this.saveBatches(f.hot);
    } else this.saveHot(f.hot, parts, thread);
    if (this.verify && f.into < 0) f.check = snapshotMachine(this.m, this.roots);
    this.depth++;
  }

  /**
   * After the point: log every page word and PTE-table word that changed, and bring the hash up to date.
   * `fp`: the point's footprint. One that writes no page state (R_FRAMES) skips the page compare, one that
   * writes no mm's page tables skips the PTE-table compare (verify: they run anyway and must find nothing).
   * One that names the frames it may write (Footprint.frames()) has those compared, and those the allocator
   * touched (verify: every frame is compared after, and must show nothing more); likewise the PTE tables it
   * names (Footprint.tables()), and those the slab handed out or took back.
   */
  commit(fp?: Footprint): void {
    const f = this.frames[this.depth - 1]!;
    f.committed = true;
    this.addExtras();
    const framesUntouched = !!fp && !fp.all && (fp.w & R_FRAMES) === 0;
    const tablesUntouched = !!fp && !fp.all && (fp.w & R_MM_TABLES) === 0;
    const n = this.log.n;
    if (
      !framesUntouched &&
      fp?.framesNamed &&
      !this.touched.all &&
      !f.full &&
      (this.verify || this.namedFewer(fp, f.hot))
    ) {
      this.diffNamed(fp, f.hot);
      const k = this.log.n;
      if (this.verify) this.diffPages();
      if (this.log.n !== k)
        throw new Error(
          `gupsim bug: a point wrote pfn 0x${this.log.idx[k]!.toString(16)} (array ${this.log.arr[k]}), ` +
            'which neither its footprint named nor the allocator touched',
        );
    } else if (!framesUntouched || this.verify) this.diffPages();
    if (framesUntouched && this.log.n !== n)
      throw new Error('gupsim bug: a point whose footprint writes no frames changed a page');
    const m = this.log.n;
    if (!tablesUntouched && fp?.tablesNamed && !this.slots.all && !this.freedSlots.all) {
      this.syncSlab(false);
      const at = fp.tablesAt;
      for (let i = 0; i < fp.nTables; i++) {
        const g = this.slotOf(at[i]!) * TABLE_WORDS + fp.tableFirst[i]!;
        this.diffSlabWords(g, g + fp.tableCount[i]!);
      }
      // And the tables the point allocated (zeroed: the entries it may write in one, Footprint.newEntries())
      // or freed (every word: a freed table is zeroed; a table may be both).
      const sl = this.slots;
      for (let i = 0; i < sl.n; i++) {
        const g = sl.start[i]! * TABLE_WORDS + fp.newFirst;
        this.diffSlabWords(g, g + fp.newCount);
      }
      const fr = this.freedSlots;
      for (let i = 0; i < fr.n; i++) {
        const g = fr.start[i]! * TABLE_WORDS;
        this.diffSlabWords(g, g + TABLE_WORDS);
      }
      const k = this.log.n;
      if (this.verify) this.diffSlab();
      if (this.log.n !== k)
        throw new Error(
          `gupsim bug: a point wrote PTE-table word ${this.log.idx[k]}, in a table its footprint did not name`,
        );
    } else if (!tablesUntouched || this.verify) this.diffSlab();
    if (tablesUntouched && this.log.n !== m)
      throw new Error("gupsim bug: a point whose footprint writes no mm's page tables changed a PTE table");
    if (this.verify) this.verifyPages();
  }

  /** Back to the state before the last begun point. */
  undo(): void {
    if (!this.frames[this.depth - 1]!.committed) this.commit();
    const f = this.frames[--this.depth]!;
    // The snapshot below was of the state just left (those deeper went when it was undone to).
    const below = this.frames[this.depth + 1];
    if (below) below.snapValid = false;
    // A tail: the step back over its run's first point, next, puts its changes back too.
    if (f.into >= 0) return;
    const log = this.log;
    for (let e = log.n - 1; e >= f.logStart; e--) this.unlog(log.arr[e]!, log.idx[e]!, log.old[e]!);
    log.n = f.logStart;
    if (f.full) restoreMachine(this.m, f.snap!);
    else this.restoreHot(f.hot);
    this.pageA = f.hot.pageA;
    this.pageB = f.hot.pageB;
    if (this.verify) {
      this.verifyUndo(f.check!);
      this.verifyLanes();
    }
  }

  private unlog(a: number, i: number, old: number): void {
    if (a >= A_SLAB) {
      // A table's lanes were logged before its first word the point changed: put back after its words.
      if (a === A_SLOT_A) this.slotA[i] = old;
      else if (a === A_SLOT_B) this.slotB[i] = old;
      else if (a >= A_POOL_RUN) this.unlogRun(a, i, old);
      else {
        const per = this.slabViews[0]!.length;
        this.slabViews[(i / per) | 0]![i % per] = old;
        this.slabShadow[i] = old;
      }
      return;
    }
    switch (a) {
      case A_REFCOUNT:
        this.rc[i] = this.src[i] = old;
        return;
      case A_MAPCOUNT:
        this.mc[i] = this.smc[i] = old;
        return;
      case A_INDEX:
        this.ix[i] = this.six[i] = old;
        return;
      case A_FLAGS:
        this.fl[i] = this.sfl[i] = old;
        return;
      case A_MAPPING:
        this.mp[i] = this.smp[i] = old;
        return;
      default: {
        const x = this.extras[a - A_EXTRA]!;
        x.a[i] = x.s[i] = old;
      }
    }
  }

  /** Put back a run of words the log holds at `at` (Log.pushRun()), and drop it from the log's saved words. */
  private unlogRun(a: number, i: number, at: number): void {
    const log = this.log;
    const saved = log.saved;
    const end = at + 1 + saved[at]!;
    if (a === A_POOL_RUN) {
      const P = this.pool32;
      const S = this.shadow32;
      for (let k = at + 1, w = i; k < end; k++, w++) P[w] = S[w] = saved[k]!;
    } else {
      const per = this.slabViews[0]!.length;
      const c = (i / per) | 0;
      const view = this.slabViews[c]!;
      const shadow = this.slabShadow;
      for (let k = at + 1, g = i, w = i - c * per; k < end; k++, g++, w++) view[w] = shadow[g] = saved[k]!;
    }
    log.savedN = at;
  }

  private change(id: number, p: number, o: number, v: number): void {
    const i = id * this.nr + p;
    this.pageA = (this.pageA - laneA(i, o) + laneA(i, v)) | 0;
    this.pageB = (this.pageB - laneB(i, o) + laneB(i, v)) | 0;
    this.log.push(id, p, o);
  }

  /** Compare every frame of the set. */
  private diffPages(): void {
    const { runStart, runEnd } = this;
    const runs = this.runs;
    for (let r = 0; r < runs; r++) this.diffFrames(runStart[r]!, runEnd[r]!);
    this.diffWritten();
  }

  /** Whether the frames diffNamed() would compare are fewer than the set's (a small machine's set is cheaper whole). */
  private namedFewer(fp: Footprint, h: Hot): boolean {
    let n = FOLIO_FIELD_PAGES * (h.lru.n + h.lruAdd.n + h.lruMlock.n);
    for (let i = 0; i < fp.nFrames; i++) n += fp.framesAt[3 * i + 1]!;
    for (let i = 0; i < this.touched.n; i++) n += this.touched.nr[i]!;
    return n < this.setFrames;
  }

  /**
   * Compare the frames the point's footprint names, those the allocator touched, and the fields of the
   * folios in the LRU batches before the point (`h`: its hot state): a batch the point fills drains
   * (folio_batch_move_lru()), dropping the references of folios other points put there.
   */
  private diffNamed(fp: Footprint, h: Hot): void {
    const m = this.m;
    this.diffBatch(h.lru, m.lruActivateBatch);
    this.diffBatch(h.lruAdd, m.lruAddBatch);
    this.diffBatch(h.lruMlock, m.lruMlockBatch);
    const at = fp.framesAt;
    for (let i = 0; i < fp.nFrames; i++) {
      const p0 = Math.max(at[3 * i]!, 0);
      this.diffFrames(p0, Math.min(p0 + at[3 * i + 1]!, this.nr), at[3 * i + 2]!);
    }
    const t = this.touched;
    for (let i = 0; i < t.n; i++) {
      const p0 = Math.max(t.start[i]!, 0);
      this.diffFrames(p0, Math.min(p0 + t.nr[i]!, this.nr));
    }
    this.diffWritten();
  }

  /**
   * Compare the folio fields of each folio in an LRU batch (as saved before the point), if the point drained
   * it: a batch that still begins with what it held kept its folios and their references, and a folio in
   * it changes only by a drain or where the point names it.
   */
  private diffBatch(batch: SavedList<number>, now: readonly number[]): void {
    const n = batch.n;
    const a = batch.a;
    if (now.length >= n) {
      let i = 0;
      while (i < n && now[i] === a[i]) i++;
      if (i === n) return;
    }
    for (let i = 0; i < n; i++) this.diffFrames(a[i]!, Math.min(a[i]! + FOLIO_FIELD_PAGES, this.nr));
  }

  /** Log the changes of the struct-page arrays over frames [p0, p1): those of `arrays` (FRAME_*). */
  private diffFrames(p0: number, p1: number, arrays = FRAME_ALL): void {
    if (p0 >= p1) return;
    const { wordBase, halfBase } = this;
    // refcount, mapcount, index: a word per page.
    for (let k = 0; k < 3; k++) {
      if (!(arrays & WORD_ARRAYS[k]!)) continue;
      const base = wordBase[k]!;
      this.diffWords(A_REFCOUNT + k, base + p0, base + p1, base);
    }
    // flags, mapping: two pages per word (word w holds pages 2w - h and 2w + 1 - h). The words with both
    // pages in [p0, p1) are compared together; a word at either end with a page outside, page by page.
    for (let k = 0; k < 2; k++) {
      if (!(arrays & HALF_ARRAYS[k]!)) continue;
      const h = halfBase[k]!;
      const first = (h + p0) >> 1;
      const last = (h + p1 - 1) >> 1;
      const in0 = (h + p0 + 1) >> 1;
      const in1 = (h + p1) >> 1;
      if (first < in0) this.diffHalfWord(k, first, h, p0, p1);
      this.diffHalves(k, in0, in1, h);
      if (last >= in1) this.diffHalfWord(k, last, h, p0, p1);
    }
  }

  /** Word w of 16-bit array k (halves at h), whose pages outside [p0, p1) are not compared. */
  private diffHalfWord(k: number, w: number, h: number, p0: number, p1: number): void {
    if (this.pool32[w] === this.shadow32[w]) return;
    this.changedHalf(k, 2 * w - h, p0, p1);
    this.changedHalf(k, 2 * w + 1 - h, p0, p1);
  }

  /** Room for the words one compare finds changed. */
  private changedAt = new Int32Array(1024);
  private changedRoom(n: number): Int32Array {
    if (this.changedAt.length < n) this.changedAt = new Int32Array(Math.max(n, 2 * this.changedAt.length));
    return this.changedAt;
  }

  /** Whether `n` changed words from lo to hi (inclusive) are logged as one run. */
  private static asRun(n: number, lo: number, hi: number): boolean {
    return n >= RUN_MIN && hi - lo < n * RUN_SPREAD;
  }

  /**
   * After a compare of pool words found n > 0 changed (their indices in changedAt), the page-state lanes come
   * to (a, b): take them, and log the words as one run if they make one. False: the caller logs each change.
   */
  private tookPoolRun(n: number, a: number, b: number): boolean {
    this.pageA = a;
    this.pageB = b;
    return this.tookRun(A_POOL_RUN, n, this.shadow32, this.pool32, 0);
  }

  /**
   * The n changed words a compare found (their indices in changedAt: words of `shadow`, whose word w is
   * cur[w - off] now) as run `a`, if they make one: logged with their old words, the shadow brought up to date.
   */
  private tookRun(a: number, n: number, shadow: Int32Array, cur: Int32Array, off: number): boolean {
    const at = this.changedAt;
    const lo = at[0]!;
    const hi = at[n - 1]!;
    if (!Journal.asRun(n, lo, hi)) return false;
    this.log.pushRun(a, lo, shadow, lo, hi + 1);
    for (let w = lo; w <= hi; w++) shadow[w] = cur[w - off]!;
    return true;
  }

  /**
   * Log the changes of pool words [w0, w1), of 32-bit array `id` (page p at word base + p): the hash lanes
   * of each change, then one run or an entry per change.
   */
  private diffWords(id: number, w0: number, w1: number, base: number): void {
    const P = this.pool32;
    const S = this.shadow32;
    const at = this.changedRoom(w1 - w0);
    const lane = id * this.nr - base;
    let n = this.memo.find(MEMO_POOL, w0, w1, S, P, 0, at, 0);
    let a = this.memo.a;
    let b = this.memo.b;
    if (n < 0) {
      n = a = b = 0;
      for (let w = w0; w < w1; w++) {
        const v = P[w]!;
        const o = S[w]!;
        if (v !== o) {
          const i = lane + w;
          a = (a - laneA(i, o) + laneA(i, v)) | 0;
          b = (b - laneB(i, o) + laneB(i, v)) | 0;
          at[n++] = w;
        }
      }
      this.memo.keep(MEMO_POOL, w0, w1, S, P, 0, at, 0, n, a, b);
    }
    if (n === 0 || this.tookPoolRun(n, (this.pageA + a) | 0, (this.pageB + b) | 0)) return;
    for (let k = 0; k < n; k++) {
      const w = at[k]!;
      this.log.push(id, w - base, S[w]!);
      S[w] = P[w]!;
    }
  }

  /** diffWords() of the pool words [w0, w1) of 16-bit array k (flags, mapping; halves at h), both pages of each. */
  private diffHalves(k: number, w0: number, w1: number, h: number): void {
    if (w0 >= w1) return;
    const P = this.pool32;
    const S = this.shadow32;
    const cur = k === 0 ? this.fl : this.mp;
    const old = k === 0 ? this.sfl : this.smp;
    const id = k === 0 ? A_FLAGS : A_MAPPING;
    const at = this.changedRoom(w1 - w0);
    const lane = id * this.nr;
    let n = this.memo.find(MEMO_POOL, w0, w1, S, P, 0, at, 0);
    let a = this.memo.a;
    let b = this.memo.b;
    if (n < 0) {
      n = a = b = 0;
      for (let w = w0; w < w1; w++) {
        if (P[w] === S[w]) continue;
        at[n++] = w;
        for (let p = 2 * w - h, end = p + 2; p < end; p++) {
          const v = cur[p]!;
          const o = old[p]!;
          if (v !== o) {
            const i = lane + p;
            a = (a - laneA(i, o) + laneA(i, v)) | 0;
            b = (b - laneB(i, o) + laneB(i, v)) | 0;
          }
        }
      }
      this.memo.keep(MEMO_POOL, w0, w1, S, P, 0, at, 0, n, a, b);
    }
    if (n === 0 || this.tookPoolRun(n, (this.pageA + a) | 0, (this.pageB + b) | 0)) return;
    for (let j = 0; j < n; j++)
      for (let p = 2 * at[j]! - h, end = p + 2; p < end; p++)
        if (cur[p] !== old[p]) {
          this.log.push(id, p, old[p]!);
          old[p] = cur[p]!;
        }
  }

  /** Log the changes of the extra arrays (contents...) the point wrote (MemMap.onExtraWrite). */
  private diffWritten(): void {
    const { runStart, runEnd } = this;
    const runs = this.runs;
    // The extra arrays: the pages written (verify: every page of the set, which must find nothing more).
    const x = this.written;
    if (x.all) for (let r = 0; r < runs; r++) this.diffExtras(runStart[r]!, runEnd[r]!);
    else for (let i = 0; i < x.n; i++) this.diffExtras(x.start[i]!, x.start[i]! + x.nr[i]!);
    x.clear();
    if (this.verify) {
      const m = this.log.n;
      for (let r = 0; r < runs; r++) this.diffExtras(runStart[r]!, runEnd[r]!);
      if (this.log.n !== m) throw new Error('gupsim bug: a page-contents write MemMap.onExtraWrite was not told of');
    }
  }

  /** Log the changes of the extra arrays over pages [p0, p1). */
  private diffExtras(p0: number, p1: number): void {
    for (let e = 0; e < this.extras.length; e++) {
      const { a, s, hashed } = this.extras[e]!;
      for (let p = p0; p < p1; p++) {
        const v = a[p]!;
        const o = s[p]!;
        if (v !== o) {
          if (hashed) this.change(A_EXTRA + e, p, o, v);
          else this.log.push(A_EXTRA + e, p, o);
          s[p] = v;
        }
      }
    }
  }

  /** Page p's half of 16-bit array k (flags, mapping) may have changed: log it if so (pages of the run only). */
  private changedHalf(k: number, p: number, p0: number, p1: number): void {
    if (p < p0 || p >= p1) return;
    const a = k === 0 ? this.fl : this.mp;
    const s = k === 0 ? this.sfl : this.smp;
    const v = a[p]!;
    const o = s[p]!;
    if (v === o) return;
    this.change(k === 0 ? A_FLAGS : A_MAPPING, p, o, v);
    s[p] = v;
  }

  private diffSlab(): void {
    this.syncSlab(false);
    this.diffSlabWords(0, this.m.pteSlab.usedWords());
  }

  /** Log the changes of the slab's words [g0, g1) (below its high-water mark, whose shadow is in sync). */
  private diffSlabWords(g0: number, g1: number): void {
    const per = this.slabViews[0]?.length ?? 0;
    const shadow = this.slabShadow;
    for (let c = (g0 / per) | 0, base = c * per; base < g1; c++, base += per) {
      const view = this.slabViews[c]!;
      const w0 = Math.max(g0 - base, 0);
      const top = Math.min(per, g1 - base);
      const at = this.changedRoom(top - w0);
      let n = 0;
      // Table by table (a slot's hash lanes summed in locals, written once).
      for (let t0 = w0; t0 < top;) {
        const g0t = base + t0;
        const s = (g0t / TABLE_WORDS) | 0;
        const t1 = Math.min(top, (s + 1) * TABLE_WORDS - base);
        let a = 0;
        let b = 0;
        const n0 = n;
        const found = this.memo.find(MEMO_SLAB, g0t, base + t1, shadow, view, base, at, n0);
        if (found >= 0) {
          n += found;
          a = this.memo.a;
          b = this.memo.b;
        } else {
          for (let w = t0; w < t1; w++) {
            const v = view[w]!;
            const g = base + w;
            const o = shadow[g]!;
            if (v !== o) {
              const i = g - s * TABLE_WORDS;
              // An entry written into an empty slot, or cleared: the mixes of an empty slot are the table's.
              a = (a - (o === 0 ? EMPTY_A[i]! : laneA(i, o)) + (v === 0 ? EMPTY_A[i]! : laneA(i, v))) | 0;
              b = (b - (o === 0 ? EMPTY_B[i]! : laneB(i, o)) + (v === 0 ? EMPTY_B[i]! : laneB(i, v))) | 0;
              at[n++] = g;
            }
          }
          this.memo.keep(MEMO_SLAB, g0t, base + t1, shadow, view, base, at, n0, n - n0, a, b);
        }
        if (n > n0) {
          if (this.slotStamp[s] !== this.serial) {
            this.slotStamp[s] = this.serial;
            this.log.push(A_SLOT_A, s, this.slotA[s]!);
            this.log.push(A_SLOT_B, s, this.slotB[s]!);
          }
          this.slotA[s] = (this.slotA[s]! + a) | 0;
          this.slotB[s] = (this.slotB[s]! + b) | 0;
        }
        t0 = t1;
      }
      if (n === 0 || this.tookRun(A_SLAB_RUN, n, shadow, view, base)) continue;
      for (let k = 0; k < n; k++) {
        const g = at[k]!;
        this.log.push(A_SLAB, g, shadow[g]!);
        shadow[g] = view[g - base]!;
      }
    }
  }

  // --- the hot state ----------------------------------------------------------------------------

  private saveHot(h: Hot, parts: number, thread: number): void {
    h.why = this.m.why;
    h.warnStep = this.m.warns.step;
    h.misuseStep = this.m.misuse.step;
    h.stepIndex = this.ctx.stepIndex;
    h.rep = this.ctx.rep;
    h.parts = 0;
    h.pcs.reset();
    h.opAt.reset();
    h.ops.reset();
    h.opCopies.n = 0;
    this.extendHot(h, parts, thread);
  }

  /**
   * Add to a hot record the parts in `parts` it does not hold, and the progress of `thread` (-1: every
   * thread) and its running op (every op left) where it holds neither. What it adds is as it was when the
   * record was made: the points since wrote none of it (they would have added it).
   */
  private extendHot(h: Hot, parts: number, thread: number): void {
    const add = parts & ~h.parts;
    if (add) {
      h.parts |= add;
      if (add & H_FRAMES) this.saveFrames(h);
      if (add & H_MMS) this.saveMms(h);
      if (add & H_HANDLES) this.saveHandles(h);
      if (add & H_LOCKS) this.saveLocks(h);
      if (add & H_PROCS) this.saveProcs(h);
    }
    if (thread >= 0) this.saveThread(h, thread, true);
    else for (let i = 0; i < this.threads.length; i++) this.saveThread(h, i, false);
  }

  /**
   * Thread ti's progress (unless held) and its ops from the running one on (done ops change no more) that
   * the record does not hold; `one`: the running op only (a point of the thread runs no other: explorer.ts
   * runPoint()).
   */
  private saveThread(h: Hot, ti: number, one: boolean): void {
    const t = this.threads[ti]!;
    const pcs = h.pcs;
    let held = false;
    for (let k = 0; k < pcs.n && !held; k += 2) held = pcs.a[k] === ti;
    if (!held) {
      pcs.push(ti);
      pcs.push(t.pc);
    }
    const at = h.opAt;
    const end = one ? Math.min(t.pc + 1, t.ops.length) : t.ops.length;
    for (let i = t.pc; i < end; i++) {
      let saved = false;
      if (held) for (let k = 0; k < at.n && !saved; k += 2) saved = at.a[k] === ti && at.a[k + 1] === i;
      if (saved) continue;
      at.push(ti);
      at.push(i);
      saveOwned(t.ops[i]!, h.ops, h.opCopies);
    }
  }

  private saveFrames(h: Hot): void {
    const m = this.m;
    h.hugeZero = m.huge_zero_folio;
    const a = m.alloc;
    h.allocations = a.allocations;
    h.injectSeen = a.injectSeen;
    h.lastFailure = a.lastFailure;
    h.memallocPin = a.memallocPin;
    const slab = m.pteSlab;
    h.slabUsed = slab.used;
    h.slabFree.copy(slab.free);
    const areas = a.areas;
    for (let i = 0; i < areas.length; i++) {
      const ar = areas[i]!;
      h.areaFree[i] = ar.free;
      const hd = (h.heads[i] ??= new Int32Array(ar.heads.length));
      hd.set(ar.heads);
    }
    const vm = m.vmstat.values();
    if (h.vm.length !== vm.length) h.vm = new Float64Array(vm.length);
    h.vm.set(vm);
    h.mthp.reset();
    h.mthpStats.reset();
    for (const [o, st] of m.vmstat.mthp) {
      h.mthpStats.push(st);
      h.mthp.push(o);
      h.mthp.push(st.anon_fault_alloc);
      h.mthp.push(st.anon_fault_fallback);
    }
    this.saveBatches(h);
    h.foliosAllocated = m.foliosAllocated;
    h.active.save(m.activeFolios);
    h.mlocked.save(m.mem.mlocked);
    h.fsPrivate.save(m.mem.fsPrivate);
    h.warns = m.warns.records.length;
    h.misuse = m.misuse.records.length;
    h.tainted.save(m.misuse.taintedFolios);
    h.freedInUse.save(m.misuse.freedInUse);
    h.hstateNums.reset();
    let k = 0;
    for (const hs of m.hugetlb.hstates.values()) {
      h.hstateNums.push(hs.nr_huge_pages);
      h.hstateNums.push(hs.resv_huge_pages);
      h.hstateNums.push(hs.surplus_huge_pages);
      h.hstateNums.push(hs.nr_overcommit_huge_pages);
      (h.hstateFree[k++] ??= new SavedList()).copy(hs.freelist);
    }
  }

  private saveBatches(h: Hot): void {
    const m = this.m;
    h.lru.copy(m.lruActivateBatch);
    h.lruAdd.copy(m.lruAddBatch);
    h.lruMlock.copy(m.lruMlockBatch);
  }

  private saveMms(h: Hot): void {
    h.procs.reset();
    h.mmNums.reset();
    h.bareVmas.reset();
    h.bareChains.reset();
    h.hugetlbVmas.reset();
    h.resvRegions.reset();
    h.mappingIds = this.m.mappingObjs.length;
    h.freeMappingIds.copy(this.m.freeMappingIds);
    let k = 0;
    for (const p of this.m.processes.values()) {
      h.procs.push(p);
      const mm = p.mm;
      for (const v of mm.vmas) {
        if (!v.anonVma) {
          h.bareVmas.push(v);
          h.bareChains.push(v.anonChain.length);
        }
        if (v.kind === 'hugetlb') this.saveResv(h, v);
      }
      const nums = h.mmNums;
      nums.push(p.alive ? 1 : 0);
      nums.push(mm.write_protect_seq);
      nums.push(mm.has_pinned ? 1 : 0);
      nums.push(mm.rss_anon);
      nums.push(mm.rss_file);
      nums.push(mm.locked_vm);
      nums.push(mm.pinned_vm);
      (h.pmds[k] ??= new SavedMap()).save(mm.pt.pmds);
      (h.puds[k] ??= new SavedMap()).save(mm.pt.puds);
      k++;
    }
  }

  /**
   * What fork's start and munmap's end change besides the mms (forkBegin(): a new process, its VMAs on the
   * rmap lists; do_munmap(): VMAs split and removed).
   */
  private saveProcs(h: Hot): void {
    const m = this.m;
    h.processes.save(m.processes);
    h.nextPid = m.nextPid;
    h.vmaLists.reset();
    h.vmaFields.reset();
    for (const p of m.processes.values()) {
      const mm = p.mm;
      h.vmaLists.push(mm);
      h.vmaLists.push(mm.vmas);
      h.vmaLists.push(mm.vmas.length);
      for (const v of mm.vmas) {
        h.vmaLists.push(v);
        h.vmaFields.push(v.start);
        h.vmaFields.push(v.end);
        h.vmaFields.push(v.pgoff);
        h.vmaFields.push(v.flags);
      }
    }
    h.mappings.reset();
    h.fileUsers.reset();
    let k = 0;
    for (const o of m.mappingObjs) {
      if (!o) continue;
      h.mappings.push(o);
      (h.mappingVmas[k++] ??= new SavedSet()).save(o.vmas);
      if (o instanceof AddressSpace) h.fileUsers.push(o.users);
    }
  }

  private restoreProcs(h: Hot): void {
    const m = this.m;
    h.processes.restore(m.processes);
    m.nextPid = h.nextPid;
    const lists = h.vmaLists.a;
    const fields = h.vmaFields.a;
    for (let i = 0, f = 0; i < h.vmaLists.n;) {
      const mm = lists[i++] as MmStruct;
      const vmas = lists[i++] as Vma[];
      const n = lists[i++] as number;
      mm.vmas = vmas;
      vmas.length = n;
      for (let k = 0; k < n; k++, f += 4) {
        const v = lists[i++] as Vma;
        vmas[k] = v;
        v.start = fields[f]!;
        v.end = fields[f + 1]!;
        v.pgoff = fields[f + 2]!;
        v.flags = fields[f + 3]!;
      }
    }
    let f = 0;
    for (let k = 0; k < h.mappings.n; k++) {
      const o = h.mappings.a[k]!;
      h.mappingVmas[k]!.restore(o.vmas);
      if (o instanceof AddressSpace) o.users = h.fileUsers.a[f++]!;
    }
  }

  private saveResv(h: Hot, v: Vma): void {
    const priv = v.vm_private_data;
    const list = h.hugetlbVmas;
    list.push(v);
    list.push(priv);
    if (!priv) return;
    list.push(priv.flags);
    list.push(priv.resv);
    const regions = priv.resv?.regions ?? [];
    list.push(regions.length);
    for (const rg of regions) {
      h.resvRegions.push(rg);
      h.resvRegions.push(rg.from);
      h.resvRegions.push(rg.to);
    }
  }

  private restoreResv(h: Hot): void {
    const list = h.hugetlbVmas.a;
    const rs = h.resvRegions.a;
    let r = 0;
    for (let i = 0; i < h.hugetlbVmas.n;) {
      const v = list[i++] as Vma;
      const priv = list[i++] as Vma['vm_private_data'];
      v.vm_private_data = priv;
      if (!priv) continue;
      priv.flags = list[i++] as number;
      priv.resv = list[i++] as NonNullable<typeof priv>['resv'];
      const n = list[i++] as number;
      const regions = (priv.resv?.regions ?? []) as { from: number; to: number }[];
      regions.length = n;
      for (let k = 0; k < n; k++, r += 3) {
        const rg = rs[r] as { from: number; to: number };
        rg.from = rs[r + 1] as number;
        rg.to = rs[r + 2] as number;
        regions[k] = rg;
      }
    }
  }

  private saveHandles(h: Hot): void {
    // The run's handles: a GUP call's return adds one, or pages to one.
    h.objects.save(this.ctx.objects);
    h.holders.save(this.ctx.holders);
    h.handles.reset();
    h.handleLens.reset();
    let k = 0;
    for (const o of this.ctx.objects.values())
      if (o instanceof PinHandle) {
        h.handles.push(o);
        h.handleLens.push(o.entries.length);
        (h.released[k++] ??= new SavedMap()).save(o.releasedAt);
      }
  }

  private saveLocks(h: Hot): void {
    const all = this.locks.all;
    for (let i = 0; i < all.length; i++) (h.locks[i] ??= new SavedMap()).save(all[i]!);
  }

  private restoreHot(h: Hot): void {
    this.m.why = h.why as Machine['why'];
    this.m.warns.step = h.warnStep;
    this.m.misuse.step = h.misuseStep;
    this.ctx.stepIndex = h.stepIndex;
    this.ctx.rep = h.rep;
    const parts = h.parts;
    if (parts & H_FRAMES) this.restoreFrames(h);
    if (parts & H_MMS) this.restoreMms(h);
    if (parts & H_HANDLES) this.restoreHandles(h);
    if (parts & H_LOCKS) this.restoreLocks(h);
    if (parts & H_PROCS) this.restoreProcs(h);
    const pcs = h.pcs;
    for (let k = 0; k < pcs.n; k += 2) this.threads[pcs.a[k]!]!.pc = pcs.a[k + 1]!;
    const opAt = h.opAt.a;
    const ops = h.ops.a;
    for (let k = 0, at = 0; k < h.opAt.n; k += 2)
      at = restoreOwned(this.threads[opAt[k]!]!.ops[opAt[k + 1]!]!, ops, at);
  }

  private restoreFrames(h: Hot): void {
    const m = this.m;
    m.huge_zero_folio = h.hugeZero;
    const a = m.alloc;
    a.allocations = h.allocations;
    a.injectSeen = h.injectSeen;
    a.lastFailure = h.lastFailure as typeof a.lastFailure;
    a.memallocPin = h.memallocPin;
    const slab = m.pteSlab;
    slab.used = h.slabUsed;
    h.slabFree.restoreInto(slab.free);
    const areas = a.areas;
    for (let i = 0; i < areas.length; i++) {
      const ar = areas[i]!;
      ar.free = h.areaFree[i]!;
      ar.heads.set(h.heads[i]!);
    }
    m.vmstat.values().set(h.vm);
    // mTHP counters: the saved orders' objects in place, orders counted since dropped.
    const mthp = m.vmstat.mthp;
    const saved = h.mthp;
    let keep = mthp.size === saved.n / 3;
    for (let i = 0; keep && i < saved.n; i += 3) keep = mthp.has(saved.a[i]!);
    if (!keep) mthp.clear();
    for (let i = 0; i < saved.n; i += 3) {
      const st = h.mthpStats.a[i / 3]!;
      st.anon_fault_alloc = saved.a[i + 1]!;
      st.anon_fault_fallback = saved.a[i + 2]!;
      if (!keep) mthp.set(saved.a[i]!, st);
    }
    h.lru.restoreInto(m.lruActivateBatch);
    h.lruAdd.restoreInto(m.lruAddBatch);
    h.lruMlock.restoreInto(m.lruMlockBatch);
    m.foliosAllocated = h.foliosAllocated;
    h.active.restore(m.activeFolios);
    h.mlocked.restore(m.mem.mlocked);
    h.fsPrivate.restore(m.mem.fsPrivate);
    m.warns.truncate(h.warns);
    if (m.misuse.records.length > h.misuse) m.misuse.records.length = h.misuse;
    h.tainted.restore(m.misuse.taintedFolios);
    h.freedInUse.restore(m.misuse.freedInUse as Map<number, unknown>);
    let k = 0;
    for (const hs of m.hugetlb.hstates.values()) {
      const at = 4 * k;
      hs.nr_huge_pages = h.hstateNums.a[at]!;
      hs.resv_huge_pages = h.hstateNums.a[at + 1]!;
      hs.surplus_huge_pages = h.hstateNums.a[at + 2]!;
      hs.nr_overcommit_huge_pages = h.hstateNums.a[at + 3]!;
      h.hstateFree[k++]!.restoreInto(hs.freelist);
    }
  }

  private restoreMms(h: Hot): void {
    const nums = h.mmNums.a;
    for (let k = 0; k < h.procs.n; k++) {
      const p = h.procs.a[k]!;
      const mm = p.mm;
      const b = k * 7;
      p.alive = nums[b] === 1;
      mm.write_protect_seq = nums[b + 1]!;
      mm.has_pinned = nums[b + 2] === 1;
      mm.rss_anon = nums[b + 3]!;
      mm.rss_file = nums[b + 4]!;
      mm.locked_vm = nums[b + 5]!;
      mm.pinned_vm = nums[b + 6]!;
      // The Map's own methods: PmdDirectory.set() would free the tables it replaces.
      h.pmds[k]!.restore(mm.pt.pmds);
      h.puds[k]!.restore(mm.pt.puds);
    }
    // anon_vmas made since (anon_vma_prepare()): unlinked here; the registry below drops every mapping id
    // taken since (past its old length, or off its free list).
    for (let i = 0; i < h.bareVmas.n; i++) {
      const v = h.bareVmas.a[i]!;
      const av = v.anonVma;
      if (!av) continue;
      av.vmas.delete(v);
      v.anonVma = undefined;
      v.anonChain.length = h.bareChains.a[i]!;
    }
    this.restoreResv(h);
    const ids = this.m.mappingObjs;
    if (ids.length > h.mappingIds) ids.length = h.mappingIds;
    h.freeMappingIds.restoreInto(this.m.freeMappingIds);
    for (let i = 0; i < h.freeMappingIds.n; i++) ids[h.freeMappingIds.a[i]!] = undefined;
  }

  private restoreHandles(h: Hot): void {
    h.objects.restore(this.ctx.objects);
    h.holders.restore(this.ctx.holders);
    for (let i = 0; i < h.handles.n; i++) {
      const o = h.handles.a[i]!;
      o.entries.length = o.addrs.length = h.handleLens.a[i]!;
      h.released[i]!.restore(o.releasedAt);
    }
  }

  private restoreLocks(h: Hot): void {
    const all = this.locks.all;
    for (let i = 0; i < all.length; i++) h.locks[i]!.restore(all[i] as Map<string, unknown>);
  }

  // --- verify -------------------------------------------------------------------------------------

  private verifyPages(): void {
    const check = (name: string, a: ArrayLike<number>, s: ArrayLike<number>) => {
      for (let p = 0; p < this.nr; p++)
        if (a[p] !== s[p] && !this.inSet[p])
          throw new Error(`gupsim bug: the journal missed a change of ${name} of pfn 0x${p.toString(16)}`);
    };
    check('refcount', this.rc, this.src);
    check('mapcount', this.mc, this.smc);
    check('index', this.ix, this.six);
    check('flags', this.fl, this.sfl);
    check('mapping', this.mp, this.smp);
    for (const x of this.extras) check(x.name, x.a, x.s);
    this.verifyLanes();
  }

  /** The hash lanes kept up to date are those of the state now, computed from scratch. */
  private verifyLanes(): void {
    let a = 0;
    let b = 0;
    const arrays: ArrayLike<number>[] = [this.rc, this.mc, this.ix, this.fl, this.mp, ...this.extras.map((x) => x.a)];
    arrays.forEach((arr, id) => {
      if (id >= A_EXTRA && !this.extras[id - A_EXTRA]!.hashed) return;
      for (let p = 0; p < this.nr; p++) {
        const v = arr[p]!;
        if (v === 0) continue;
        const i = id * this.nr + p;
        a = (a + laneA(i, v) - laneA(i, 0)) | 0;
        b = (b + laneB(i, v) - laneB(i, 0)) | 0;
      }
    });
    if (a !== this.pageA || b !== this.pageB) throw new Error('gupsim bug: the page-state hash lanes are stale');
    const words = this.m.pteSlab.usedWords();
    const sa = new Int32Array(this.slotA.length);
    for (let w = 0; w < words; w++) {
      const v = this.slabWord(w);
      if (v === 0) continue;
      const slot = (w / TABLE_WORDS) | 0;
      const i = w % TABLE_WORDS;
      sa[slot] = (sa[slot]! + laneA(i, v) - laneA(i, 0)) | 0;
    }
    for (let t = 0; t < sa.length; t++)
      if (sa[t] !== this.slotA[t]) throw new Error(`gupsim bug: the hash lanes of PTE table ${t} are stale`);
  }

  private verifyUndo(before: MachineSnapshot): void {
    const now = snapshotMachine(this.m, this.roots);
    const diff = snapshotDiff(before, now);
    if (diff) throw new Error(`gupsim bug: going back left the state different: ${diff}`);
  }
}

/** Add every plain object and array reached from `root` through plain objects and arrays to `into`. */
function reachable(root: unknown, into: WeakSet<object>): void {
  const stack: unknown[] = [root];
  while (stack.length) {
    const o = stack.pop();
    if (o === null || typeof o !== 'object' || into.has(o)) continue;
    const proto = Object.getPrototypeOf(o) as unknown;
    if (proto !== Object.prototype && proto !== Array.prototype && proto !== null) continue;
    into.add(o);
    for (const v of Object.values(o)) stack.push(v);
  }
}

/** Where two snapshots of one machine differ (undefined: they do not), for verify. */
export function snapshotDiff(a: MachineSnapshot, b: MachineSnapshot): string | undefined {
  if (a.pool.length !== b.pool.length) return 'pool size';
  for (let i = 0; i < a.pool.length; i++) if (a.pool[i] !== b.pool[i]) return `pool byte ${i}`;
  for (const [name, x] of a.extras) {
    const y = b.extras.get(name);
    if (y) for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return `${name}[${i}]`;
  }
  if (a.slabUsed !== b.slabUsed) return 'slab high-water mark';
  for (let i = 0; i < a.slabWords; i++) if (a.slab[i] !== b.slab[i]) return `slab word ${i}`;
  if (a.slabFree.join() !== b.slabFree.join()) return 'slab free list';
  const index = new Map(b.objs.map((o, i) => [o, i]));
  // The cache fields' own objects (the allocator's zone lists) are caches too, and the arrays, maps and plain
  // objects in them (each cached zone list; an area is not a cache).
  const caches = new Set<unknown>();
  for (const s of [a, b]) {
    const stack: unknown[] = [];
    s.objs.forEach((o, i) => {
      const skip = CACHES[(o as object).constructor?.name ?? ''];
      const d = s.data[i];
      if (!skip || !Array.isArray(d) || !Array.isArray(d[0])) return;
      const [keys, vals] = d as [string[], unknown[]];
      keys.forEach((k, x) => {
        if (skip.includes(k)) stack.push(vals[x]);
      });
    });
    const at = s === b ? index : new Map(s.objs.map((o, i) => [o, i]));
    while (stack.length) {
      const o = stack.pop();
      if (o === null || typeof o !== 'object' || caches.has(o)) continue;
      caches.add(o);
      const i = at.get(o);
      if (i === undefined) continue;
      const d = s.data[i];
      const inner = Array.isArray(o) ? (d as unknown[]) : (d as [unknown[], unknown[]])[1];
      for (const v of inner) {
        if (v === null || typeof v !== 'object') continue;
        if (Array.isArray(v) || v instanceof Map || Object.getPrototypeOf(v) === Object.prototype) stack.push(v);
      }
    }
  }
  for (let i = 0; i < a.objs.length; i++) {
    const o = a.objs[i]!;
    if (caches.has(o)) continue;
    const j = index.get(o);
    const name = (o as object).constructor?.name ?? 'object';
    if (j === undefined) return `${name} no longer reached`;
    const d = same(dropCaches(name, a.data[i]), dropCaches(name, b.data[j]));
    if (d) return `${name}: ${d}`;
  }
  return undefined;
}

/** Fields that only cache what other state decides (the allocator's last area and zone lists). */
const CACHES: Record<string, string[]> = { PageAllocator: ['lastArea', 'byZone', 'zonelists'] };

/** An object's saved [keys, values] without its cache fields. */
function dropCaches(name: string, d: unknown): unknown {
  const skip = CACHES[name];
  if (!skip || !Array.isArray(d) || d.length !== 2 || !Array.isArray(d[0])) return d;
  const [keys, vals] = d as [string[], unknown[]];
  const k: string[] = [];
  const v: unknown[] = [];
  keys.forEach((key, i) => {
    if (!skip.includes(key)) {
      k.push(key);
      v.push(vals[i]);
    }
  });
  return [k, v];
}

function same(x: unknown, y: unknown): string | undefined {
  if (x === y) return undefined;
  if (ArrayBuffer.isView(x) && ArrayBuffer.isView(y)) {
    const p = x as unknown as ArrayLike<number>;
    const q = y as unknown as ArrayLike<number>;
    if (p.length !== q.length) return 'length';
    for (let i = 0; i < p.length; i++)
      if (p[i] !== q[i] && !(Number.isNaN(p[i]) && Number.isNaN(q[i]))) return `[${i}]`;
    return undefined;
  }
  if (Array.isArray(x) && Array.isArray(y)) {
    if (x.length !== y.length) return `${x.length} entries, now ${y.length}`;
    for (let i = 0; i < x.length; i++) {
      const d = same(x[i], y[i]);
      if (d) return `${i}: ${d}`;
    }
    return undefined;
  }
  if (typeof x === 'number' && typeof y === 'number' && Number.isNaN(x) && Number.isNaN(y)) return undefined;
  return `${String(x)} vs ${String(y)}`;
}
