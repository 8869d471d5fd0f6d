// The explorer's threads (no kernel counterpart: this is the scheduler a real machine's CPUs are).
// Each step of a `concurrent` block's thread becomes an op that runs in atomic points. GUP-fast, fork,
// munmap and migrate_pages run point by point through the model's own per-entry functions (gup.ts
// gupFastGrab/gupFastKeep, fork.ts copyPageRangeStep, memory.ts zapPresentPtes, migrate.ts
// tryToMigrate...); every other step is one atomic point running the scenario's own handler. Locks are
// modelled so that an interleaving the kernel's locks forbid is never run: mmap_lock (read/write), the
// page-table lock fork holds between an entry's decision and its write-protect, IRQs off during
// GUP-fast (holding off the flush that frees page tables) and the wait on migration entries.
// An op's state lives in its own fields (numbers, typed arrays, references into the machine), so a
// machine snapshot taken with the ops as roots puts a thread back exactly where it was.

import type { RunContext } from '../../scenario/context.js';
import { PinHandle } from '../../scenario/context.js';
import type { Step, ThreadStep } from '../../scenario/schema.js';
import { runScenarioStep } from '../../scenario/run.js';
import { assertFailures } from '../../scenario/ops/race.js';
import { lookupPage } from '../../scenario/inspect.js';
import type { Process } from '../../mm/task.js';
import type { Vma } from '../../mm/mm_types.js';
import { NO_FOLIO, PAGE_SIZE, PMD_SIZE, PUD_SIZE } from '../../mm/memmap.js';
import { pte_index, pte_pfn } from '../../mm/pgtable.js';
import { parseFollFlags, FOLL_PIN, FOLL_FAST_ONLY } from '../../mm/foll_flags.js';
import {
  gupFastEntryFlags,
  gupFastEntryRet,
  type FastApi,
  gupFastArgs,
  gupFastGrab,
  gupFastKeep,
  gupFastSeqBegin,
  gupFastSeqRetry,
  gupFastSlow,
  SEQ_BUSY,
} from '../../mm/gup.js';
import { forkBegin, forkEnd, copyPageRangeStep, newForkStats, type ForkCursor } from '../../kernel/fork.js';
import { zapPresentPtes, tlbFinishMmu } from '../../mm/memory.js';
import { do_munmap } from '../../mm/mmap.js';
import {
  folioIsolateLru,
  tryToMigrate,
  migrateFreeze,
  migrateMove,
  migrateRestore,
  type MigrationHit,
} from '../../mm/migrate.js';
import { EBUSY, EAGAIN, EEXIST, EINVAL, ENOMEM, EFAULT, errnoName } from '../../uapi/errno.js';

const hex = (n: number): string => `0x${n.toString(16)}`;

/** What one atomic point did: the kernel function, in words, and a property it broke (if any). */
export interface PointRecord {
  fn: string;
  what: string;
  /** A property this point found broken: its name and the sentence. */
  violation?: { property: string; message: string };
}

/** Lock state per mm (by mm id), shared by every thread. */
export class Locks {
  /** mmap_lock held for write: the thread's name. */
  readonly writer = new Map<number, string>();
  /** mmap_lock readers. */
  readonly readers = new Map<number, number>();
  /** Threads in GUP-fast's IRQs-off section. */
  readonly irqsOff = new Map<number, number>();
  /** The page-table lock (one per mm here: the kernel's is per table, so this forbids a few more orders). */
  readonly ptl = new Map<number, string>();
  /** Migrations with migration entries in the mm: faults and lock-taking walks wait on them. */
  readonly migrating = new Map<number, number>();

  add(map: Map<number, number>, mm: number, d: number): void {
    const v = (map.get(mm) ?? 0) + d;
    if (v) map.set(mm, v);
    else map.delete(mm);
  }
  /** Can a thread take mmap_lock for read (and fault) in mm? */
  canRead(mm: number): boolean {
    return !this.writer.has(mm) && !this.migrating.has(mm);
  }
  /** Can a thread take mmap_lock for write in mm? */
  canWrite(mm: number): boolean {
    return this.canRead(mm) && !this.readers.has(mm) && !this.ptl.has(mm);
  }
}

