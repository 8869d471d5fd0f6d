// Models HMM mirroring, mm/hmm.c (hmm_range_fault(), hmm_vma_walk_test(), hmm_vma_handle_pte(),
// hmm_vma_handle_pmd(), hmm_pte_need_fault(), hmm_vma_fault()) with mm/mmu_notifier.c's interval
// notifiers (mmu_interval_notifier_insert(), mmu_interval_read_begin(), mmu_interval_read_retry()) as
// a device driver uses them (Documentation/mm/hmm.rst "the driver's page-fault loop"): no pin and no
// reference is taken — the driver mirrors PFNs and is told by the MMU notifier when the CPU mapping
// changes (unmap, COW, migration, mprotect, fork), bumping the notifier's sequence so a later read
// sees the new PFNs. Read from upstream mm/hmm.c (gregkh/linux @ 5c40cd7d).

import type { Machine, MmuEvent } from '../mm/machine.js';
import type { Process } from '../mm/task.js';
import { Holder, type HeldFrame } from './holder.js';
import {
  type MmStruct,
  type Vma,
  VM_IO,
  VM_PFNMAP,
  VM_READ,
  VM_WRITE,
  FAULT_FLAG_REMOTE,
  FAULT_FLAG_WRITE,
  VM_FAULT_ERROR,
} from '../mm/mm_types.js';
import { EBADF, EBUSY, EFAULT, EPERM } from '../uapi/errno.js';
import { NO_PFN, PAGE_SIZE, PMD_SIZE, PUD_SIZE } from '../mm/memmap.js';
import { pte_index, pte_pfn, pte_present, pte_special, pte_write, is_zero_pfn } from '../mm/pgtable.js';
import { handle_mm_fault } from '../mm/memory.js';
import { snapshotSideTable } from '../mm/snapshot.js';

/** How many times the model's driver retries a collided read before giving up with -EBUSY (the
 *  kernel's drivers retry until HMM_RANGE_DEFAULT_TIMEOUT, 1 s, has passed). */
export const HMM_MAX_RETRIES = 16;

/** One invalidation the mirror was told about. */
export interface MirrorInvalidation {
  event: MmuEvent;
  start: number;
  end: number;
}

/**
 * A driver's mirror of [start, end) of one process's address space: a struct mmu_interval_notifier
 * plus the device page table it keeps (pfns, -1 where nothing is mirrored).
 */
export class HmmMirror extends Holder {
  readonly type = 'mirror' as const;
  /** mmu_interval_notifier->invalidate_seq. */
  seq = 0;
  readonly invalidations: MirrorInvalidation[] = [];
  /** The device page table: PFN per page of the range (-1: not mirrored, or invalidated). */
  pfns: Int32Array;
  /** Which mirrored pages the device may write. */
  writable: Uint8Array;
  readonly mm: MmStruct;
  /** The subscription in m.notifiers (removed by mmu_interval_notifier_remove()). */
  notifier?: (mm: MmStruct, start: number, end: number, event: MmuEvent) => void;
  constructor(
    name: string,
    owner: Process,
    public start: number,
    public end: number,
  ) {
    super(name, owner);
    this.mm = owner.mm;
    this.pfns = new Int32Array((end - start) / PAGE_SIZE).fill(NO_PFN);
    this.writable = new Uint8Array(this.pfns.length);
  }
  /** A mirror holds nothing: no pin, no reference (that is the point of HMM). */
  pins(): number {
    return 0;
  }
  refs(): number {
    return 0;
  }
  /** The mirrored PFNs: known to the device, held by nothing. */
  frames(): HeldFrame[] {
    const out: HeldFrame[] = [];
    this.pfns.forEach((pfn, i) => {
      if (pfn >= 0) out.push({ addr: this.start + i * PAGE_SIZE, pfn, pages: 1, pins: 0, refs: 0 });
    });
    return out;
  }
  /** Pages currently mirrored. */
  get mirrored(): number {
    let n = 0;
    for (const p of this.pfns) if (p >= 0) n++;
    return n;
  }
  /** Invalidations by event. */
  eventCounts(): Partial<Record<MmuEvent, number>> {
    const out: Partial<Record<MmuEvent, number>> = {};
    for (const i of this.invalidations) out[i.event] = (out[i.event] ?? 0) + 1;
    return out;
  }
}

const liveMirrors = new WeakMap<Machine, Set<HmmMirror>>();
snapshotSideTable(liveMirrors);

