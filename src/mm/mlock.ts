// Models mm/mlock.c: mlock(2), mlock2(MLOCK_ONFAULT) and munlock(2) over a range of VMAs
// (do_mlock(), apply_vma_lock_flags(), mlock_fixup(), mlock_vma_pages_range(), mlock_pte_range()),
// the RLIMIT_MEMLOCK / CAP_IPC_LOCK rules, mm->locked_vm, and PG_mlocked on the folios mapped there.
// Read from mm/mlock.c and mm/gup.c populate_vma_page_range() of a 6.18 tree.

import type { Machine } from './machine.js';
import type { Process } from './task.js';
import { EAGAIN, EFAULT, EINVAL, ENOMEM, EPERM } from '../uapi/errno.js';
import { PAGE_SIZE, pageAlignUp } from './memmap.js';
import {
  type Vma,
  VM_HUGETLB,
  VM_IO,
  VM_LOCKED,
  VM_LOCKONFAULT,
  VM_MIXEDMAP,
  VM_PFNMAP,
  VM_READ,
  VM_SHARED,
  VM_WRITE,
} from './mm_types.js';
import { mlock_vma_pages_range } from './mlock_folio.js';
import { lru_add_drain } from './swap.js';
import { populate_vma_page_range, split_vma, vmaMergeNeighbours } from './mmap.js';

/** VM_LOCKED_MASK. */
const VM_LOCKED_MASK = VM_LOCKED | VM_LOCKONFAULT;

/** can_do_mlock(): RLIMIT_MEMLOCK is not 0, or CAP_IPC_LOCK. */
export function can_do_mlock(p: Process): boolean {
  return p.rlimitMemlock !== 0 || p.capIpcLock;
}

/** vma_supports_mlock(): not VM_SPECIAL (VM_IO, VM_PFNMAP, VM_MIXEDMAP), not hugetlb, not DAX. */
function vma_supports_mlock(vma: Vma): boolean {
  return !(vma.flags & (VM_IO | VM_PFNMAP | VM_MIXEDMAP | VM_HUGETLB)) && vma.kind !== 'fsdax';
}

/**
 * mlock_fixup(): give [start, end) of the VMA the new VM_LOCKED bits (splitting it), account
 * mm->locked_vm, and mlock or munlock the pages already mapped. Special VMAs are left alone (no
 * VM_LOCKED, no count; they are populated all the same).
 */
function mlock_fixup(m: Machine, vma: Vma, start: number, end: number, newflags: number): Vma {
  if (newflags === vma.flags || !vma_supports_mlock(vma)) return vma;
  if (vma.start < start) vma = split_vma(m, vma, start);
  if (vma.end > end) split_vma(m, vma, end);
  const old = vma.flags;
  const pages = (end - start) / PAGE_SIZE;
  if (!(newflags & VM_LOCKED)) vma.mm.locked_vm -= pages;
  else if (!(old & VM_LOCKED)) vma.mm.locked_vm += pages;
  vma.flags = newflags;
  // Both locked: "no work to do, and mlocking twice would be wrong". The kernel's walk
  // (mlock_vma_pages_range()) drains this CPU's LRU batches before and after it.
  if (!(newflags & VM_LOCKED && old & VM_LOCKED)) {
    lru_add_drain(m);
    mlock_vma_pages_range(m, vma, start, end);
    lru_add_drain(m);
  }
  return vmaMergeNeighbours(m, vma);
}

/**
 * apply_vma_lock_flags(): the VMAs of [start, start + len) one by one; -ENOMEM when nothing is
 * mapped at start or a hole follows (the VMAs before it keep their new flags).
 */
function apply_vma_lock_flags(m: Machine, p: Process, start: number, len: number, flags: number): number {
  const end = start + len;
  if (end < start) return m.refuse(-EINVAL, 'apply_vma_lock_flags', 'the range wraps');
  if (end === start) return 0;
  const mm = p.mm;
  if (!mm.vma_lookup(start)) return m.refuse(-ENOMEM, 'apply_vma_lock_flags', 'no mapping at the start of the range');
  let tmp = mm.vma_lookup(start)!.start;
  let nstart = start;
  for (
    let vma = mm.vma_lookup(start);
    vma && vma.start < end;
    vma = mm.vmas.find((v) => v.end > nstart && v.start < end)
  ) {
    if (vma.start > tmp) return m.refuse(-ENOMEM, 'apply_vma_lock_flags', 'a hole in the range');
    tmp = Math.min(vma.end, end);
    const v = mlock_fixup(m, vma, Math.max(nstart, vma.start), tmp, (vma.flags & ~VM_LOCKED_MASK) | flags);
    tmp = Math.min(v.end, end);
    nstart = tmp;
    if (nstart >= end) break;
  }
  return tmp < end ? m.refuse(-ENOMEM, 'apply_vma_lock_flags', 'a hole at the end of the range') : 0;
}