// ---------------------------------------------------------------------------------------------
// Footprints: what the next point of a thread may read and write, for the explorer's partial-order
// reduction (explorer.ts, sleep sets). Two points are independent when neither writes what the other
// reads or writes: run in either order from the same state they reach the same state, and neither
// enables or disables the other (every point whose enabledness depends on a lock writes everything).
// Resources are coarse and conservative: all page state, the allocator, the PTE slab and the counters
// are one resource (FRAMES); per mm, its page tables, its fields (write_protect_seq, MMF_HAS_PINNED,
// RSS) and each of its locks.

/** All page state, allocator, PTE slab and vmstat. */
export const RES_FRAMES = 1;
/** The run's handles (a GUP's pages land in one at its end). */
export const RES_HANDLES = 2;
const RES_MM_KINDS = 8;
/** Per mm: page tables, mm fields, GUP-fast's IRQs-off count, the page-table lock. */
export const MM_PT = 0;
export const MM_FIELDS = 1;
export const MM_IRQ = 2;
export const MM_PTL = 3;
/** The resource `kind` of mm `id`. */
export const resMm = (id: number, kind: number): number => 16 + id * RES_MM_KINDS + kind;

/** What a point may read and write; `all`: it may touch anything (dependent on every other point). */
export interface Footprint {
  all: boolean;
  r: number[];
  w: number[];
}

/** A point that may touch anything. */
export const FOOTPRINT_ALL: Footprint = Object.freeze({ all: true, r: [], w: [] }) as Footprint;

const meets = (a: number[], b: number[]): boolean => a.some((x) => b.includes(x));

/** Whether two points commute (neither writes what the other reads or writes). */
export function independent(a: Footprint, b: Footprint): boolean {
  if (a.all || b.all) return false;
  return !meets(a.w, b.w) && !meets(a.w, b.r) && !meets(a.r, b.w);
}

/** The world the ops act on: the run's context and the locks. */
export interface World {
  ctx: RunContext;
  locks: Locks;
}

/** One step of a thread, run in atomic points. */
export abstract class Op {
  done = false;
  /** The step's return value (for the trace and end state). */
  ret = 0;
  constructor(
    readonly thread: string,
    readonly step: ThreadStep,
  ) {}
  /** Whether the next point may run now (the locks allow it). */
  abstract enabled(w: World): boolean;
  /** Run the next point. */
  abstract point(w: World): PointRecord;
  /** What the next point may read and write (conservative: everything unless an op says less). */
  footprint(_w: World): Footprint {
    return FOOTPRINT_ALL;
  }
  /** The next point may create objects (a process, VMAs, a handle): the explorer re-walks its snapshot. */
  structural(): boolean {
    return true;
  }
}

function procMm(w: World, name: string | undefined): number | undefined {
  const p = name !== undefined ? w.ctx.m.process(name) : undefined;
  return p?.alive ? p.mm.id : undefined;
}

/** Steps that take mmap_lock for write as one atomic point. */
const WRITERS = new Set(['mmap', 'munmap', 'mremap', 'mprotect', 'madvise', 'mlock', 'munlock', 'fork', 'exit']);
/** Steps that only release, observe or check: they take no lock. */
const LOCKLESS = new Set([
  'unpin_user_pages',
  'unpin_user_pages_dirty_lock',
  'unpin_user_page',
  'put_page',
  'io_uring_unregister_buffers',
  'rdma_dereg_mr',
  'vfio_unmap_dma',
  'vmstat',
  'inspect',
  'dump_page',
  'assert',
  'expect',
  'close',
  'fail_alloc',
  'fatal_signal',
  'create_file',
]);

