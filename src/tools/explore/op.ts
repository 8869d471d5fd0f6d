// The race explorer's threads run their steps as ops (no kernel counterpart: this is the scheduler a real
// machine's CPUs are). An op runs its step in atomic points at the kernel's interleaving points; a point
// is enabled only when the modelled locks allow it (locks.ts), and says what it may read and write
// (footprint.ts). Ops keep their state in their own fields, so the explorer's state store puts a thread
// back exactly where it was.

import { PinHandle, type RunContext } from '../../scenario/context.js';
import type { Step, ThreadStep } from '../../scenario/schema.js';
import { runScenarioStep, unmappedRegion } from '../../scenario/run.js';
import { assertFailures } from '../../scenario/ops/race.js';
import type { Process } from '../../mm/task.js';
import type { Machine } from '../../mm/machine.js';
import { VM_MAYSHARE, type Vma } from '../../mm/mm_types.js';
import {
  FOLIO_FIELD_PAGES,
  HPAGE_PMD_NR,
  NO_FOLIO,
  NO_PFN,
  PAGE_SIZE,
  PMD_SIZE,
  PUD_SIZE,
  ZERO_PFN,
} from '../../mm/memmap.js';
import { PTRS_PER_PTE, pte_index, pte_pfn, pte_present } from '../../mm/pgtable.js';
import { mthpOrdersAllowed } from '../../mm/huge_memory.js';
import { Footprint, MAX_MM_SLOTS, NO_SLOT, R_FRAMES, R_HANDLES, R_MM_STATE } from './footprint.js';
import { EFAULT } from '../../uapi/errno.js';
import type { Locks } from './locks.js';
import type { Hash } from './state_hash.js';

/** What one atomic point did: the kernel function, in words, and a property it broke (if any). */
export interface PointRecord {
  fn: string;
  what: string;
  /** A property this point found broken: its name and the sentence. */
  violation?: { property: string; message: string };
}

/** The world the ops act on: the run's context, the locks, and per-process resource slots. */
export class World {
  /** Build the `what` of each point (off while searching, where nobody reads them; on for a trace). */
  describe = true;
  private readonly slots = new Map<string, number>();
  constructor(
    readonly ctx: RunContext,
    readonly locks: Locks,
  ) {}
  /** The resource slot of a process (footprint.ts), NO_SLOT past MAX_MM_SLOTS processes. */
  slot(proc: string): number {
    let s = this.slots.get(proc);
    if (s === undefined) {
      s = this.slots.size < MAX_MM_SLOTS ? this.slots.size : NO_SLOT;
      this.slots.set(proc, s);
    }
    return s;
  }
}

/** One step of a thread, run in atomic points. */
export abstract class Op {
  done = false;
  /** Its first point ran (the explorer checks the step's regions before it). */
  started = false;
  /** The step's return value (for the trace and the end state). */
  ret = 0;
  constructor(
    readonly thread: string,
    readonly step: ThreadStep,
  ) {}
  /** Whether the next point may run now (the locks allow it). */
  abstract enabled(w: World): boolean;
  /** Run the next point. */
  abstract point(w: World): PointRecord;
  /** What the next point may read and write (footprint.ts): everything unless an op says less. */
  footprint(_w: World, fp: Footprint): void {
    fp.any();
  }
  /**
   * Whether the next point may change machine state beyond what the state store keeps cheaply (state.ts):
   * make or drop processes, VMAs, files or handles, call an MMU notifier, run a whole scenario step.
   * Objects the op itself makes and keeps in its fields are the op's state, not structural.
   */
  structural(_w: World): boolean {
    return true;
  }
  /** The op's live state, for the state hash: what its next points depend on (a done op: its return). */
  hashLive(h: Hash): void {
    h.word(this.done ? 1 : 0);
    h.num(this.ret);
  }
}

/** The PFN mapped at addr in p (a PTE, or the page of a PMD/PUD leaf), or NO_PFN. */
export function mappedPfn(p: Process, addr: number): number {
  const pt = p.mm.pt;
  const pud = pt.pudLeaf(addr);
  if (pud) return pte_pfn(pud) + Math.floor((addr % PUD_SIZE) / PAGE_SIZE);
  const slot = pt.pmdSlot(addr);
  if (typeof slot === 'number') return pte_pfn(slot) + Math.floor((addr % PMD_SIZE) / PAGE_SIZE);
  if (!slot) return NO_PFN;
  const e = slot[pte_index(addr)]!;
  return pte_present(e) ? pte_pfn(e) : NO_PFN;
}

