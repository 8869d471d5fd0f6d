// The race explorer's state (no kernel counterpart): its hash, and going back to an earlier state.
//
// The hash covers what decides what the machine does next and what a person can observe, in a form that
// does not depend on the order things happened in: every page's state and contents (by frame), each
// process's mm (its fields, VMAs and page tables by address, not by the PTE-slab slot a table happens to
// sit in), the allocator's free lists, the hugetlb pools, the counters, the handles, the modelled locks and
// each thread's live state (ops.hashLive(): what its next points depend on, not leftovers of done steps).
// Diagnostics (the last refusal's `why`, allocation statistics) are not state.
//
// The page-state part (struct pages, contents, PTE tables) is kept up to date by the journal
// (journal.ts), which compares only the words that can change after each point.

import { PinHandle, type RunContext } from '../../scenario/context.js';
import type { Machine } from '../../mm/machine.js';
import { Hash, LaneSum, laneA } from './state_hash.js';
import type { Locks } from './locks.js';
import type { Op } from './op.js';
import { H_ALL, H_FRAMES, H_HANDLES, H_LOCKS, H_MMS, type Journal } from './journal.js';

/** What a released entry of a pin handle hashes as (no PFN is negative). */
const RELEASED = -2;

/** The parts of the state hashed apart (page state, mms, handles, locks); the threads follow. */
const PARTS = 4;

/** A thread of a concurrent block: its ops and the one running. */
export interface Thread {
  name: string;
  ops: Op[];
  pc: number;
  /**
   * When it may run: a thread runs only once every thread of a lower stage has ended (the blocks of a
   * scenario in order: block k's threads are stage 2k, the steps between blocks k and k+1 stage 2k+1).
   */
  stage: number;
  /** For the steps between blocks: each op's index among the scenario's steps. */
  steps?: number[];
}

/** The state hash of a run of the explorer. */
export class StateHash {
  private readonly h = new Hash();
  private readonly ph = new Hash();
  private readonly names = new Map<string, number>();

  constructor(
    readonly ctx: RunContext,
    readonly locks: Locks,
    readonly threads: Thread[],
    readonly journal: Journal,
  ) {}

  /** A small number per name (a process, a handle): names hash by it. */
  private nameId(n: string): number {
    let id = this.names.get(n);
    if (id === undefined) this.names.set(n, (id = this.names.size + 1));
    return id;
  }

  /**
   * Per depth of the search: the hash of each part of the state (page state, mms, handles, locks), then of
   * each thread. A point changes only the parts its footprint writes and its own thread (the journal saves
   * no more: journal.ts), so the state it leads to takes the others from the state it ran in.
   */
  private cache = new Float64Array(0);

  /** The hash of the current state and `extra` (the search's sleep set), as a number (52 bits). */
  value(extra: number): number {
    const T = this.threads.length;
    const stride = PARTS + T;
    const d = this.journal.points;
    if (this.cache.length < (d + 1) * stride) {
      const c = new Float64Array(Math.max((d + 1) * stride, 2 * this.cache.length));
      c.set(this.cache);
      this.cache = c;
    }
    const c = this.cache;
    const at = d * stride;
    let parts = H_ALL;
    let thread = -1;
    if (d > 0) {
      parts = this.journal.lastParts();
      thread = this.journal.lastThread();
      c.copyWithin(at, at - stride, at);
    }
    this.parts(parts, thread, c, at);
    if (this.journal.verifying) {
      const full = new Float64Array(stride);
      this.parts(H_ALL, -1, full, 0);
      for (let k = 0; k < stride; k++)
        if (full[k] !== c[at + k]) throw new Error(`gupsim bug: a point changed state part ${k} it did not declare`);
    }
    const h = this.h;
    h.reset();
    for (let k = 0; k < stride; k++) h.num(c[at + k]!);
    h.word(extra);
    return h.value();
  }

  /** Hash the parts in `parts` (H_FRAMES...) and the thread `thread` (-1: every one) into c[at...]. */
  private parts(parts: number, thread: number, c: Float64Array, at: number): void {
    const m = this.ctx.m;
    const h = this.h;
    if (parts & H_FRAMES) {
      h.reset();
      this.pageState(m, h);
      c[at] = h.value();
    }
    if (parts & H_MMS) {
      h.reset();
      this.mms(m, h);
      c[at + 1] = h.value();
    }
    if (parts & H_HANDLES) {
      h.reset();
      this.handles(h);
      c[at + 2] = h.value();
    }
    if (parts & H_LOCKS) {
      h.reset();
      this.lockHolders(h);
      c[at + 3] = h.value();
    }
    const threads = this.threads;
    for (let i = thread < 0 ? 0 : thread, end = thread < 0 ? threads.length : thread + 1; i < end; i++) {
      const t = threads[i]!;
      h.reset();
      h.word(t.pc);
      for (const op of t.ops) op.hashLive(h);
      c[at + PARTS + i] = h.value();
    }
  }