/** Any other step: one atomic point through the scenario runner, under the lock its syscall takes. */
export class AtomicOp extends Op {
  enabled(w: World): boolean {
    if (LOCKLESS.has(this.step.op)) return true;
    const s = this.step as { proc?: string; target?: string };
    for (const n of [s.proc, s.target]) {
      const mm = procMm(w, n);
      if (mm === undefined) continue;
      if (WRITERS.has(this.step.op) ? !w.locks.canWrite(mm) : !w.locks.canRead(mm)) return false;
    }
    return true;
  }
  point(w: World): PointRecord {
    this.done = true;
    if (this.step.op === 'assert') {
      const f = assertFailures(w.ctx, this.step);
      const rec: PointRecord = { fn: 'assert', what: this.step.says ?? this.step.that };
      if (f.length) rec.violation = { property: this.step.says ?? `assert ${this.step.that}`, message: f.join('; ') };
      return rec;
    }
    const res = runScenarioStep(w.ctx, this.step as Step, w.ctx.m.warns.step ?? 0, []);
    this.ret = res.ret;
    const why = res.why as { fn: string; rule: string } | undefined;
    const rec: PointRecord = {
      fn: this.step.op,
      what: `ret ${res.ret}${res.errno ? ` (${res.errno}${why ? `: ${why.fn}: ${why.rule}` : ''})` : ''}`,
    };
    return rec;
  }
}

// ---------------------------------------------------------------------------------------------
// GUP-fast: pin_user_pages_fast, get_user_pages_fast(_only)

const G_BEGIN = 0;
const G_READ = 1;
const G_GRAB = 2;
const G_RECHECK = 3;
const G_IRQ_ON = 4;
const G_SLOW = 5;
const G_DONE = 6;

/** The entry at addr in pt: a PUD or PMD leaf, or the PTE (0 when nothing is there). */
function entryAt(p: Process, addr: number): { e: number; leaf: boolean; size: number } {
  const pt = p.mm.pt;
  const pud = pt.pudLeaf(addr);
  if (pud) return { e: pud, leaf: true, size: PUD_SIZE };
  const slot = pt.pmdSlot(addr);
  if (typeof slot === 'number') return { e: slot, leaf: true, size: PMD_SIZE };
  return { e: slot ? slot[pte_index(addr)]! : 0, leaf: false, size: PAGE_SIZE };
}

export class GupFastOp extends Op {
  phase = G_BEGIN;
  flags = 0;
  start = 0;
  end = 0;
  nrPages = 0;
  seq = 0;
  addr = 0;
  e = 0;
  leaf = false;
  /** Bytes the entry read maps (PAGE_SIZE, or the leaf's size). */
  size = PAGE_SIZE;
  refs = 0;
  folio = NO_FOLIO;
  nr = 0;
  pages = new Int32Array(0);
  /** Per page taken by the walk: 1 when the caller mapped it at its address while GUP held a reference. */
  seen = new Uint8Array(0);

