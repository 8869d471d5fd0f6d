// Models mm/madvise.c: madvise(2) over a range of VMAs (holes reported as -ENOMEM after the rest
// was advised), each advice's effect, and MADV_POPULATE_(READ|WRITE) faulting in a range.

import { PAGE_SIZE, pageAlignUp } from './memmap.js';
import {
  type Advice,
  type MmStruct,
  type Vma,
  VM_NOHUGEPAGE,
  VM_IO,
  VM_PFNMAP,
  VM_DONTCOPY,
  VM_HUGEPAGE,
  VM_LOCKED,
} from './mm_types.js';
import { ENOMEM, EHWPOISON, EINTR, EINVAL, EFAULT } from '../uapi/errno.js';
import { collapsePteMappedRange } from './khugepaged.js';
import { type SysResult, vmaMergeNeighbours, split_vma } from './mmap.js';
import { faultin_page_range } from './gup.js';
import type { Machine } from './machine.js';
import type { Process } from './task.js';
import { zap_page_range_single } from './memory.js';

/**
 * madvise(). -EINVAL for an unaligned start (madvise_should_skip(); a zero length returns 0). Every
 * advice but MADV_POPULATE_* walks the VMAs (madvise_walk_vmas()): holes are skipped and reported as
 * -ENOMEM after the mapped parts were advised; a VMA's own error stops the walk. Per VMA: -EINVAL for
 * MADV_DONTNEED on a VM_PFNMAP mapping or an unaligned start inside a hugetlb page (the end is rounded
 * down to a huge page), MADV_DOFORK on VM_IO, a cut inside a hugetlb page; MADV_COLLAPSE's errors.
 * MADV_POPULATE_(READ|WRITE) faults through GUP (madvise_populate()).
 */
export function do_madvise(m: Machine, p: Process, start: number, len: number, advice: Advice): SysResult {
  const mm = p.mm;
  if (start % PAGE_SIZE !== 0 || !(len >= 0))
    return m.refuse(-EINVAL, 'madvise_should_skip', 'the start is not page aligned');
  const end = start + pageAlignUp(len);
  if (end === start) return 0;
  if (advice === 'populate_read' || advice === 'populate_write')
    return madvise_populate(m, p, start, end, advice === 'populate_write');
  return madvise_walk_vmas(m, mm, start, end, (v, s, e) => madvise_vma_behavior(m, v, s, e, advice));
}

/**
 * madvise_walk_vmas(): `fn` on the part of each VMA inside [start, end). A hole does not stop the walk
 * but makes the result -ENOMEM; an error from `fn` is returned at once.
 */
function madvise_walk_vmas(
  m: Machine,
  mm: MmStruct,
  start: number,
  end: number,
  fn: (vma: Vma, s: number, e: number) => number,
): number {
  let unmapped = 0;
  let cur = start;
  while (cur < end) {
    const vma = mm.vmas.find((v) => v.end > cur);
    if (!vma) return m.refuse(-ENOMEM, 'madvise_walk_vmas', 'part of the range is not mapped');
    if (cur < vma.start) {
      unmapped = m.refuse(-ENOMEM, 'madvise_walk_vmas', 'part of the range is not mapped');
      cur = vma.start;
      if (cur >= end) break;
    }
    const e = Math.min(vma.end, end);
    const r = fn(vma, cur, e);
    if (r) return r;
    cur = e;
  }
  return unmapped;
}

/** madvise_vma_behavior() on [s, e) of one VMA. */
function madvise_vma_behavior(m: Machine, v: Vma, s: number, e: number, advice: Advice): number {
  switch (advice) {
    case 'dontneed': {
      // madvise_dontneed_free_valid_vma(): no VMA split, just a zap of the range.
      if (v.kind === 'hugetlb') {
        const unit = PAGE_SIZE << v.hugeOrder;
        if (s % unit)
          return m.refuse(-EINVAL, 'madvise_dontneed_free_valid_vma', 'a hugetlb range must start on a huge page');
        e -= e % unit;
      } else if (v.flags & (VM_PFNMAP | VM_LOCKED))
        return m.refuse(-EINVAL, 'madvise_dontneed_free_valid_vma', 'VM_PFNMAP or VM_LOCKED mapping');
      if (s < e) zap_page_range_single(m, v, s, e);
      return 0;
    }
    case 'collapse':
      return collapsePteMappedRange(m, v, s, e);
    case 'hugepage':
      // hugepage_madvise() accepts any VMA (hugetlb and PFN maps included) and only sets the flags.
      return madvise_update_vma(m, v, s, e, (v.flags | VM_HUGEPAGE) & ~VM_NOHUGEPAGE);
    case 'nohugepage':
      return madvise_update_vma(m, v, s, e, (v.flags | VM_NOHUGEPAGE) & ~VM_HUGEPAGE);
    case 'dontfork':
      return madvise_update_vma(m, v, s, e, v.flags | VM_DONTCOPY);
    case 'dofork':
      if (v.flags & VM_IO) return m.refuse(-EINVAL, 'madvise_vma_behavior', 'MADV_DOFORK on a VM_IO mapping');
      return madvise_update_vma(m, v, s, e, v.flags & ~VM_DONTCOPY);
    default:
      return m.refuse(-EINVAL, 'madvise_vma_behavior', `advice ${String(advice)} is not known`);
  }
}

/**
 * madvise_update_vma(): nothing to do when the flags do not change; else [s, e) is split off
 * (hugetlb_vm_op_split(): -EINVAL for a cut inside a huge page) and gets the new flags.
 */
function madvise_update_vma(m: Machine, v: Vma, s: number, e: number, newflags: number): number {
  if (newflags === v.flags) return 0;
  if (v.kind === 'hugetlb') {
    const unit = PAGE_SIZE << v.hugeOrder;
    if ((s > v.start && s % unit) || (e < v.end && e % unit))
      return m.refuse(-EINVAL, 'hugetlb_vm_op_split', 'the range cuts a hugetlb page (not huge-page aligned)');
  }
  let vma = v;
  if (vma.start < s) vma = split_vma(m, vma, s);
  if (vma.end > e) split_vma(m, vma, e);
  vma.flags = newflags;
  vmaMergeNeighbours(m, vma);
  return 0;
}

/**
 * madvise_populate(): faultin_page_range() until the range is done. -ENOMEM for a hole (reached after
 * populating what precedes it) or OOM, -EINVAL for a mapping that does not allow the access
 * (check_vma_flags() under FOLL_MADV_POPULATE), -EFAULT for SIGBUS/SIGSEGV, -EHWPOISON, -EINTR.
 */
export function madvise_populate(m: Machine, p: Process, start: number, end: number, write: boolean): number {
  while (start < end) {
    const pages = faultin_page_range(m, p, start, end, write);
    if (pages < 0) {
      switch (pages) {
        case -EINTR:
        case -EINVAL:
        case -EHWPOISON:
        case -EFAULT:
          return pages;
        default:
          return -ENOMEM;
      }
    }
    if (pages === 0) return -ENOMEM; // cannot happen: GUP turns "nothing done" into an error
    start += pages * PAGE_SIZE;
  }
  return 0;
}
