// GUP as the race explorer runs it, one atomic point at a time, through the model's own per-entry code
// (mm/gup.c): the lockless fast walk (gup_fast(): read write_protect_seq, local_irq_save(); per entry:
// read it, grab the folio, re-check the entry and drop the folio on change; local_irq_restore() and the
// seqcount re-check, which unpins everything on change) and the slow path (mmap_read_lock(); per page
// follow_page_mask() grabbing the page under its page-table lock, or the fault it asks for;
// mmap_read_unlock(); for FOLL_LONGTERM check_and_migrate_movable_pages(), retried on -EAGAIN).

import { NO_FOLIO, PAGE_SIZE, PMD_SIZE, PUD_SIZE } from '../../mm/memmap.js';
import { pte_index, pte_pfn, pte_present } from '../../mm/pgtable.js';
import { FOLL_FAST_ONLY, FOLL_LONGTERM, FOLL_PIN, FOLL_SPLIT_PMD } from '../../mm/foll_flags.js';
import {
  check_and_migrate_movable_pages,
  getUserPagesStep,
  gupFastArgs,
  gupFastGrab,
  gupFastKeep,
  gupFastSeqBegin,
  gupFastSeqChanged,
  gupFastSeqRetry,
  gupFastSlowFlags,
  gupLockedDone,
  gupLockedFlags,
  gupWalk,
  gupWalkResult,
  GUP_NO_FAULT,
  SEQ_BUSY,
  type GupWalk,
} from '../../mm/gup.js';
import type { Process } from '../../mm/task.js';
import { EAGAIN, errnoName } from '../../uapi/errno.js';
import type { Machine } from '../../mm/machine.js';
import { Footprint, MM_FIELDS, MM_LOCK, MM_PT, NO_SLOT, R_FRAMES, mmRes } from './footprint.js';
import {
  journalledVma,
  mappedPfn,
  nameFaultFrames,
  hugetlbCowWaits,
  nameFaultFolio,
  nameFolioOf,
  nameNewEntries,
  nameFolioFields,
  quiet,
  type PointRecord,
  type World,
} from './op.js';
import type { Vma } from '../../mm/mm_types.js';
import type { Hash } from './state_hash.js';
import { hex } from '../../mm/hex.js';

/** The entry at addr: a PUD or PMD leaf, or the PTE (0 when nothing is there), and the size it maps. */
function entryAt(p: Process, addr: number, out: { e: number; leaf: boolean; size: number }): void {
  const pt = p.mm.pt;
  const pud = pt.pudLeaf(addr);
  if (pud) {
    out.e = pud;
    out.leaf = true;
    out.size = PUD_SIZE;
    return;
  }
  const slot = pt.pmdSlot(addr);
  out.leaf = typeof slot === 'number';
  out.size = out.leaf ? PMD_SIZE : PAGE_SIZE;
  out.e = typeof slot === 'number' ? slot : slot ? slot[pte_index(addr)]! : 0;
}

/** A leaf's PMD (PUD) slot re-read: the leaf there now, or 0 (a table pointer, or nothing). */
function leafNow(p: Process, addr: number, size: number): number {
  const pt = p.mm.pt;
  return size === PUD_SIZE ? pt.pudLeaf(addr) : pt.pmdLeaf(addr);
}

// ---------------------------------------------------------------------------------------------
// The slow path

const S_LOCK = 0;
const S_WALK = 1;
const S_UNLOCK = 2;
const S_MIGRATE = 3;
const S_DONE = 4;

/**
 * __gup_longterm_locked() / __get_user_pages_locked() of [start, start + nrPages) into pages[pagesOff..]
 * as points. `seen` (if given) gets a 1 for each page taken: the walk takes a page under its page-table
 * lock, so the caller mapped it there while GUP held its reference.
 */