  private caller(w: World): Process {
    return w.ctx.proc((this.step as { proc: string }).proc);
  }
  enabled(w: World): boolean {
    if (this.phase !== G_SLOW) return true;
    return w.locks.canRead(this.caller(w).mm.id);
  }
  override structural(): boolean {
    return this.phase === G_BEGIN || this.phase === G_DONE || this.phase === G_SLOW;
  }
  override footprint(w: World): Footprint {
    const mm = this.caller(w).mm.id;
    switch (this.phase) {
      case G_BEGIN: // reads write_protect_seq, sets MMF_HAS_PINNED, IRQs off
        return { all: false, r: [resMm(mm, MM_FIELDS)], w: [resMm(mm, MM_FIELDS), resMm(mm, MM_IRQ)] };
      case G_READ:
        return { all: false, r: [resMm(mm, MM_PT)], w: [] };
      case G_GRAB:
      case G_RECHECK:
        return { all: false, r: [resMm(mm, MM_PT)], w: [RES_FRAMES] };
      case G_IRQ_ON: // IRQs on, the seqcount re-read (and every page unpinned if it moved)
        return { all: false, r: [resMm(mm, MM_FIELDS)], w: [resMm(mm, MM_IRQ), RES_FRAMES] };
      case G_DONE:
        return { all: false, r: [], w: [RES_HANDLES] };
      default:
        return FOOTPRINT_ALL; // the slow path: mmap_lock, faults, anything
    }
  }
  point(w: World): PointRecord {
    const m = w.ctx.m;
    const p = this.caller(w);
    const mm = p.mm;
    switch (this.phase) {
      case G_BEGIN: {
        const s = this.step as { op: string; flags?: string[] | number };
        const { addr, len } = w.ctx.range(this.step as Step);
        this.nrPages = Math.ceil(len / PAGE_SIZE);
        this.pages = new Int32Array(this.nrPages);
        this.seen = new Uint8Array(this.nrPages);
        m.why = undefined;
        const f = gupFastEntryFlags(m, s.op as FastApi, parseFollFlags(s.flags ?? []), this.pages);
        this.start = addr - (addr % PAGE_SIZE);
        const end = f === undefined ? -EINVAL : gupFastArgs(m, mm, this.start, this.nrPages, f);
        if (end < 0) return this.finish(w, end, 'gup_fast_fallback');
        // 6.1's overflow: an empty range, nothing taken.
        if (end === this.start) return this.finish(w, 0, 'gup_fast_fallback');
        this.flags = f!;
        this.end = end;
        this.addr = this.start;
        this.seq = gupFastSeqBegin(m, mm, this.flags);
        if (this.seq === SEQ_BUSY) {
          this.phase = G_SLOW;
          return { fn: 'gup_fast', what: 'write_protect_seq is odd (a fork is copying): the fast walk pins nothing' };
        }
        w.locks.add(w.locks.irqsOff, mm.id, 1);
        this.phase = G_READ;
        return {
          fn: 'gup_fast',
          what: `${this.flags & FOLL_PIN ? `read write_protect_seq ${mm.write_protect_seq}, ` : ''}local_irq_save()`,
        };
      }
      case G_READ: {
        if (this.addr >= this.end) return this.irqOn(w);
        const at = entryAt(p, this.addr);
        this.e = at.e;
        this.leaf = at.leaf;
        this.size = at.size;
        const stop = Math.min(this.end, this.addr - (this.addr % at.size) + at.size);
        this.refs = at.leaf ? (stop - this.addr) / PAGE_SIZE : 1;
        this.phase = G_GRAB;
        return {
          fn: at.leaf ? 'gup_fast_pmd_leaf' : 'gup_fast_pte_range',
          what: `read the entry for ${hex(this.addr)}: ${at.e ? `pfn ${hex(pte_pfn(at.e))}` : 'none'}`,
        };
      }
      case G_GRAB: {
        this.folio = gupFastGrab(m, this.e, this.refs, this.flags, this.leaf);
        if (this.folio === NO_FOLIO) {
          this.irqOnNext();
          return { fn: 'try_grab_folio_fast', what: 'cannot take this entry: the fast walk stops here' };
        }
        this.noteMapped(p);
        this.phase = G_RECHECK;
        return { fn: 'try_grab_folio_fast', what: `grabbed folio ${hex(this.folio)} (${this.refs} page(s))` };
      }
      case G_RECHECK: {
        const now = entryAt(p, this.addr).e;
        this.noteMapped(p);
        const page = this.leaf ? this.folio : pte_pfn(this.e);
        const changed = now !== this.e;
        if (!gupFastKeep(m, this.e, now, this.folio, page, this.refs, this.flags)) {
          this.irqOnNext();
          return {
            fn: 'gup_fast_pte_range',
            what: changed ? 'the entry changed since it was read: the folio is dropped' : 'folio refused: dropped',
          };
        }
        const first = this.leaf ? this.folio + (this.addr - this.addrBase()) / PAGE_SIZE : pte_pfn(this.e);
        for (let k = 0; k < this.refs; k++) this.pages[this.nr + k] = first + k;
        this.nr += this.refs;
        this.addr += this.refs * PAGE_SIZE;
        this.phase = G_READ;
        return {
          fn: 'gup_fast_pte_range',
          what: changed
            ? `the entry changed, but the re-check is off: pfn ${hex(first)} kept`
            : `re-check: the entry is unchanged, pfn ${hex(first)} kept`,
        };
      }
      case G_IRQ_ON:
        return this.irqOn(w);
      case G_SLOW: {
        const before = this.nr;
        const ret = gupFastSlow(m, p, this.start, this.nrPages, this.nr, this.flags, this.pages);
        this.phase = G_DONE;
        this.ret = ret;
        // Pages the slow path took were mapped then (it holds mmap_lock and the PTL).
        for (let i = before; i < Math.max(ret, before); i++) this.seen[i] = 1;
        this.nr = Math.max(ret, 0);
        return {
          fn: '__gup_longterm_locked',
          what:
            before === this.nrPages || this.flags & FOLL_FAST_ONLY
              ? 'nothing left for the slow path'
              : `mmap_lock (read): the slow path took pages ${before}..${this.nrPages - 1}: ret ${ret}`,
        };
      }
      default:
        return this.finish(w, this.ret, 'gup_fast_fallback');
    }
  }
  private addrBase(): number {
    return this.addr - (this.addr % this.size);
  }
  private noteMapped(p: Process): void {
    for (let k = 0; k < this.refs; k++) {
      const at = lookupPage(p, this.addr + k * PAGE_SIZE);
      const want = this.leaf ? this.folio + (this.addr - this.addrBase()) / PAGE_SIZE + k : pte_pfn(this.e);
      if (at?.pfn === want) this.seen[this.nr + k] = 1;
    }
  }
  private irqOnNext(): void {
    this.phase = G_IRQ_ON;
  }
  private irqOn(w: World): PointRecord {
    const m = w.ctx.m;
    const mm = this.caller(w).mm;
    w.locks.add(w.locks.irqsOff, mm.id, -1);
    const had = this.nr;
    this.nr = gupFastSeqRetry(m, mm, this.flags, this.seq, this.pages, 0, this.nr);
    this.seen.fill(0, this.nr);
    this.phase = G_SLOW;
    const retry = had !== this.nr;
    return {
      fn: 'gup_fast',
      what:
        `local_irq_restore(): the fast walk took ${had} page(s)` +
        (retry ? `; write_protect_seq changed (a fork ran): all ${had} unpinned` : ''),
    };
  }
  /** The end: the pages go to the step's handle, and GUP-fast's property is checked. */
  private finish(w: World, ret: number, fn: string): PointRecord {
    ret = gupFastEntryRet(w.ctx.m, this.step.op as FastApi, ret);
    this.done = true;
    this.phase = G_DONE;
    this.ret = ret;
    const s = this.step as { op: string; as?: string; proc: string };
    const p = this.caller(w);
    if (ret > 0) {
      const name = s.as ?? `${s.op}@${this.thread}`;
      let h = w.ctx.objects.get(name);
      if (!(h instanceof PinHandle)) {
        h = new PinHandle(name, p, s.op.startsWith('pin') ? 'pin' : 'get', p);
        w.ctx.register(h);
      }
      for (let i = 0; i < ret; i++) {
        (h as PinHandle).entries.push(this.pages[i]!);
        (h as PinHandle).addrs.push(this.start + i * PAGE_SIZE);
      }
    }
    const rec: PointRecord = { fn, what: `returns ${ret}${ret < 0 ? ` (${errnoName(ret)})` : ''}` };
    for (let i = 0; i < Math.max(ret, 0); i++)
      if (!this.seen[i]) {
        rec.violation = {
          property: 'GUP returns only pages the caller maps',
          message:
            `${s.op} returned frame ${hex(this.pages[i]!)} for ${hex(this.start + i * PAGE_SIZE)}, which ${p.name} ` +
            'did not map there at any point while GUP held its reference',
        };
        break;
      }
    return rec;
  }
}

