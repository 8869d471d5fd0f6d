// The race explorer's state (no kernel counterpart): its hash, and going back to an earlier state.
//
// The hash covers what decides what the machine does next and what a person can observe, in a form that
// does not depend on the order things happened in: every page's state and contents (by frame), each
// process's mm (its fields, VMAs and page tables by address, not by the PTE-slab slot a table happens to
// sit in), the allocator's free lists, the hugetlb pools, the counters, the handles, the modelled locks and
// each thread's live state (ops.hashLive(): what its next points depend on, not leftovers of done steps).
// Diagnostics (the last refusal's `why`, allocation statistics) are not state.
//
// Going back: machine snapshots (mm/snapshot.ts) with the threads and locks as extra roots.

import type { RunContext } from '../../scenario/context.js';
import type { Machine } from '../../mm/machine.js';
import { snapshotMachine, restoreMachine, type MachineSnapshot } from '../../mm/snapshot.js';
import { Hash, WordHash, laneA, laneB } from './state_hash.js';
import type { Locks } from './locks.js';
import type { Op } from './op.js';

/** A thread of a concurrent block: its ops and the one running. */
export interface Thread {
  name: string;
  ops: Op[];
  pc: number;
}

/** The state hash of a run of the explorer. */
export class StateHash {
  private readonly pool: Int32Array;
  private readonly poolHash = new WordHash();
  private readonly extras = new Map<string, WordHash>();
  private readonly extraViews = new Map<string, Int32Array>();
  /** Per PTE table (the slab's view of its slot): the hash of its words. */
  private readonly tables = new Map<Uint32Array, WordHash>();
  private readonly tableViews = new Map<Uint32Array, Int32Array>();
  private readonly h = new Hash();
  private readonly names = new Map<string, number>();

  constructor(
    readonly ctx: RunContext,
    readonly locks: Locks,
    readonly threads: Thread[],
  ) {
    this.pool = new Int32Array(ctx.m.mem.pool);
  }

  /** A small number per name (a process, a handle): names hash by it. */
  private nameId(n: string): number {
    let id = this.names.get(n);
    if (id === undefined) this.names.set(n, (id = this.names.size + 1));
    return id;
  }

  private tableHash(t: Uint32Array): WordHash {
    let x = this.tables.get(t);
    let v = this.tableViews.get(t);
    if (!x || !v) {
      this.tables.set(t, (x = new WordHash()));
      this.tableViews.set(t, (v = new Int32Array(t.buffer, t.byteOffset, t.length)));
    }
    x.update(v, v.length);
    return x;
  }

  /** The hash of the current state and `extra` (the search's sleep set), as a number (52 bits). */
  value(extra: number): number {
    const m = this.ctx.m;
    const h = this.h;
    h.reset();
    this.pageState(m, h);
    this.mms(m, h);
    this.rest(h);
    h.word(extra);
    return h.value();
  }

  private pageState(m: Machine, h: Hash): void {
    this.poolHash.update(this.pool, this.pool.length);
    h.word(this.poolHash.a);
    h.word(this.poolHash.b);
    for (const [name, arr] of m.mem.extras) {
      let x = this.extras.get(name);
      let v = this.extraViews.get(name);
      if (!x || !v) {
        this.extras.set(name, (x = new WordHash()));
        this.extraViews.set(name, (v = new Int32Array(arr.buffer, arr.byteOffset, arr.length)));
      }
      x.update(v, v.length);
      // All zeros hashes as no array: an extra array made since a snapshot is zeroed by its restore.
      if (x.a !== 0 || x.b !== 0) {
        h.str(name);
        h.word(x.a);
        h.word(x.b);
      }
    }
    // The allocator's free lists live in the pool (the free heads' slots); the list heads here.
    for (const a of m.alloc.areas) {
      h.num(a.free);
      for (let i = 0; i < a.heads.length; i++) h.num(a.heads[i]!);
    }
    for (const hs of m.hugetlb.hstates.values()) {
      h.num(hs.nr_huge_pages);
      h.num(hs.resv_huge_pages);
      h.num(hs.surplus_huge_pages);
      h.words(hs.freelist);
    }
    h.words([...m.mem.mlocked].sort((x, y) => x - y));
    h.words(m.lruActivateBatch);
    h.words([...m.activeFolios].sort((x, y) => x - y));
    h.num(m.huge_zero_folio);
    h.num(m.warns.records.length);
    h.num(m.misuse.records.length);
    const v = m.vmstat.snapshot() as Record<string, number>;
    for (const k in v) h.num(v[k]!);
  }

  private mms(m: Machine, h: Hash): void {
    // Processes by name (a sum: the order they were made in does not count).
    let sa = 0;
    let sb = 0;
    for (const p of m.processes.values()) {
      const ph = new Hash();
      ph.word(this.nameId(p.name));
      ph.word(p.alive ? 1 : 0);
      ph.word(p.fatalSignalPending ? 1 : 0);
      const mm = p.mm;
      ph.num(mm.write_protect_seq);
      ph.word(mm.has_pinned ? 1 : 0);
      ph.num(mm.rss_anon);
      ph.num(mm.rss_file);
      ph.num(mm.locked_vm);
      ph.num(mm.pinned_vm);
      ph.word(mm.vmas.length);
      for (const v of mm.vmas) {
        ph.num(v.start);
        ph.num(v.end);
        ph.num(v.flags);
      }
      // Page tables by address: a sum over the PMD directory and the PUD leaves.
      let ta = 0;
      let tb = 0;
      for (const [k, s] of mm.pt.pmds) {
        let x: number;
        if (typeof s === 'number') x = s;
        else {
          const t = this.tableHash(s);
          x = t.a ^ Math.imul(t.b, 0x2545f491);
        }
        ta = (ta + laneA(k, x)) | 0;
        tb = (tb + laneB(k, x)) | 0;
      }
      for (const [k, s] of mm.pt.puds) {
        ta = (ta + laneA(-1 - k, s)) | 0;
        tb = (tb + laneB(-1 - k, s)) | 0;
      }
      ph.word(ta);
      ph.word(tb);
      sa = (sa + laneA(ph.a, ph.b)) | 0;
      sb = (sb + laneB(ph.b, ph.a)) | 0;
    }
    h.word(sa);
    h.word(sb);
  }

  private rest(h: Hash): void {
    // Handles by name.
    const objs = [...this.ctx.objects.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
    for (const o of objs) {
      h.word(this.nameId(o.name));
      for (const f of o.frames()) {
        h.num(f.addr);
        h.num(f.pfn);
        h.word(f.pages);
        h.word(f.pins);
        h.word(f.refs);
      }
    }
    for (const [k, mm, v] of this.locks.entries()) {
      h.word(k);
      h.word(this.nameId(mm));
      h.word(typeof v === 'number' ? v : this.nameId(v));
    }
    for (const t of this.threads) {
      h.word(t.pc);
      for (const op of t.ops) op.hashLive(h);
    }
  }
}

/** Going back to earlier states: one snapshot per search depth, taken into and reused. */
export class StateStore {
  private readonly snaps: MachineSnapshot[] = [];
  constructor(
    private readonly m: Machine,
    private readonly roots: object[],
  ) {}
  save(depth: number): void {
    this.snaps[depth] = snapshotMachine(this.m, this.roots, this.snaps[depth]);
  }
  restore(depth: number): void {
    restoreMachine(this.m, this.snaps[depth]!);
  }
}
