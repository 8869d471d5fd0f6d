// munmap as the race explorer runs it (mm/mmap.c do_vmi_munmap(), mm/memory.c zap_pte_range(),
// mm/mmu_gather.c): mmap_write_lock(), per present PTE its clearing (zap_present_ptes(): the folio's
// rmap dropped, its reference kept in the mmu_gather), the TLB flush that drops the gathered references
// (tlb_finish_mmu()), then free_pgtables() -- which waits for every GUP-fast walk of the mm with IRQs
// off (the IPI or RCU grace period they hold off) -- and the rest of do_munmap().

import type { Step } from '../../scenario/schema.js';
import { PAGE_SIZE, PMD_SIZE } from '../../mm/memmap.js';
import { pte_index, pte_pfn } from '../../mm/pgtable.js';
import { zapPresentPtes, tlbFinishMmu } from '../../mm/memory.js';
import { do_munmap } from '../../mm/mmap.js';
import type { Process } from '../../mm/task.js';
import type { Vma } from '../../mm/mm_types.js';
import { Footprint, MM_FIELDS, MM_LOCK, MM_PT, NO_SLOT, R_FRAMES, mmRes } from './footprint.js';
import { Op, quiet, type PointRecord, type World } from './op.js';
import type { Hash } from './state_hash.js';
import { hex } from '../../mm/hex.js';

const U_BEGIN = 0;
const U_ZAP = 1;
const U_FLUSH = 2;
const U_FREE = 3;

export class MunmapOp extends Op {
  phase = U_BEGIN;
  addr = 0;
  startAddr = 0;
  len = 0;
  /** The mmu_gather: folio, count pairs whose references the flush drops. */
  gather: number[] = [];

  private get proc(): string {
    return (this.step as { proc: string }).proc;
  }
  /** The caller, made on first use as the scenario runner makes it (ctx.proc()): only a point calls this. */
  private p(w: World): Process {
    return w.ctx.proc(this.proc);
  }
  /** The caller's VMAs, for the search's questions between points (which must make no process). */
  private vmas(w: World): readonly Vma[] {
    return w.ctx.m.process(this.proc)?.mm.vmas ?? [];
  }
  enabled(w: World): boolean {
    if (this.phase === U_BEGIN) return w.locks.canWrite(this.proc);
    // free_pgtables(): the tables go after an IPI / RCU grace period that IRQs-off GUP-fast holds off.
    if (this.phase === U_FREE) return !w.locks.irqsOff.has(this.proc);
    return true;
  }
  override structural(w: World): boolean {
    // The start only takes mmap_lock (and reads the region). The end removes VMAs (and splits those the range
    // cuts), which the journal keeps for anon memory; a file's last unmap may truncate its page cache, and an
    // MMU notifier (unmap_region() -> zap_page_range_single()) may change anything.
    if (this.phase === U_FREE) {
      const end = this.startAddr + this.len;
      if (w.ctx.m.notifiers.size > 0) return true;
      return this.vmas(w).some((v) => v.start < end && v.end > this.startAddr && (v.kind !== 'anon' || !!v.file));
    }
    // A caller not made yet is made by the start (a new process: the journal does not keep that).
    if (this.phase === U_BEGIN) return !w.ctx.m.process(this.proc);
    // Zapping file pages touches the page cache's own structures.
    const vma = w.ctx.m.process(this.proc)?.mm.vma_lookup(this.addr);
    return this.phase === U_ZAP && vma !== undefined && vma.kind !== 'anon';
  }
  override footprint(w: World, fp: Footprint): void {
    const s = w.slot(this.proc);
    // The end may change anything of the mm (VMAs, tables, the rmap lists).
    if (s === NO_SLOT || this.phase === U_FREE || this.structural(w)) return fp.any();
    const pt = mmRes(s, MM_PT);
    if (this.phase === U_BEGIN) return fp.set(mmRes(s, MM_LOCK), mmRes(s, MM_LOCK));
    if (this.phase === U_ZAP) {
      fp.set(pt | R_FRAMES, pt | mmRes(s, MM_FIELDS) | R_FRAMES);
      // zap_pte_range() clears entries of the tables left in the range (and frees none).
      if (!fp.forJournal) return;
      fp.namesTables();
      const p = this.p(w);
      const end = this.startAddr + this.len;
      for (let a = this.addr - (this.addr % PMD_SIZE); a < end; a += PMD_SIZE) {
        const t = p.mm.pt.pteTable(a);
        if (!t) continue;
        // The entries of the range left to zap in this table.
        const from = Math.max(a, this.addr);
        const to = Math.min(a + PMD_SIZE, end);
        fp.table(t, pte_index(from), Math.ceil((to - from) / PAGE_SIZE));
      }
      return;
    }
    fp.set(0, R_FRAMES); // U_FLUSH
  }
  point(w: World): PointRecord {
    const m = w.ctx.m;
    const p = this.p(w);
    if (this.phase === U_BEGIN) {
      const { addr, len } = w.ctx.range(this.step as Step);
      this.startAddr = this.addr = addr;
      this.len = len;
      w.locks.writer.set(this.proc, this.thread);
      this.phase = U_ZAP;
      return { fn: 'do_vmi_munmap', what: `mmap_write_lock(); unmap ${hex(addr)}+${hex(len)}` };
    }
    if (this.phase === U_ZAP) {
      const end = this.startAddr + this.len;
      for (; this.addr < end; this.addr += PAGE_SIZE) {
        const vma = p.mm.vma_lookup(this.addr);
        const table = p.mm.pt.pteTable(this.addr);
        if (!vma || !table || vma.kind === 'hugetlb') continue;
        const i = pte_index(this.addr);
        const e = table[i]!;
        const stop = Math.min(PMD_SIZE / PAGE_SIZE, i + (end - this.addr) / PAGE_SIZE);
        const nr = zapPresentPtes(m, vma, table, i, stop, this.gather);
        if (!nr) continue;
        const at = this.addr;
        this.addr += nr * PAGE_SIZE;
        if (!w.describe) return quiet('zap_present_ptes');
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
    w.locks.writer.delete(this.proc);
    this.done = true;
    return { fn: 'free_pgtables', what: `VMAs removed, page tables freed; mmap_write_unlock(): ret ${this.ret}` };
  }
  override hashLive(h: Hash): void {
    super.hashLive(h);
    if (this.done) return;
    h.word(this.phase);
    h.num(this.addr);
    h.num(this.startAddr);
    h.num(this.len);
    h.words(this.gather);
  }
}