// ---------------------------------------------------------------------------------------------
// fork

const F_BEGIN = 0;
const F_COPY = 1;
const F_END = 2;

export class ForkOp extends Op {
  phase = F_BEGIN;
  child: Process | undefined = undefined;
  pairs: [Vma, Vma][] = [];
  vi = 0;
  stats = newForkStats();
  cursor: ForkCursor = { addr: 0, pending: 0, touched: false, stats: this.stats };
  err = 0;

  private parent(w: World): Process {
    return w.ctx.proc((this.step as { proc: string }).proc);
  }
  enabled(w: World): boolean {
    const mm = this.parent(w).mm.id;
    if (this.phase === F_BEGIN) return w.locks.canWrite(mm);
    // The page-table lock: a migration's unmap cannot run between an entry's decision and its write-protect.
    return true;
  }
  override structural(): boolean {
    return this.phase !== F_COPY;
  }
  override footprint(w: World): Footprint {
    // dup_mmap()'s start and end, and a copy that ends a VMA with an MMU notifier to call: everything.
    if (this.phase !== F_COPY || w.ctx.m.notifiers.size > 0) return FOOTPRINT_ALL;
    const parent = this.parent(w).mm;
    const child = this.child!.mm.id;
    const wr = [resMm(child, MM_PT), resMm(child, MM_FIELDS), RES_FRAMES, resMm(parent.id, MM_PTL)];
    // The parent's tables are written by a write-protect, and by a decision on a leaf (a PMD split).
    if (
      this.cursor.pending ||
      parent.pt.puds.size > 0 ||
      [...parent.pt.pmds.values()].some((x) => typeof x === 'number')
    )
      wr.push(resMm(parent.id, MM_PT));
    return { all: false, r: [resMm(parent.id, MM_PT), resMm(parent.id, MM_FIELDS)], w: wr };
  }
  point(w: World): PointRecord {
    const m = w.ctx.m;
    const parent = this.parent(w);
    const s = this.step as { proc: string; child: string };
    if (this.phase === F_BEGIN) {
      if (m.process(s.child)?.alive) {
        this.done = true;
        this.ret = -EEXIST;
        return { fn: 'kernel_clone', what: `a process ${s.child} exists: -EEXIST` };
      }
      w.locks.writer.set(parent.mm.id, this.thread);
      const { child, pairs } = forkBegin(m, parent, s.child);
      this.child = child;
      this.pairs = pairs;
      this.vi = 0;
      this.cursor = { addr: pairs[0]?.[1].start ?? 0, pending: 0, touched: false, stats: this.stats };
      this.phase = pairs.length ? F_COPY : F_END;
      return {
        fn: 'dup_mmap',
        what:
          "mmap_lock (write); the child's VMAs; " +
          `raw_write_seqcount_begin(write_protect_seq) = ${parent.mm.write_protect_seq}`,
      };
    }
    if (this.phase === F_COPY) {
      const [cv, vma] = this.pairs[this.vi]!;
      const r = copyPageRangeStep(m, cv, vma, this.cursor);
      if (this.cursor.pending) w.locks.ptl.set(parent.mm.id, this.thread);
      else w.locks.ptl.delete(parent.mm.id);
      if (typeof r === 'object') return { fn: r.fn, what: `${hex(r.addr)}: ${r.what}` };
      if (typeof r === 'number') {
        this.err = r;
        this.phase = F_END;
        return { fn: 'copy_page_range', what: `failed: ${errnoName(r)}` };
      }
      this.vi++;
      if (this.vi < this.pairs.length) {
        this.cursor = { addr: this.pairs[this.vi]![1].start, pending: 0, touched: false, stats: this.stats };
        return this.point(w);
      }
      // The copy's end is a point of its own: the next one (dup_mmap()'s end) releases the locks.
      this.phase = F_END;
      const st = this.stats;
      return {
        fn: 'copy_page_range',
        what: `every VMA copied: ${st.shared} page(s) shared, ${st.copied} copied, ${st.pmd_split} PMD(s) split`,
      };
    }
    const r = forkEnd(m, parent, this.child!, this.err);
    w.locks.writer.delete(parent.mm.id);
    this.done = true;
    if (typeof r === 'number') this.ret = r;
    else w.ctx.configure(r);
    return {
      fn: 'dup_mmap',
      what: `raw_write_seqcount_end(write_protect_seq) = ${parent.mm.write_protect_seq}; mmap_unlock: ret ${this.ret}`,
    };
  }
}