/**
 * mmu_interval_notifier_insert(): subscribe the mirror to invalidations of [start, end) in its mm.
 * Each overlapping invalidation bumps the sequence and clears the mirrored PFNs of the overlap (the
 * driver's invalidate callback zaps its device page table). The driver's fd closes at its creator's
 * exit (mmu_interval_notifier_remove()); the mirror sees the exit's unmap first (exit_mm() runs
 * before exit_files()). A fork child's exit does not remove it.
 */
export function mmu_interval_notifier_insert(
  m: Machine,
  name: string,
  owner: Process,
  start: number,
  end: number,
): HmmMirror {
  const mirror = new HmmMirror(name, owner, start, end);
  const cb = (mm: MmStruct, s: number, e: number, event: MmuEvent): void => {
    if (mm !== mirror.mm || e <= mirror.start || s >= mirror.end) return;
    // mn_itree_invalidate() -> ops->invalidate(): mmu_interval_set_seq(), then the driver zaps.
    mirror.seq++;
    mirror.invalidations.push({ event, start: s, end: e });
    const from = Math.max(0, Math.floor((s - mirror.start) / PAGE_SIZE));
    const to = Math.min(mirror.pfns.length, Math.ceil((e - mirror.start) / PAGE_SIZE));
    mirror.pfns.fill(-1, from, to);
    mirror.writable.fill(0, from, to);
  };
  mirror.notifier = cb;
  m.notifiers.add(cb);
  let set = liveMirrors.get(m);
  if (!set) {
    const s = (set = new Set());
    liveMirrors.set(m, s);
    m.exitHooks.add((p) => {
      for (const x of [...s]) if (x.owner === p) mmu_interval_notifier_remove(m, x);
    });
  }
  set.add(mirror);
  return mirror;
}

/** mmu_interval_notifier_remove(): no more invalidations; the device page table is dropped. */
export function mmu_interval_notifier_remove(m: Machine, mirror: HmmMirror): number {
  if (mirror.closed) return m.refuse(-EBADF, 'mmu_interval_notifier_remove', 'the mirror has already been closed');
  if (mirror.notifier) m.notifiers.delete(mirror.notifier);
  mirror.pfns.fill(NO_PFN);
  mirror.writable.fill(0);
  mirror.closed = true;
  liveMirrors.get(m)?.delete(mirror);
  return 0;
}

/** What the CPU page table says about one page: PFN (-1 none), writable, and the leaf's size. */
interface CpuEntry {
  pfn: number;
  write: boolean;
  special: boolean;
  /** Bytes from addr to the end of the entry's leaf (a PMD/PUD leaf covers many pages). */
  span: number;
}

function cpuEntry(mm: MmStruct, addr: number): CpuEntry {
  const pt = mm.pt;
  const pud = pt.pudLeaf(addr);
  if (pud && pte_present(pud)) {
    return {
      pfn: pte_pfn(pud) + Math.floor((addr % PUD_SIZE) / PAGE_SIZE),
      write: pte_write(pud),
      special: false,
      span: PUD_SIZE - (addr % PUD_SIZE),
    };
  }
  const slot = pt.pmdSlot(addr);
  if (typeof slot === 'number') {
    return {
      pfn: pte_pfn(slot) + Math.floor((addr % PMD_SIZE) / PAGE_SIZE),
      write: pte_write(slot),
      special: false,
      span: PMD_SIZE - (addr % PMD_SIZE),
    };
  }
  const e = slot ? slot[pte_index(addr)]! : 0;
  if (!pte_present(e)) return { pfn: NO_PFN, write: false, special: false, span: PAGE_SIZE };
  return { pfn: pte_pfn(e), write: pte_write(e), special: pte_special(e), span: PAGE_SIZE };
}

/**
 * hmm_range_fault() on [mirror.start, mirror.end) with default_flags HMM_PFN_REQ_FAULT
 * (| HMM_PFN_REQ_WRITE if `write`), as a driver's fault handler calls it, inside the driver's retry
 * loop (mmu_interval_read_begin() ... hmm_range_fault() ... mmu_interval_read_retry()).
 *
 * Returns 0 with the mirror's PFNs filled in, or -errno: -EFAULT (a page with no VMA, a VM_IO/VM_PFNMAP
 * or unreadable VMA, a special PTE without struct page, or a fault that failed), -EPERM (write asked
 * on a VMA without VM_WRITE), -EBUSY (invalidated on every one of HMM_MAX_RETRIES tries). Faults go
 * through handle_mm_fault(FAULT_FLAG_REMOTE [| FAULT_FLAG_WRITE]) like a CPU access; nothing is
 * pinned or referenced, so refcounts, pincounts, nr_foll_pin_* and MMF_HAS_PINNED are untouched.
 */