/** Pages of [start, end) already in VM_LOCKED VMAs (count_mm_mlocked_page_nr()). */
function count_mm_mlocked_page_nr(p: Process, start: number, end: number): number {
  let n = 0;
  for (const v of p.mm.vmas)
    if (v.flags & VM_LOCKED && v.end > start && v.start < end) n += Math.min(end, v.end) - Math.max(start, v.start);
  return n / PAGE_SIZE;
}

/**
 * __mm_populate() for mlock: fault in every VMA of the range but VM_IO/VM_PFNMAP ones
 * (populate_vma_page_range(): none for VM_LOCKONFAULT; write faults for private writable VMAs, a
 * read with FOLL_FORCE for other accessible ones; a PROT_NONE VMA fails check_vma_flags: -EFAULT).
 * New folios of a VM_LOCKED VMA are mlocked as they are mapped (folio_add_lru_vma(),
 * mlock_vma_folio()); the model mlocks them once the range is populated.
 */
function mm_populate(m: Machine, p: Process, start: number, end: number): number {
  for (const vma of [...p.mm.vmas]) {
    if (vma.end <= start || vma.start >= end) continue;
    if (vma.flags & (VM_IO | VM_PFNMAP)) continue;
    if (vma.flags & VM_LOCKONFAULT) continue;
    const s = Math.max(start, vma.start);
    const e = Math.min(end, vma.end);
    if (!(vma.flags & (VM_READ | VM_WRITE)))
      return m.refuse(-EFAULT, 'check_vma_flags', 'populating a PROT_NONE mapping (no VM_READ, no FOLL_FORCE)');
    const r = populate_vma_page_range(m, vma, s, e, (vma.flags & (VM_WRITE | VM_SHARED)) === VM_WRITE);
    if (r < 0) return r;
    if (vma.flags & VM_LOCKED) mlock_vma_pages_range(m, vma, s, e);
  }
  return 0;
}

/**
 * do_mlock(): mlock(2), or mlock2(2) with MLOCK_ONFAULT. Returns 0 or -errno: -EPERM (RLIMIT_MEMLOCK
 * is 0 and no CAP_IPC_LOCK), -ENOMEM (locked_vm would exceed RLIMIT_MEMLOCK without CAP_IPC_LOCK, or
 * a hole in the range), and the populate errors turned into POSIX ones (__mlock_posix_error_return():
 * -EFAULT becomes -ENOMEM, -ENOMEM becomes -EAGAIN). An unaligned start is rounded down.
 * @see mm/mlock.c do_mlock(), SYSCALL_DEFINE3(mlock2)
 */
export function do_mlock(m: Machine, p: Process, addr: number, len: number, onfault = false): number {
  if (!can_do_mlock(p)) return m.refuse(-EPERM, 'can_do_mlock', 'RLIMIT_MEMLOCK is 0 and no CAP_IPC_LOCK');
  len = pageAlignUp(len + (addr % PAGE_SIZE));
  const start = addr - (addr % PAGE_SIZE);
  const limit = Math.floor(p.rlimitMemlock / PAGE_SIZE);
  let locked = len / PAGE_SIZE + p.mm.locked_vm;
  if (locked > limit && !p.capIpcLock) locked -= count_mm_mlocked_page_nr(p, start, start + len);
  if (locked > limit && !p.capIpcLock)
    return m.refuse(-ENOMEM, 'do_mlock', 'locked_vm would exceed RLIMIT_MEMLOCK (no CAP_IPC_LOCK)');
  const err = apply_vma_lock_flags(m, p, start, len, VM_LOCKED | (onfault ? VM_LOCKONFAULT : 0));
  if (err) return err;
  const r = mm_populate(m, p, start, start + len);
  if (r === -EFAULT) return m.refuse(-ENOMEM, '__mlock_posix_error_return', `${m.why?.fn ?? 'populate'}: EFAULT`);
  if (r === -ENOMEM) return m.refuse(-EAGAIN, '__mlock_posix_error_return', 'the populate ran out of memory (ENOMEM)');
  return r;
}

/** munlock(2): clear VM_LOCKED over the range and munlock its pages. @see mm/mlock.c SYSCALL_DEFINE2(munlock) */
export function do_munlock(m: Machine, p: Process, addr: number, len: number): number {
  len = pageAlignUp(len + (addr % PAGE_SIZE));
  return apply_vma_lock_flags(m, p, addr - (addr % PAGE_SIZE), len, 0);
}