export class SlowWalk {
  phase = S_LOCK;
  walk: GupWalk | undefined = undefined;
  /** __get_user_pages_locked()'s result, then the walk's. */
  ret = 0;
  nrPinned = 0;
  done = false;
  constructor(
    readonly proc: string,
    readonly start: number,
    readonly nrPages: number,
    public flags: number,
    readonly pages: Int32Array,
    readonly pagesOff: number,
    readonly seen: Uint8Array | undefined,
  ) {
    if (nrPages === 0) this.finish(0);
  }
  private caller(w: World): Process {
    return w.ctx.proc(this.proc);
  }
  private get longterm(): boolean {
    return (this.flags & FOLL_LONGTERM) !== 0;
  }
  enabled(w: World): boolean {
    if (this.phase === S_LOCK) return w.locks.canRead(this.proc);
    if (this.phase === S_WALK && this.walk!.fault !== GUP_NO_FAULT)
      return w.locks.canFault(this.proc) && !hugetlbCowWaits(w, this.caller(w), this.walk!.start, PAGE_SIZE);
    if (this.phase === S_MIGRATE) return w.locks.ptl.size === 0 && w.locks.writer.size === 0;
    return true;
  }
  structural(w: World): boolean {
    if (this.phase === S_MIGRATE) return true;
    if (this.phase !== S_WALK) return false;
    // Outside the memory the journal keeps (page cache, file rmap) or with MMU notifiers to call, a follow
    // or a fault may change anything.
    // With no VMA the walk ends in -EFAULT (check_vma_flags() is not reached; gupsim has no stack to grow).
    const vma = this.walkVma(w);
    return vma !== undefined && (!journalledVma(vma) || w.ctx.m.notifiers.size > 0);
  }
  private walkVma(w: World): Vma | undefined {
    const walk = this.walk!;
    return walk.vma ?? w.ctx.proc(this.proc).mm.vma_lookup(walk.start);
  }
  footprint(w: World, fp: Footprint): void {
    const s = w.slot(this.proc);
    if (s === NO_SLOT || this.structural(w)) return fp.any();
    // A hugetlb COW may unmap the page from the other processes that map it (unmap_ref_private()). A follow
    // (no fault due) only grabs the folio (hugetlb_follow_page_mask()): its fields, no PTE table.
    if (this.phase === S_WALK && this.walkVma(w)?.kind === 'hugetlb') {
      fp.any();
      const walk = this.walk!;
      if (!fp.forJournal || walk.fault !== GUP_NO_FAULT) return;
      fp.namesFrames();
      fp.namesTables();
      nameFolioOf(w.ctx.m, mappedPfn(this.caller(w), walk.start), fp);
      return;
    }
    const pt = mmRes(s, MM_PT);
    const lock = mmRes(s, MM_LOCK);
    const fields = mmRes(s, MM_FIELDS);
    if (this.phase === S_WALK) {
      fp.set(pt | R_FRAMES, pt | R_FRAMES);
      // A follow writes at most the entry at the walk's address (FOLL_TOUCH); a fault (or an unshare) any
      // entry of its table (an mTHP maps several). Either writes the folio mapped there (a grab, a COW's put,
      // an unshare, a PMD split), what a fault maps anew.
      if (!fp.forJournal) return;
      const p = this.caller(w);
      const walk = this.walk!;
      const start = walk.start;
      const follow = walk.fault === GUP_NO_FAULT && !(walk.flags & FOLL_SPLIT_PMD);
      fp.namesTables();
      const t = p.mm.pt.pteTable(start);
      if (t) fp.table(t, follow ? pte_index(start) : 0, follow ? 1 : t.length);
      fp.namesFrames();
      if (follow) {
        // follow_page_mask(): the grab (try_grab_folio()) and marking the folio accessed, its fields only.
        nameFolioOf(w.ctx.m, mappedPfn(p, start), fp);
        return;
      }
      nameFaultFrames(w.ctx.m, fp);
      nameNewEntries(w.ctx.m, p, start, PAGE_SIZE, fp);
      nameFaultFolio(w.ctx.m, p, start, fp);
      return;
    }
    if (this.phase === S_LOCK) fp.set(lock | fields, lock | fields | R_FRAMES);
    else fp.set(0, lock | R_FRAMES); // S_UNLOCK: the lock, and a WARN when nothing was taken
    // The lock and its end write no frame (FRAMES is for the WARN log: gupLockedDone()).
    fp.namesFrames();
  }
  point(w: World): PointRecord {
    const m = w.ctx.m;
    // PF_MEMALLOC_PIN (memalloc_pin_save()) is the task's: on only while this thread runs.
    if (this.longterm) m.alloc.memallocPin++;
    try {
      return this.step(w, m);
    } finally {
      if (this.longterm) m.alloc.memallocPin--;
    }
  }
  private step(w: World, m: Machine): PointRecord {
    const p = this.caller(w);
    switch (this.phase) {
      case S_LOCK: {
        w.locks.add(w.locks.readers, this.proc, 1);
        this.flags = gupLockedFlags(p.mm, this.pages, this.flags);
        this.walk = gupWalk(p, p.mm, this.start, this.nrPages, this.flags, this.pages, this.pagesOff);
        this.phase = S_WALK;
        return { fn: '__get_user_pages_locked', what: 'mmap_read_lock()' };
      }
      case S_WALK: {
        const walk = this.walk!;
        const before = walk.i;
        const at = walk.start;
        const kind = getUserPagesStep(m, walk);
        if (this.seen) this.seen.fill(1, this.pagesOff + before, this.pagesOff + walk.i);
        if (walk.done) this.phase = S_UNLOCK;
        if (!w.describe) return quiet(kind === 'fault' ? 'handle_mm_fault' : 'follow_page_mask');
        if (kind === 'fault') return { fn: 'faultin_page', what: `${hex(at)}: handle_mm_fault()` };
        if (kind === 'nopage') return { fn: 'follow_page_mask', what: `${hex(at)}: not mapped as needed: a fault` };
        if (kind === 'error') return { fn: 'follow_page_mask', what: `${hex(at)}: ${errnoName(walk.ret)}` };
        const pfn = this.pages[this.pagesOff + before]!;
        return { fn: 'follow_page_mask', what: `${hex(at)}: pfn ${hex(pfn)} grabbed (${walk.i - before} page(s))` };
      }
      case S_UNLOCK: {
        w.locks.add(w.locks.readers, this.proc, -1);
        const r = gupLockedDone(m, gupWalkResult(this.walk!), this.flags);
        if (this.longterm && r > 0) {
          this.nrPinned = r;
          this.phase = S_MIGRATE;
        } else this.finish(r);
        return { fn: '__get_user_pages_locked', what: `mmap_read_unlock(): ${r}` };
      }
      default: {
        const rc = check_and_migrate_movable_pages(m, this.nrPinned, this.pages, this.pagesOff);
        if (rc === -EAGAIN) {
          // Every pin of this round was dropped: the walk runs again.
          if (this.seen) this.seen.fill(0, this.pagesOff);
          this.phase = S_LOCK;
        } else this.finish(rc ? rc : this.nrPinned);
        return {
          fn: 'check_and_migrate_movable_pages',
          what: rc === -EAGAIN ? 'unpinnable folios migrated: -EAGAIN, pin again' : `ret ${this.ret}`,
        };
      }
    }
  }
  private finish(r: number): void {
    this.ret = r;
    this.phase = S_DONE;
    this.done = true;
  }
  hashLive(h: Hash): void {
    h.word(this.phase);
    h.num(this.flags);
    h.num(this.ret);
    h.num(this.nrPinned);
    const walk = this.walk;
    if (walk && this.phase === S_WALK) {
      h.num(walk.start);
      h.num(walk.nrPages);
      h.num(walk.i);
      h.num(walk.ret);
      h.word(walk.fault);
      h.word(walk.faults);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// GUP-fast and its fallback

const G_BEGIN = 0;
const G_READ = 1;
const G_GRAB = 2;
const G_RECHECK = 3;
const G_IRQ_ON = 4;
const G_SLOW = 5;
const G_END = 6;

/**
 * gup_fast_fallback() of [start, start + nrPages * PAGE_SIZE) with flags (already through the entry
 * point's checks) as points: the fast walk, then the slow path for the rest. `seen[i]` is 1 when the
 * caller mapped page i where GUP found it at some time GUP held its reference.
 */
export class FastWalk {
  phase = G_BEGIN;
  seq = 0;
  end = 0;
  addr = 0;
  /** The entry read, whether it is a leaf, and the bytes it maps. */
  e = 0;
  leaf = false;
  size = PAGE_SIZE;
  refs = 0;
  folio = NO_FOLIO;
  /** Pages the fast walk kept. */
  nr = 0;
  slow: SlowWalk | undefined = undefined;
  ret = 0;
  done = false;
  readonly pages: Int32Array;
  readonly seen: Uint8Array;
  private readonly at = { e: 0, leaf: false, size: PAGE_SIZE };
  constructor(
    readonly proc: string,
    readonly start: number,
    readonly nrPages: number,
    readonly flags: number,
  ) {
    this.pages = new Int32Array(nrPages);
    this.seen = new Uint8Array(nrPages);
  }
  private caller(w: World): Process {
    return w.ctx.proc(this.proc);
  }
  enabled(w: World): boolean {
    return this.phase !== G_SLOW || this.slow!.enabled(w);
  }
  structural(w: World): boolean {
    if (this.phase === G_SLOW) return this.slow!.structural(w);
    return this.phase === G_BEGIN;
  }
  footprint(w: World, fp: Footprint): void {
    if (this.phase === G_SLOW) return this.slow!.footprint(w, fp);
    const s = w.slot(this.proc);
    if (s === NO_SLOT) return fp.any();
    const pt = mmRes(s, MM_PT);
    const fields = mmRes(s, MM_FIELDS);
    const lock = mmRes(s, MM_LOCK);
    switch (this.phase) {
      case G_BEGIN: // reads write_protect_seq, sets MMF_HAS_PINNED, IRQs off (a WARN on bad arguments)
        fp.set(fields, fields | lock | R_FRAMES);
        return fp.namesFrames();
      case G_READ: // past the range's end this point is the IRQs-on one (irqOn())
        if (this.addr < this.end) return fp.set(pt, 0);
        return this.irqOnFootprint(w, fp, fields, lock);
      case G_GRAB:
      case G_RECHECK:
        fp.set(pt | R_FRAMES, R_FRAMES);
        return this.nameEntry(w, fp);
      default: // G_IRQ_ON: IRQs on, the seqcount re-read (every page unpinned if it moved)
        return this.irqOnFootprint(w, fp, fields, lock);
    }
  }
  /**
   * irqOn()'s: it reads the seqcount and writes the IRQs-off lock, and the pages kept when it unpins them.
   * When it will not (nothing kept, or gupFastSeqChanged() false: not FOLL_PIN, or the seqcount as read at
   * the start), the journal saves the locks alone for it.
   */
  private irqOnFootprint(w: World, fp: Footprint, fields: number, lock: number): void {
    fp.set(fields | R_FRAMES, lock | R_FRAMES);
    const unpins = this.nr > 0 && gupFastSeqChanged(w.ctx.m, this.caller(w).mm, this.flags, this.seq);
    if (!unpins) fp.journalW = lock;
    return this.nameKept(w, fp);
  }
  /**
   * The frames the grab or the re-check may write: the fields of the entry's folio and the pages taken
   * (try_grab_folio_fast(), gup_put_folio(); a folio freed is the allocator's). An entry that is not
   * present is not grabbed: nothing is written.
   */
  private nameEntry(w: World, fp: Footprint): void {
    if (!fp.forJournal) return;
    const mem = w.ctx.m.mem;
    if (!pte_present(this.e) || pte_pfn(this.e) >= mem.nr) return;
    const folio = this.leaf ? pte_pfn(this.e) : mem.page_folio(pte_pfn(this.e));
    const first = this.leaf ? folio + (this.addr % this.size) / PAGE_SIZE : pte_pfn(this.e);
    fp.namesFrames();
    nameFolioFields(w.ctx.m, folio, fp);
    fp.frames(first, this.refs);
  }
  /** The frames gup_fast()'s end may write: the fields and pages of each page kept (unpinned if the seqcount moved). */
  private nameKept(w: World, fp: Footprint): void {
    if (!fp.forJournal) return;
    const mem = w.ctx.m.mem;
    fp.namesFrames();
    for (let i = 0; i < this.nr; i++) {
      const page = this.pages[i]!;
      nameFolioFields(w.ctx.m, mem.page_folio(page), fp);
      fp.frames(page, 1);
    }
  }
  point(w: World): PointRecord {
    const m = w.ctx.m;
    const p = this.caller(w);
    const mm = p.mm;
    switch (this.phase) {
      case G_BEGIN: {
        const end = gupFastArgs(m, mm, this.start, this.nrPages, this.flags);
        if (end < 0 || end === this.start) {
          // An error, or 6.1's overflow: an empty range, nothing taken.
          this.finish(end < 0 ? end : 0);
          return { fn: 'gup_fast_fallback', what: end < 0 ? errnoName(end) : 'nothing to take' };
        }
        this.end = end;
        this.addr = this.start;
        this.seq = gupFastSeqBegin(m, mm, this.flags);
        if (this.seq === SEQ_BUSY) {
          this.toSlow();
          return { fn: 'gup_fast', what: 'write_protect_seq is odd (a fork is copying): the fast walk pins nothing' };
        }
        w.locks.add(w.locks.irqsOff, this.proc, 1);
        this.phase = G_READ;
        const readSeq = this.flags & FOLL_PIN && m.protections.writeProtectSeq;
        return {
          fn: 'gup_fast',
          what: `${readSeq ? `read write_protect_seq ${mm.write_protect_seq}, ` : ''}local_irq_save()`,
        };
      }
      case G_READ: {
        if (this.addr >= this.end) return this.irqOn(w);
        const at = this.at;
        entryAt(p, this.addr, at);
        this.e = at.e;
        this.leaf = at.leaf;
        this.size = at.size;
        const stop = Math.min(this.end, this.addr - (this.addr % at.size) + at.size);
        this.refs = at.leaf ? (stop - this.addr) / PAGE_SIZE : 1;
        this.phase = G_GRAB;
        if (!w.describe) return quiet(at.leaf ? 'gup_fast_pmd_leaf' : 'gup_fast_pte_range');
        return {
          fn: at.leaf ? 'gup_fast_pmd_leaf' : 'gup_fast_pte_range',
          what: `read the entry for ${hex(this.addr)}: ${at.e ? `pfn ${hex(pte_pfn(at.e))}` : 'none'}`,
        };
      }
      case G_GRAB: {
        this.folio = gupFastGrab(m, this.e, this.refs, this.flags, this.leaf);
        if (this.folio === NO_FOLIO) {
          this.phase = G_IRQ_ON;
          return { fn: 'try_grab_folio_fast', what: 'cannot take this entry: the fast walk stops here' };
        }
        this.noteMapped(p);
        this.phase = G_RECHECK;
        if (!w.describe) return quiet('try_grab_folio_fast');
        return { fn: 'try_grab_folio_fast', what: `grabbed folio ${hex(this.folio)} (${this.refs} page(s))` };
      }
      case G_RECHECK: {
        // The re-read is of the same level: a leaf's PMD (PUD) slot, which a split makes a table pointer.
        const now = this.leaf ? leafNow(p, this.addr, this.size) : (entryAt(p, this.addr, this.at), this.at.e);
        this.noteMapped(p);
        const page = this.leaf ? this.folio : pte_pfn(this.e);
        const changed = now !== this.e;
        if (!gupFastKeep(m, this.e, now, this.folio, page, this.refs, this.flags)) {
          this.phase = G_IRQ_ON;
          return {
            fn: this.leaf ? 'gup_fast_pmd_leaf' : 'gup_fast_pte_range',
            what: changed ? 'the entry changed since it was read: the folio is dropped' : 'folio refused: dropped',
          };
        }
        const first = this.firstPfn();
        for (let k = 0; k < this.refs; k++) this.pages[this.nr + k] = first + k;
        this.nr += this.refs;
        this.addr += this.refs * PAGE_SIZE;
        this.phase = G_READ;
        if (!w.describe) return quiet('gup_fast_pte_range');
        return {
          fn: this.leaf ? 'gup_fast_pmd_leaf' : 'gup_fast_pte_range',
          what: changed
            ? `the entry changed, but the re-check is off: pfn ${hex(first)} kept`
            : `re-check: the entry is unchanged, pfn ${hex(first)} kept`,
        };
      }
      case G_IRQ_ON:
        return this.irqOn(w);
      default: {
        const slow = this.slow!;
        const rec = slow.point(w);
        if (slow.done) {
          // gup_fast_fallback(): a slow-path error counts only when the fast walk took nothing.
          const r = slow.ret;
          this.finish(r < 0 ? (this.nr ? this.nr : r) : r + this.nr);
        }
        return rec;
      }
    }
  }
  /** The first PFN the entry read gives for addr. */
  private firstPfn(): number {
    return this.leaf ? this.folio + (this.addr % this.size) / PAGE_SIZE : pte_pfn(this.e);
  }
  /** Mark the pages of the entry read that the caller maps at their addresses now. */
  private noteMapped(p: Process): void {
    const first = this.firstPfn();
    for (let k = 0; k < this.refs; k++)
      if (mappedPfn(p, this.addr + k * PAGE_SIZE) === first + k) this.seen[this.nr + k] = 1;
  }
  private irqOn(w: World): PointRecord {
    const m = w.ctx.m;
    const mm = this.caller(w).mm;
    w.locks.add(w.locks.irqsOff, this.proc, -1);
    const had = this.nr;
    this.nr = gupFastSeqRetry(m, mm, this.flags, this.seq, this.pages, 0, this.nr);
    this.seen.fill(0, this.nr);
    this.toSlow();
    const retry = had !== this.nr;
    return {
      fn: 'gup_fast',
      what:
        `local_irq_restore(): the fast walk took ${had} page(s)` +
        (retry ? `; write_protect_seq changed (a fork ran): all ${had} unpinned` : ''),
    };
  }
  /** The rest through the slow path (gupFastSlow()), unless there is none or FOLL_FAST_ONLY. */
  private toSlow(): void {
    if (this.nr === this.nrPages || this.flags & FOLL_FAST_ONLY) return this.finish(this.nr);
    this.slow = new SlowWalk(
      this.proc,
      this.start + this.nr * PAGE_SIZE,
      this.nrPages - this.nr,
      this.flagsForSlow,
      this.pages,
      this.nr,
      this.seen,
    );
    this.phase = G_SLOW;
  }
  /** Set by the op from the machine's release (gupFastSlowFlags()). */
  flagsForSlow = 0;
  private finish(ret: number): void {
    this.ret = ret;
    this.phase = G_END;
    this.done = true;
  }
  hashLive(h: Hash): void {
    h.word(this.phase);
    h.num(this.seq);
    h.num(this.addr);
    h.num(this.nr);
    h.num(this.ret);
    if (this.phase === G_GRAB || this.phase === G_RECHECK) {
      h.num(this.e);
      h.word(this.refs);
      h.num(this.folio);
    }
    for (let i = 0; i < this.nr; i++) h.num(this.pages[i]!);
    for (let i = 0; i < this.nrPages; i++) h.word(this.seen[i]!);
    if (this.phase === G_SLOW) {
      this.slow!.hashLive(h);
      for (let i = this.nr; i < this.nrPages; i++) h.num(this.pages[i]!);
    }
  }
}

/** The property GUP must keep, checked when the call returns. */
export const GUP_MAPS_PROPERTY = 'GUP returns only pages the caller maps';

/** The first page among `ret` that the caller never mapped while GUP held it, if any: the violation. */
export function unmappedReturn(
  op: string,
  proc: Process,
  start: number,
  pages: Int32Array,
  seen: Uint8Array,
  ret: number,
): { property: string; message: string } | undefined {
  for (let i = 0; i < Math.max(ret, 0); i++)
    if (!seen[i])
      return {
        property: GUP_MAPS_PROPERTY,
        message:
          `${op} returned frame ${hex(pages[i]!)} for ${hex(start + i * PAGE_SIZE)}, which ${proc.name} ` +
          'did not map there at any point while GUP held its reference',
      };
  return undefined;
}

/** A FastWalk whose slow path runs with the flags m's release hands it (gupFastSlowFlags()). */
export function fastWalk(m: Machine, proc: string, start: number, nrPages: number, flags: number): FastWalk {
  const f = new FastWalk(proc, start, nrPages, flags);
  f.flagsForSlow = gupFastSlowFlags(m, flags);
  return f;
}