/** Steps that take mmap_lock for write as one atomic point. */
const WRITERS = new Set(['mmap', 'munmap', 'mremap', 'mprotect', 'madvise', 'mlock', 'munlock', 'fork', 'exit']);
/** Steps that only release, observe or check: they take no mmap_lock. */
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

/**
 * Whether the journal keeps everything a fault or a follow in this VMA changes: anon memory, and private
 * hugetlb memory (its pools, and the VMA's reservation map: hugetlb_fault(), hugetlb_wp(),
 * vma_needs_reservation()). A shared mapping's page cache is the file's, which it does not keep.
 */
export function journalledVma(vma: Vma): boolean {
  return vma.kind === 'anon' || (vma.kind === 'hugetlb' && (vma.flags & VM_MAYSHARE) === 0);
}

/**
 * Whether the journal can take a whole scenario step back without a snapshot of the object graph (journal.ts):
 *  - an assert: it only reads;
 *  - a load or store in memory journalledVma() with no MMU notifier to call: the fault path there
 *    (handle_mm_fault(): do_anonymous_page(), do_wp_page(), do_huge_pmd_wp_page()'s split, hugetlb_fault())
 *    changes page state, page tables, counters, the LRU batches, the hugetlb pools and reservations and, on
 *    a VMA's first fault, makes its anon_vma (anon_vma_prepare()), all of which the journal keeps;
 *  - unpin_user_pages() of held pins (no entry released before, a count that is no errno), or of a handle
 *    the GUP step did not make: the unpin changes folio counts, counters, perhaps frees folios, and marks the
 *    handle's entries released.
 */
export function journalSafe(ctx: RunContext, step: ThreadStep | Step): boolean {
  const m = ctx.m;
  switch (step.op) {
    case 'assert':
      return true;
    case 'unpin_user_pages': {
      const h = ctx.objects.get(step.pins);
      if (!h) return true; // nothing held: the step only says so
      if (!(h instanceof PinHandle) || h.kind !== 'pin' || (step.count ?? 0) < 0 || (step.index ?? 0) < 0) return false;
      const from = step.index ?? 0;
      const end = step.count === undefined ? h.entries.length : Math.min(h.entries.length, from + step.count);
      for (let i = from; i < end; i++) if (h.releasedAt.has(i)) return false;
      return true;
    }
    case 'read':
    case 'write': {
      const p = m.process(step.proc);
      if (m.notifiers.size > 0 || !p?.alive || !ctx.regions.has(step.region)) return false;
      const { addr, len } = ctx.range(step);
      for (const v of p.mm.vmas) if (v.start < addr + len && v.end > addr && !journalledVma(v)) return false;
      return true;
    }
    default:
      return false;
  }
}

/**
 * For a step journalSafe() allows, what it may write (resource bits; the frames and tables in them
 * nameStepWrites() names): page state and the mms (a fault: rss, page tables, a first anon_vma), an unpin
 * its handle too; never a lock or a thread's op. Undefined when the step names a process not made yet
 * (ctx.proc() makes it: the list of processes changes too).
 */
export function stepWrites(ctx: RunContext, step: ThreadStep | Step): number | undefined {
  const named = step as { proc?: unknown; other?: unknown; target?: unknown; child?: unknown };
  for (const n of [named.proc, named.other, named.target, named.child])
    if (typeof n === 'string' && !ctx.m.process(n)) return undefined;
  return R_FRAMES | R_MM_STATE | (step.op === 'unpin_user_pages' ? R_HANDLES : 0);
}

/**
 * For a step journalSafe() allows, the frames and PTE tables it may write, into a journal footprint (fp after
 * any()): an access, each folio mapped in the range (a COW's old folio, a PMD split's every page), the free
 * hugetlb folios (hugetlb_wp()'s copy), the zero pages, and the range's PTE tables; an unpin, each held
 * entry's folio. What the allocator hands out or frees the journal learns itself (journal.ts). `first`:
 * the footprint's lists start here (else they go on from an earlier step's).
 */