  private pageState(m: Machine, h: Hash): void {
    h.word(this.journal.pageA);
    h.word(this.journal.pageB);
    // The allocator's free lists live in the pool (the free heads' slots); the list heads here.
    for (const a of m.alloc.areas) {
      h.num(a.free);
      h.int32s(a.heads);
    }
    for (const hs of m.hugetlb.hstates.values()) {
      h.num(hs.nr_huge_pages);
      h.num(hs.resv_huge_pages);
      h.num(hs.surplus_huge_pages);
      h.words(hs.freelist);
    }
    // Sets as sums (their order is the order things happened in); the batch is ordered.
    h.word(setSum(m.mem.mlocked));
    h.words(m.lruActivateBatch);
    h.words(m.lruAddBatch);
    h.words(m.lruMlockBatch);
    h.word(setSum(m.activeFolios));
    h.num(m.huge_zero_folio);
    h.num(m.warns.records.length);
    h.num(m.misuse.records.length);
    h.nums(m.vmstat.values());
  }

  private mms(m: Machine, h: Hash): void {
    // Processes by name (a sum: the order they were made in does not count).
    const procs = this.sum;
    procs.reset();
    const ph = this.ph;
    for (const p of m.processes.values()) {
      ph.reset();
      // The mm's fields and VMAs, hashed in one go (num() of each, in this order).
      const mm = p.mm;
      const n = 10 + 3 * mm.vmas.length;
      if (this.fields.length < n) this.fields = new Float64Array(2 * n);
      const f = this.fields;
      f[0] = this.nameId(p.name);
      f[1] = p.alive ? 1 : 0;
      f[2] = p.fatalSignalPending ? 1 : 0;
      f[3] = mm.write_protect_seq;
      f[4] = mm.has_pinned ? 1 : 0;
      f[5] = mm.rss_anon;
      f[6] = mm.rss_file;
      f[7] = mm.locked_vm;
      f[8] = mm.pinned_vm;
      f[9] = mm.vmas.length;
      let k = 10;
      for (const v of mm.vmas) {
        f[k++] = v.start;
        f[k++] = v.end;
        f[k++] = v.flags;
      }
      ph.nums(f, n);
      // Page tables by address: a sum over the PMD directory and the PUD leaves.
      this.tables.reset();
      Map.prototype.forEach.call(mm.pt.pmds, this.pmdEntry);
      mm.pt.puds.forEach(this.pudEntry);
      this.tables.into(ph);
      procs.addHash(ph);
    }
    procs.into(h);
  }

  /** mms()'s numbers of one mm (reused). */
  private fields = new Float64Array(64);
  /** The sums mms() and rest() build (reused: no allocation per state). */
  private readonly sum = new LaneSum();
  /** The page-table sum of one mm, built by the two callbacks below (no allocation per entry). */
  private readonly tables = new LaneSum();
  private readonly pmdEntry = (s: number | Uint32Array, k: number): void => {
    let x: number;
    if (typeof s === 'number') x = s;
    else {
      const slot = this.journal.slotOf(s);
      x = this.journal.slotA[slot]! ^ Math.imul(this.journal.slotB[slot]!, 0x2545f491);
    }
    this.tables.add(k, x);
  };
  private readonly pudEntry = (s: number, k: number): void => {
    this.tables.add(-1 - k, s);
  };

  private handles(h: Hash): void {
    // Handles: a sum (the order they were made in does not count); a pin handle from its arrays.
    const handles = this.sum;
    handles.reset();
    const oh = this.ph;
    for (const o of this.ctx.objects.values()) {
      oh.reset();
      oh.word(this.nameId(o.name));
      if (o instanceof PinHandle) {
        // A released entry is not an absent one: unpinning it again is misuse.
        for (let i = 0; i < o.entries.length; i++) {
          oh.num(o.addrs[i]!);
          oh.num(o.releasedAt.has(i) ? RELEASED : o.entries[i]!);
        }
        oh.word(o.kind === 'pin' ? 1 : 0);
      } else
        for (const f of o.frames()) {
          oh.num(f.addr);
          oh.num(f.pfn);
          oh.word(f.pages);
          oh.word(f.pins);
          oh.word(f.refs);
        }
      handles.addHash(oh);
    }
    handles.into(h);
  }

  private lockHolders(h: Hash): void {
    // Locks: a sum per map (its entries' order is the order they were taken in).
    const all = this.locks.all;
    const holders = this.sum;
    for (let k = 0; k < all.length; k++) {
      holders.reset();
      this.lockMap = k;
      all[k]!.forEach(this.holder);
      holders.into(h);
    }
  }
  /** One lock holder into the sum (a shared callback: an iterator would allocate an entry per holder). */
  private lockMap = 0;
  private readonly holder = (v: string | number, mm: string): void => {
    this.sum.add(this.lockMap, this.nameId(mm) * 0x10001 + (typeof v === 'number' ? v : this.nameId(v)));
  };
}

/** An unordered set of numbers as one word. */
function setSum(s: ReadonlySet<number>): number {
  let x = 0;
  for (const v of s) x = (x + laneA(v, 1)) | 0;
  return x;
}
