// fork as the race explorer runs it (kernel/fork.c dup_mmap(), mm/memory.c copy_page_range()): the start
// (mmap_write_lock() of the parent, the child and its VMAs), then per VMA the copy one atomic point at a
// time through the model's own per-entry code (kernel/fork.ts copyPageRangeStep(): write_protect_seq
// opened for a COW mapping, per entry the decision -- folio_try_dup_anon_rmap_*(), share or copy -- and
// after a share the write-protect, under the page-table lock; the seqcount closed), then the end.

import {
  forkBegin,
  forkEnd,
  copyPageRangeStep,
  forkCursor,
  newForkStats,
  FORK_COPY_DONE,
  FORK_COPY_ENTRIES,
  FORK_COPY_BEGIN,
  batchReach,
  type ForkCursor,
} from '../../kernel/fork.js';
import type { Process } from '../../mm/task.js';
import { is_cow_mapping, type Vma } from '../../mm/mm_types.js';
import { PMD_SIZE } from '../../mm/memmap.js';
import { pte_index, pte_pfn, pte_present, pte_special } from '../../mm/pgtable.js';
import { EEXIST, errnoName } from '../../uapi/errno.js';
import {
  Footprint,
  FRAME_FLAGS,
  FRAME_MAPCOUNT,
  MM_FIELDS,
  MM_LOCK,
  MM_PT,
  NO_SLOT,
  R_FRAMES,
  R_MM_LOCKS,
  mmRes,
} from './footprint.js';
import { Op, nameFolioFields, quiet, underLeaf, type PointRecord, type World } from './op.js';
import type { Hash } from './state_hash.js';
import { hex } from '../../mm/hex.js';

const F_BEGIN = 0;
const F_COPY = 1;
const F_END = 2;

export class ForkOp extends Op {
  phase = F_BEGIN;
  child: Process | undefined = undefined;
  pairs: [Vma, Vma][] = [];
  vi = 0;
  stats = newForkStats();
  cursor: ForkCursor | undefined = undefined;
  err = 0;