export function nameStepWrites(ctx: RunContext, step: ThreadStep | Step, fp: Footprint, first = true): void {
  const m = ctx.m;
  if (first) {
    fp.namesFrames();
    fp.namesTables();
  }
  if (step.op === 'unpin_user_pages') {
    const h = ctx.objects.get(step.pins);
    if (!(h instanceof PinHandle)) return;
    let last = NO_FOLIO;
    // unpin_user_pages(): gup_put_folio() of each entry's folio.
    for (let i = 0; i < h.entries.length; i++) if (!h.releasedAt.has(i)) last = nameFolioOf(m, h.entries[i]!, fp, last);
    return;
  }
  if (step.op !== 'read' && step.op !== 'write') return;
  const p = m.process(step.proc)!;
  const { addr, len } = ctx.range(step);
  nameFaultFrames(m, fp);
  nameNewEntries(m, p, addr, len, fp);
  let last = NO_FOLIO;
  let lastTable: Uint32Array | undefined;
  for (let a = addr - (addr % PAGE_SIZE); a < addr + len; a += PAGE_SIZE) {
    last = nameFaultFolio(m, p, a, fp, last);
    const t = p.mm.pt.pteTable(a);
    if (t && t !== lastTable) fp.table((lastTable = t));
  }
}

/**
 * The entries faults in [addr, addr + len) of p may write in a PTE table they allocate: each page's, or with
 * mTHP the aligned block of the largest order allowed around it (do_anonymous_page()); into fp as one range
 * of slots every such table shares (Footprint.newEntries()). Under a PMD leaf, or across tables, any entry.
 */
export function nameNewEntries(m: Machine, p: Process, addr: number, len: number, fp: Footprint): void {
  // A PMD leaf there may be split into a new table, each entry set (__split_huge_pmd()).
  for (let a = addr - (addr % PMD_SIZE); a < addr + len; a += PMD_SIZE)
    if (typeof p.mm.pt.pmdSlot(a) === 'number') return fp.anyNewEntry();
  const vma = p.mm.vma_lookup(addr);
  const span = PAGE_SIZE << (vma ? (mthpOrdersAllowed(m, vma, addr)[0] ?? 0) : 0);
  const first = addr - (addr % span);
  const end = Math.max(addr + len, addr + 1);
  const pages = Math.ceil((end - first) / span) * (span / PAGE_SIZE);
  const i = pte_index(first);
  if (pages >= PTRS_PER_PTE || i + pages > PTRS_PER_PTE) return fp.anyNewEntry(); // across tables
  fp.newEntries(i, pages);
}

/**
 * The frames a fault may write besides the folio mapped where it faults and what the allocator hands out:
 * the zero page and the huge zero folio (a read fault maps them), and the free hugetlb folios (hugetlb_wp()
 * and hugetlb_no_page() take one from the pool, which is not the page allocator).
 */
export function nameFaultFrames(m: Machine, fp: Footprint): void {
  fp.frames(ZERO_PFN, 1);
  if (m.huge_zero_folio !== NO_FOLIO) fp.frames(m.huge_zero_folio, HPAGE_PMD_NR);
  for (const hs of m.hugetlb.hstates.values()) for (const f of hs.freelist) fp.frames(f, 1 << hs.order);
}

/** Whether a PMD or PUD leaf of p's page tables covers addr (a THP, a hugetlb page, the huge zero folio). */
export function underLeaf(p: Process, addr: number): boolean {
  const pt = p.mm.pt;
  return pt.pudLeaf(addr) !== 0 || typeof pt.pmdSlot(addr) === 'number';
}

/**
 * What a fault at addr in p may write of the folio mapped there, into fp: every page of a folio mapped by
 * a PMD or PUD leaf (the fault may split the leaf, which maps each page: __split_huge_pmd()); else the
 * folio's fields and the page itself (a COW or an unshare changes that page's mapcount and
 * PageAnonExclusive and the folio's counts: wp_page_copy(), wp_page_reuse()). Skips the fields or the
 * folio of `last`, the folio named just before; returns the folio (`last` when nothing is mapped there,
 * or no struct page).
 */
export function nameFaultFolio(m: Machine, p: Process, addr: number, fp: Footprint, last = NO_FOLIO): number {
  const pfn = mappedPfn(p, addr);
  if (pfn === NO_PFN || pfn >= m.mem.nr) return last;
  const f = m.mem.page_folio(pfn);
  if (underLeaf(p, addr)) {
    if (f !== last) fp.frames(f, m.mem.folio_nr_pages(f));
    return f;
  }
  if (f !== last) nameFolioFields(m, f, fp);
  if (pfn - f >= FOLIO_FIELD_PAGES) fp.frames(pfn, 1);
  return f;
}