// ---------------------------------------------------------------------------------------------
// munmap

const U_BEGIN = 0;
const U_ZAP = 1;
const U_FLUSH = 2;
const U_FREE = 3;

export class MunmapOp extends Op {
  phase = U_BEGIN;
  addr = 0;
  startAddr = 0;
  len = 0;
  gather: number[] = [];

  private proc(w: World): Process {
    return w.ctx.proc((this.step as { proc: string }).proc);
  }
  enabled(w: World): boolean {
    const mm = this.proc(w).mm.id;
    if (this.phase === U_BEGIN) return w.locks.canWrite(mm);
    // free_pgtables(): the page tables go after an IPI / RCU grace period that IRQs-off GUP-fast holds off.
    if (this.phase === U_FREE) return !w.locks.irqsOff.has(mm);
    return true;
  }
  override structural(): boolean {
    return this.phase === U_BEGIN || this.phase === U_FREE;
  }
  override footprint(w: World): Footprint {
    const mm = this.proc(w).mm.id;
    if (this.phase === U_ZAP)
      return { all: false, r: [resMm(mm, MM_PT)], w: [resMm(mm, MM_PT), resMm(mm, MM_FIELDS), RES_FRAMES] };
    if (this.phase === U_FLUSH) return { all: false, r: [], w: [RES_FRAMES] };
    return FOOTPRINT_ALL;
  }
  point(w: World): PointRecord {
    const m = w.ctx.m;
    const p = this.proc(w);
    if (this.phase === U_BEGIN) {
      const { addr, len } = w.ctx.range(this.step as Step);
      this.startAddr = this.addr = addr;
      this.len = len;
      w.locks.writer.set(p.mm.id, this.thread);
      this.phase = U_ZAP;
      return { fn: 'do_vmi_munmap', what: `mmap_lock (write); unmap ${hex(addr)}+${hex(len)}` };
    }
    if (this.phase === U_ZAP) {
      const end = this.startAddr + this.len;
      for (; this.addr < end; this.addr += PAGE_SIZE) {
        const vma = p.mm.vma_lookup(this.addr);
        const table = p.mm.pt.pteTable(this.addr);
        if (!vma || !table || vma.kind === 'hugetlb') continue;
        const i = pte_index(this.addr);
        const e = table[i]!;
        const nr = zapPresentPtes(
          m,
          vma,
          table,
          i,
          Math.min(PMD_SIZE / PAGE_SIZE, i + (end - this.addr) / PAGE_SIZE),
          this.gather,
        );
        if (!nr) continue;
        const at = this.addr;
        this.addr += nr * PAGE_SIZE;
        return { fn: 'zap_present_ptes', what: `${hex(at)}: entry cleared (pfn ${hex(pte_pfn(e))}), folio gathered` };
      }
      this.phase = U_FLUSH;
    }
    if (this.phase === U_FLUSH) {
      const n = this.gather.length / 2;
      tlbFinishMmu(m, this.gather);
      this.phase = U_FREE;
      return { fn: 'tlb_finish_mmu', what: `TLB flushed; ${n} gathered folio reference(s) dropped` };
    }
    // PMD leaves, hugetlb and the VMAs themselves: the rest of do_munmap(), and free_pgtables().
    this.ret = do_munmap(m, p, this.startAddr, this.len);
    w.locks.writer.delete(p.mm.id);
    this.done = true;
    return { fn: 'free_pgtables', what: `VMAs removed, page tables freed; mmap_unlock: ret ${this.ret}` };
  }
}