export function hmm_range_fault(m: Machine, mirror: HmmMirror, write: boolean): { ret: number; retries: number } {
  m.why = undefined;
  if (mirror.closed) return { ret: m.refuse(-EBADF, 'hmm_range_fault', 'the mirror has been closed'), retries: 0 };
  const pfns = new Int32Array(mirror.pfns.length);
  const wr = new Uint8Array(mirror.pfns.length);
  for (let retries = 0; retries < HMM_MAX_RETRIES; retries++) {
    const seq = mirror.seq; // mmu_interval_read_begin()
    const r = hmmWalk(m, mirror, seq, write, pfns, wr);
    if (r === -EBUSY) continue;
    if (r) return { ret: r, retries };
    // The driver takes its lock and checks mmu_interval_read_retry() before using the PFNs.
    if (mirror.seq !== seq) continue;
    mirror.pfns.set(pfns);
    mirror.writable.set(wr);
    return { ret: 0, retries };
  }
  return {
    ret: m.refuse(-EBUSY, 'hmm_range_fault', `the range was invalidated on each of ${HMM_MAX_RETRIES} tries`),
    retries: HMM_MAX_RETRIES,
  };
}

/** hmm_vma_walk_test(): VM_IO / VM_PFNMAP / !VM_READ VMAs cannot be mirrored (a fault is required). */
function vmaOk(vma: Vma): boolean {
  return !(vma.flags & (VM_IO | VM_PFNMAP)) && (vma.flags & VM_READ) !== 0;
}

/**
 * The walk_page_range() loop of hmm_range_fault(): -EBUSY when the sequence moved (the driver
 * restarts), after each hmm_vma_fault() the walk resumes at the faulting address.
 */
function hmmWalk(m: Machine, mirror: HmmMirror, seq: number, write: boolean, pfns: Int32Array, wr: Uint8Array): number {
  const mm = mirror.mm;
  let addr = mirror.start;
  let faults = 0;
  while (addr < mirror.end) {
    // "If range is no longer valid force retry."
    if (mirror.seq !== seq) return -EBUSY;
    const vma = mm.vma_lookup(addr);
    // hmm_vma_walk_hole() without a VMA: a required fault is -EFAULT.
    if (!vma) return m.refuse(-EFAULT, 'hmm_vma_walk_hole', `no VMA at 0x${addr.toString(16)}`);
    if (!vmaOk(vma)) return m.refuse(-EFAULT, 'hmm_vma_walk_test', 'VM_IO / VM_PFNMAP or unreadable VMA');
    const e = cpuEntry(mm, addr);
    // hmm_pte_need_fault(): not valid -> fault; write requested and not writable -> write fault.
    const need = e.pfn < 0 || (write && !e.write);
    if (need) {
      // hmm_vma_fault(): faults every page from addr to the end of this walk step.
      if (write && !(vma.flags & VM_WRITE))
        return m.refuse(-EPERM, 'hmm_vma_fault', 'write fault requested on a VMA without VM_WRITE');
      if (++faults > 4 * pfns.length + 8) throw new Error('gupsim bug: hmm_range_fault did not converge');
      const stepEnd = Math.min(mirror.end, vma.end, addr - (addr % PMD_SIZE) + PMD_SIZE);
      for (let a = addr; a < stepEnd; a += PAGE_SIZE) {
        if (handle_mm_fault(m, vma, a, FAULT_FLAG_REMOTE | (write ? FAULT_FLAG_WRITE : 0)) & VM_FAULT_ERROR) {
          return m.refuse(-EFAULT, 'hmm_vma_fault', `handle_mm_fault failed at 0x${a.toString(16)}`);
        }
      }
      continue; // -EBUSY from hmm_vma_fault: the walk restarts at addr (after the sequence check)
    }
    // A special PTE without a struct page (not the zero page): error when a fault was required.
    if (e.special && !is_zero_pfn(e.pfn))
      return m.refuse(-EFAULT, 'hmm_vma_handle_pte', 'special PTE without struct page');
    const n = Math.min(e.span, mirror.end - addr) / PAGE_SIZE;
    const i0 = (addr - mirror.start) / PAGE_SIZE;
    for (let k = 0; k < n; k++) {
      pfns[i0 + k] = e.pfn + k;
      wr[i0 + k] = e.write ? 1 : 0;
    }
    addr += n * PAGE_SIZE;
  }
  return 0;
}