/**
 * The fields of pfn's folio into fp, unless it is `last` (what a grab or a put writes: the references and
 * pin count; a folio freed by its last put is the allocator's to report); returns the folio.
 */
export function nameFolioOf(m: Machine, pfn: number, fp: Footprint, last = NO_FOLIO): number {
  if (pfn === NO_PFN || pfn >= m.mem.nr) return last;
  const f = m.mem.page_folio(pfn);
  if (f !== last) nameFolioFields(m, f, fp);
  return f;
}

/**
 * Whether a fault in [addr, addr + len) of p waits for a fork's page-table lock: a COW of a private hugetlb
 * page may unmap it from the other mms that map the file (hugetlb_wp()'s unmap_ref_private(), whose
 * __unmap_hugepage_range() takes each one's lock), and fork holds the lock of the mm it copies between an
 * entry's decision and its mapping (copy_hugetlb_page_range()). Locks.ptl does not say which mms map the
 * file: any lock held makes it wait (a few more orders forbidden than the kernel forbids).
 */
export function hugetlbCowWaits(w: World, p: Process, addr: number, len: number): boolean {
  if (w.locks.ptl.size === 0) return false;
  for (const v of p.mm.vmas)
    if (v.start < addr + Math.max(len, 1) && v.end > addr && v.kind === 'hugetlb' && !(v.flags & VM_MAYSHARE))
      return true;
  return false;
}

/** A folio's fields (its head and the tail pages that hold folio-wide counts: FOLIO_FIELD_PAGES) into fp. */
export function nameFolioFields(m: Machine, folio: number, fp: Footprint): void {
  fp.frames(folio, Math.min(FOLIO_FIELD_PAGES, m.mem.folio_nr_pages(folio)));
}

/** Any other step: one atomic point through the scenario runner, under the lock its syscall takes. */
export class AtomicOp extends Op {
  override structural(w: World): boolean {
    return !journalSafe(w.ctx, this.step);
  }
  override footprint(w: World, fp: Footprint): void {
    fp.any();
    if (fp.forJournal && journalSafe(w.ctx, this.step)) nameStepWrites(w.ctx, this.step, fp);
  }
  enabled(w: World): boolean {
    if (LOCKLESS.has(this.step.op)) return true;
    const s = this.step as { proc?: string; target?: string };
    for (const n of [s.proc, s.target]) {
      if (n === undefined || !w.ctx.m.process(n)?.alive) continue;
      if (WRITERS.has(this.step.op) ? !w.locks.canWrite(n) : !w.locks.canRead(n)) return false;
    }
    // A region whose mmap failed has no range: the scenario runner reports the step.
    if (
      (this.step.op === 'write' || this.step.op === 'read') &&
      w.locks.ptl.size > 0 &&
      w.ctx.regions.has(this.step.region)
    ) {
      const p = w.ctx.m.process(this.step.proc);
      const { addr, len } = w.ctx.range(this.step);
      if (p && hugetlbCowWaits(w, p, addr, len)) return false;
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
    return {
      fn: this.step.op,
      what: `ret ${res.ret}${res.errno ? ` (${res.errno}${why ? `: ${why.fn}: ${why.rule}` : ''})` : ''}`,
    };
  }
}

/**
 * Before an op's first point: a step that names a region whose mmap failed faults at once, as `gupsim
 * run` has it (like MAP_FAILED); the record of that point, or undefined to run the op.
 */
export function unmappedStart(w: World, op: Op): PointRecord | undefined {
  op.started = true;
  if (op instanceof AtomicOp) return undefined; // the scenario runner says it
  const name = unmappedRegion(w.ctx, op.step as Step);
  if (name === undefined) return undefined;
  op.ret = -EFAULT;
  op.done = true;
  return { fn: 'gupsim', what: `region "${name}" is not mapped: its mmap step failed (-EFAULT)` };
}

/** Records of points nobody reads the words of (the search), one per function: no allocation per point. */
const QUIET = new Map<string, PointRecord>();

/** A point's record when nobody reads its words (the search). Never given a violation. */
export function quiet(fn: string): PointRecord {
  let r = QUIET.get(fn);
  if (!r) QUIET.set(fn, (r = Object.freeze({ fn, what: '' }) as PointRecord));
  return r;
}