// ---------------------------------------------------------------------------------------------
// migrate_pages of one folio

const M_ISOLATE = 0;
const M_UNMAP = 1;
const M_FREEZE = 2;
const M_MOVE = 3;
const M_RESTORE = 4;

export class MigrateOp extends Op {
  phase = M_ISOLATE;
  folio = NO_FOLIO;
  hits: MigrationHit[] = [];
  mms: number[] = [];
  frozen = false;

  enabled(w: World): boolean {
    if (this.phase !== M_UNMAP) return true;
    // try_to_migrate_one() takes each mapping's page-table lock.
    return !this.mappers(w).some((mm) => w.locks.ptl.has(mm) || w.locks.writer.has(mm));
  }
  private mappers(w: World): number[] {
    const out: number[] = [];
    for (const p of w.ctx.m.processes.values()) if (p.alive) out.push(p.mm.id);
    return out;
  }
  override structural(): boolean {
    return false;
  }
  override footprint(w: World): Footprint {
    if (this.phase === M_ISOLATE) {
      const p = w.ctx.m.process((this.step as { proc: string }).proc);
      return { all: false, r: p ? [resMm(p.mm.id, MM_PT)] : [], w: [RES_FRAMES] };
    }
    if (this.phase === M_FREEZE) return { all: false, r: [], w: [RES_FRAMES] };
    return FOOTPRINT_ALL;
  }
  point(w: World): PointRecord {
    const m = w.ctx.m;
    const s = this.step as { proc: string; region: string; page?: number };
    switch (this.phase) {
      case M_ISOLATE: {
        const r = w.ctx.regions.get(s.region)!;
        const hit = lookupPage(w.ctx.proc(s.proc), r.addr + (s.page ?? 0) * PAGE_SIZE);
        const folio = hit ? m.mem.page_folio(hit.pfn) : NO_FOLIO;
        if (folio === NO_FOLIO || m.mem.folio_test_hugetlb(folio) || !folioIsolateLru(m, folio)) {
          this.done = true;
          this.ret = hit ? -EBUSY : -EFAULT;
          return { fn: 'folio_isolate_lru', what: `nothing to isolate: ${errnoName(this.ret)}` };
        }
        this.folio = folio;
        this.phase = M_UNMAP;
        return { fn: 'folio_isolate_lru', what: `folio ${hex(folio)} isolated (one more reference)` };
      }
      case M_UNMAP: {
        const ok = tryToMigrate(m, this.folio, this.hits);
        this.mms = this.hits.map((h) => h.vma.mm.id);
        for (const mm of this.mms) w.locks.add(w.locks.migrating, mm, 1);
        this.phase = ok ? M_FREEZE : M_RESTORE;
        return {
          fn: 'try_to_migrate',
          what: ok
            ? `${this.hits.length} entr${this.hits.length === 1 ? 'y' : 'ies'} replaced by migration entries`
            : 'folio_try_share_anon_rmap_pte() refused a maybe-pinned page: the entry is put back',
        };
      }
      case M_FREEZE: {
        const rc = m.mem.refcount[this.folio]!;
        const ok = migrateFreeze(m, this.folio);
        this.frozen = ok;
        this.phase = ok ? M_MOVE : M_RESTORE;
        return {
          fn: 'folio_migrate_mapping',
          what: ok
            ? `refcount ${rc} is the expected count: the folio moves`
            : `refcount ${rc}: an extra reference, -EAGAIN`,
        };
      }
      case M_MOVE: {
        const dst = migrateMove(m, this.folio, this.hits);
        if (dst === NO_FOLIO) {
          this.phase = M_RESTORE;
          return { fn: 'migrate_folio_move', what: 'no memory for the new folio: -ENOMEM' };
        }
        this.release(w);
        return { fn: 'remove_migration_ptes', what: `moved to ${hex(dst)}; the entries map it; the old folio put` };
      }
      default: {
        migrateRestore(m, this.folio, this.hits, this.frozen);
        this.release(w);
        this.ret = this.frozen ? -ENOMEM : -EAGAIN;
        return { fn: 'remove_migration_ptes', what: `failed: the entries map the old folio again, back on the LRU` };
      }
    }
  }
  private release(w: World): void {
    for (const mm of this.mms) w.locks.add(w.locks.migrating, mm, -1);
    this.done = true;
  }
}

/** The op that runs a thread's step. */
export function makeOp(thread: string, step: ThreadStep): Op {
  switch (step.op) {
    case 'pin_user_pages_fast':
    case 'get_user_pages_fast':
    case 'get_user_pages_fast_only':
      return new GupFastOp(thread, step);
    case 'fork':
      return new ForkOp(thread, step);
    case 'munmap':
      return new MunmapOp(thread, step);
    case 'migrate_pages':
      return new MigrateOp(thread, step);
    default:
      return new AtomicOp(thread, step);
  }
}