  private get s(): { proc: string; child: string } {
    return this.step as { proc: string; child: string };
  }
  enabled(w: World): boolean {
    return this.phase !== F_BEGIN || w.locks.canWrite(this.s.proc);
  }
  /**
   * The entry the next copy point is at is a THP's PMD or PUD leaf (copy_huge_pmd() may split it). A hugetlb
   * entry's copy changes the pool, which the journal keeps.
   */
  private atLeaf(w: World): boolean {
    const c = this.cursor!;
    const [, src] = this.pairs[this.vi]!;
    if (src.kind === 'hugetlb') return false;
    return underLeaf(w.ctx.proc(this.s.proc), c.addr);
  }
  /**
   * At a leaf the journal does not keep a split of: a PUD leaf, or a PMD leaf of a file folio (its dirty bit
   * reaches the page cache: __split_huge_pmd()). An anon PMD split changes page state, the PMD directory
   * and a new PTE table, which it keeps.
   */
  private atUnjournalledLeaf(w: World): boolean {
    if (!this.atLeaf(w)) return false;
    const pt = w.ctx.proc(this.s.proc).mm.pt;
    const addr = this.cursor!.addr;
    if (pt.pudLeaf(addr) !== 0) return true;
    const mem = w.ctx.m.mem;
    const pfn = pte_pfn(pt.pmdLeaf(addr));
    return pfn >= mem.nr || !mem.folio_test_anon(mem.page_folio(pfn));
  }
  override structural(w: World): boolean {
    // dup_mmap()'s end when the child gets files, settings or is torn down; a leaf the journal does not keep
    // the split of; an MMU notifier at a VMA's end. (Its start, the child's process and VMAs, the journal
    // keeps: journal.ts H_PROCS.)
    if (this.phase === F_BEGIN) return false;
    if (this.phase === F_END)
      return this.err !== 0 || w.ctx.proc(this.s.proc).files.size > 0 || !!w.ctx.sc.processes?.[this.s.child];
    return w.ctx.m.notifiers.size > 0 || this.atUnjournalledLeaf(w);
  }
  override footprint(w: World, fp: Footprint): void {
    const ps = w.slot(this.s.proc);
    const cs = this.child ? w.slot(this.s.child) : NO_SLOT;
    if ((this.phase === F_END && !this.structural(w)) || this.phase === F_BEGIN) {
      // dup_mmap()'s start (the child's process, mm and VMAs: no page state, no PTE table) or its end without
      // an error (mmap_write_unlock() and the child's files: none, dup_fd()).
      fp.any();
      // The end writes the locks alone (mmap_write_unlock() of both mms; dup_fd() of a parent with no files
      // copies nothing): the journal saves no more for it.
      if (this.phase === F_END) fp.journalW = R_MM_LOCKS;
      fp.namesFrames();
      return fp.namesTables();
    }
    // A leaf's split writes the parent's page tables too.
    if (this.phase !== F_COPY || ps === NO_SLOT || cs === NO_SLOT || this.structural(w) || this.atLeaf(w))
      return fp.any();
    const pfields = mmRes(ps, MM_FIELDS);
    // The seqcount opening, an entry's decision (its page state, the child's table, the PTL taken) or,
    // after a share, the write-protect of both entries (the PTL released); crossing into the next VMA
    // may do the next VMA's first point too.
    let wr = pfields | R_FRAMES | mmRes(cs, MM_PT) | mmRes(cs, MM_FIELDS) | mmRes(ps, MM_LOCK);
    if (this.cursor!.pending) wr |= mmRes(ps, MM_PT);
    fp.set(mmRes(ps, MM_PT) | pfields | R_FRAMES, wr);
    // After a share, the write-protect of both entries into tables that exist (__copy_present_ptes()) writes
    // page-table words and releases the PTL: no page state the journal saves (vmstat, the allocator, the
    // PTE slab's list), no mm field.
    const c = this.cursor!;
    if (c.pending && this.child!.mm.pt.pteTable(c.addr))
      fp.journalW = mmRes(ps, MM_LOCK) | mmRes(ps, MM_PT) | mmRes(cs, MM_PT);
    this.nameFrames(w, fp);
  }
  /**
   * At a present PTE, the frames the next copy point may write: the folio's fields and the pages the entry
   * (or the batch from it, folio_pte_batch()) maps -- references, mapcounts, PageAnonExclusive
   * (folio_try_dup_anon_rmap_ptes()); a copy's new page is the allocator's; none for a share's
   * write-protect. Elsewhere (a VMA's start or end, a hole, hugetlb) nothing is named: every frame is
   * compared.
   */
  private nameFrames(w: World, fp: Footprint): void {
    if (!fp.forJournal) return;
    const c = this.cursor!;
    const [, src] = this.pairs[this.vi]!;
    // A COW mapping's copy opens and closes with write_protect_seq alone (an MMU notifier is structural).
    const cow = is_cow_mapping(src.flags);
    if (cow && (c.stage === FORK_COPY_BEGIN || (c.stage === FORK_COPY_ENTRIES && c.addr >= src.end))) {
      fp.namesFrames();
      return fp.namesTables();
    }
    if (c.stage !== FORK_COPY_ENTRIES || c.addr >= src.end) return;
    if (src.kind === 'hugetlb') return this.nameHugetlbFrames(w, fp);
    const table = w.ctx.proc(this.s.proc).mm.pt.pteTable(c.addr);
    if (!table) return;
    const i = pte_index(c.addr);
    const e = table[i]!;
    if (!pte_present(e) || pte_special(e)) return;
    const m = w.ctx.m;
    const mem = m.mem;
    const page = pte_pfn(e);
    if (page >= mem.nr) return;
    fp.namesFrames();
    // After a share, the write-protect writes the two tables only (__copy_present_ptes()).
    if (!c.pending) {
      const stop = Math.min(c.addr - (c.addr % PMD_SIZE) + PMD_SIZE, src.end);
      const nr = batchReach(m, src, page, i, stop - c.addr);
      nameFolioFields(m, mem.page_folio(page), fp);
      // The pages' own words: a share's mapcounts and PageAnonExclusive (folio_try_dup_anon_rmap_ptes());
      // the references, the large mapcount and the pincount are the folio's fields.
      fp.frames(page, Math.max(nr, 1), FRAME_MAPCOUNT | FRAME_FLAGS);
    }
    // The tables: the child's entry (a copy's; an allocation of the table is seen by the journal), and for
    // a share's write-protect the batch's entries in both.
    const dtable = this.child!.mm.pt.pteTable(c.addr);
    if (!dtable) return;
    fp.namesTables();
    const nr = c.pending ? Math.max(c.pendingNr, 1) : 1;
    fp.table(dtable, i, nr);
    if (c.pending) fp.table(table, i, nr);
  }
  /**
   * At a present hugetlb leaf: the folio's fields (copy_hugetlb_page_range()'s share), and the fields of
   * every folio in the pools, one of which an early copy takes (alloc_hugetlb_folio(); its contents are
   * reported by the copy, a surplus folio by the allocator).
   */
  private nameHugetlbFrames(w: World, fp: Footprint): void {
    const m = w.ctx.m;
    const addr = this.cursor!.addr;
    const pt = w.ctx.proc(this.s.proc).mm.pt;
    const leaf = pt.pudLeaf(addr) || (typeof pt.pmdSlot(addr) === 'number' ? pt.pmdLeaf(addr) : 0);
    if (!pte_present(leaf) || pte_pfn(leaf) >= m.mem.nr) return;
    fp.namesFrames();
    nameFolioFields(m, pte_pfn(leaf), fp);
    for (const hs of m.hugetlb.hstates.values()) for (const f of hs.freelist) nameFolioFields(m, f, fp);
  }
  point(w: World): PointRecord {
    const m = w.ctx.m;
    const parent = w.ctx.proc(this.s.proc);
    if (this.phase === F_BEGIN) {
      if (m.process(this.s.child)?.alive) {
        this.done = true;
        this.ret = -EEXIST;
        return { fn: 'kernel_clone', what: `a process ${this.s.child} exists: -EEXIST` };
      }
      w.locks.writer.set(this.s.proc, this.thread);
      const { child, pairs } = forkBegin(m, parent, this.s.child);
      // dup_mmap() holds the new mm's mmap_lock for write too (mmap_write_lock_nested()): nobody reaches the
      // child's mm (process_vm_readv(), a thread of the child) until its copy is done.
      w.locks.writer.set(this.s.child, this.thread);
      w.locks.newborn.set(this.s.child, this.thread);
      this.child = child;
      this.pairs = pairs;
      this.vi = 0;
      this.cursor = pairs.length ? forkCursor(pairs[0]![1], this.stats) : undefined;
      this.phase = pairs.length ? F_COPY : F_END;
      return { fn: 'dup_mmap', what: "mmap_write_lock(); the child's VMAs" };
    }
    if (this.phase === F_COPY) {
      for (;;) {
        const [cv, vma] = this.pairs[this.vi]!;
        const c = this.cursor!;
        const r = copyPageRangeStep(m, cv, vma, c, w.describe);
        if (c.pending) w.locks.ptl.set(this.s.proc, this.thread);
        else w.locks.ptl.delete(this.s.proc);
        if (typeof r === 'object') {
          // The last VMA's copy closed with a point of its own: dup_mmap()'s end is next.
          if (c.stage === FORK_COPY_DONE && this.vi === this.pairs.length - 1) this.phase = F_END;
          if (!w.describe) return quiet(r.fn);
          return { fn: r.fn, what: `${hex(r.addr)}: ${r.what}` };
        }
        if (typeof r === 'number') {
          this.err = r;
          this.phase = F_END;
          return { fn: 'copy_page_range', what: `failed: ${errnoName(r)}` };
        }
        // The VMA is done (a mapping without write_protect_seq ends without a point): the next one.
        this.vi++;
        if (this.vi >= this.pairs.length) break;
        this.cursor = forkCursor(this.pairs[this.vi]![1], this.stats);
      }
      this.phase = F_END;
      const st = this.stats;
      return {
        fn: 'copy_page_range',
        what: `every VMA copied: ${st.shared} page(s) shared, ${st.copied} copied, ${st.pmd_split} PMD(s) split`,
      };
    }
    const r = forkEnd(m, parent, this.child!, this.err);
    w.locks.writer.delete(this.s.proc);
    w.locks.writer.delete(this.s.child);
    w.locks.newborn.delete(this.s.child);
    this.done = true;
    if (typeof r === 'number') this.ret = r;
    else w.ctx.configure(r);
    return { fn: 'dup_mmap', what: `mmap_write_unlock(): ret ${this.ret}` };
  }
  override hashLive(h: Hash): void {
    super.hashLive(h);
    if (this.done) return;
    h.word(this.phase);
    h.word(this.vi);
    h.num(this.err);
    const c = this.cursor;
    if (c) {
      h.word(c.stage);
      h.num(c.addr);
      h.num(c.pending);
      h.word(c.pendingNr);
      h.word(c.touched ? 1 : 0);
    }
    h.num(this.stats.shared);
    h.num(this.stats.copied);
    h.num(this.stats.pmd_split);
  }
}
