// Models mm/mremap.c: mremap(2) shrinking, growing in place, or moving a mapping (do_mremap(),
// check_mremap_params(), check_prep_vma(), mremap_at(), mremap_to(), move_vma(),
// move_page_tables()). A move carries the page-table entries to the new address: the pages keep
// their refcounts, mapcounts and pins; only where the process sees them changes (a device holding a
// pin keeps the frame, the process now reaches it at the new address). Read from a 6.18 tree.

import type { Machine } from './machine.js';
import type { Process } from './task.js';
import { EAGAIN, EFAULT, EINVAL, ENOMEM } from '../uapi/errno.js';
import { PAGE_SIZE, PMD_SIZE, PUD_SIZE, pageAlignUp } from './memmap.js';
import { Vma, VM_LOCKED, VM_PFNMAP, VM_SHARED, VM_MAYSHARE, VM_LOCKONFAULT } from './mm_types.js';
import { pte_index } from './pgtable.js';
import { __split_huge_pmd } from './huge_memory.js';
import { do_munmap, get_unmapped_area, populate_vma_page_range, split_vma } from './mmap.js';
import { mlock_vma_pages_range } from './mlock_folio.js';

export interface MremapArgs {
  addr: number;
  oldLen: number;
  newLen: number;
  /** MREMAP_MAYMOVE. */
  maymove?: boolean;
  /** MREMAP_FIXED: the address to move to. */
  fixed?: number;
  /** MREMAP_DONTUNMAP. */
  dontunmap?: boolean;
}

/**
 * mremap(2). Returns the mapping's (new) address, or -errno: -EINVAL (unaligned address, zero new
 * length, MREMAP_FIXED or MREMAP_DONTUNMAP without MREMAP_MAYMOVE, DONTUNMAP with a size change or
 * on a PFN map, overlapping source and target, a private mapping "duplicated" with old_len 0, a
 * hugetlb range not huge-aligned or growing), -EFAULT (nothing mapped at addr, or the range runs past
 * its VMA, or a PFN map grows), -EAGAIN (an mlocked mapping would grow past RLIMIT_MEMLOCK), -ENOMEM
 * (cannot grow in place and may not move, or no room to move to).
 * @see mm/mremap.c do_mremap()
 */
export function do_mremap(m: Machine, p: Process, a: MremapArgs): number {
  const fn = 'check_mremap_params';
  let oldLen = pageAlignUp(a.oldLen);
  let newLen = pageAlignUp(a.newLen);
  const addr = a.addr;
  const impliesNewAddr = a.fixed !== undefined || !!a.dontunmap;
  if (addr % PAGE_SIZE) return m.refuse(-EINVAL, fn, 'the address is not page aligned');
  if (!newLen) return m.refuse(-EINVAL, fn, 'the new length is 0');
  if (impliesNewAddr) {
    if (a.fixed !== undefined && a.fixed % PAGE_SIZE) return m.refuse(-EINVAL, fn, 'the new address is not aligned');
    if (!a.maymove) return m.refuse(-EINVAL, fn, 'MREMAP_FIXED or MREMAP_DONTUNMAP without MREMAP_MAYMOVE');
    if (a.dontunmap && oldLen !== newLen) return m.refuse(-EINVAL, fn, 'MREMAP_DONTUNMAP cannot resize');
    if (a.fixed !== undefined && a.fixed < addr + oldLen && addr < a.fixed + newLen)
      return m.refuse(-EINVAL, fn, 'the target range overlaps the source range');
  }
  const mm = p.mm;
  // check_prep_vma()
  const prep = 'check_prep_vma';
  let vma = mm.vma_lookup(addr);
  if (!vma) return m.refuse(-EFAULT, prep, 'nothing is mapped at the address');
  if (vma.kind === 'hugetlb') {
    // align_hugetlb(): huge-page lengths and addresses, and no growing.
    const unit = PAGE_SIZE << vma.hugeOrder;
    oldLen = Math.ceil(oldLen / unit) * unit;
    newLen = Math.ceil(newLen / unit) * unit;
    if (addr % unit || (a.fixed ?? 0) % unit || newLen > oldLen)
      return m.refuse(-EINVAL, 'align_hugetlb', 'hugetlb: unaligned, or growing (reservations cannot be split)');
  }
  const delta = Math.abs(newLen - oldLen);
  const willMapNew = newLen > oldLen || impliesNewAddr;
  if (willMapNew) {
    if (!oldLen && !(vma.flags & (VM_SHARED | VM_MAYSHARE)))
      return m.refuse(-EINVAL, prep, 'old_len 0 duplicates only shared mappings');
    if (a.dontunmap && vma.flags & VM_PFNMAP) return m.refuse(-EINVAL, prep, 'MREMAP_DONTUNMAP of a PFN map');
    const checked = newLen < oldLen ? newLen : oldLen;
    if (checked > vma.end - addr) return m.refuse(-EFAULT, prep, 'the range runs past the end of its mapping');
    if (newLen > oldLen) {
      if (vma.flags & VM_PFNMAP) return m.refuse(-EFAULT, prep, 'a PFN map cannot grow');
      // mlock_future_ok()
      if (vma.flags & VM_LOCKED && !p.capIpcLock && mm.locked_vm + delta / PAGE_SIZE > p.rlimitMemlock / PAGE_SIZE)
        return m.refuse(-EAGAIN, 'mlock_future_ok', 'the mlocked mapping would exceed RLIMIT_MEMLOCK');
    }
  }
  if (impliesNewAddr) {
    // mremap_to()
    let target = a.fixed;
    if (target !== undefined) {
      const r = do_munmap(m, p, target, newLen);
      if (r < 0) return r;
      vma = mm.vma_lookup(addr);
      if (!vma) return m.refuse(-EFAULT, 'mremap_to', 'the source went away');
    }
    if (newLen < oldLen) {
      do_munmap(m, p, addr + newLen, delta);
      oldLen = newLen;
    }
    target ??= get_unmapped_area(mm, newLen, vma.kind === 'hugetlb' ? PAGE_SIZE << vma.hugeOrder : PAGE_SIZE);
    if (target < 0) return m.refuse(target, 'get_unmapped_area', 'no room for the moved mapping');
    return move_vma(m, p, vma, addr, oldLen, target, newLen, !!a.dontunmap);
  }
  // mremap_at()
  if (newLen === oldLen) return addr;
  if (newLen < oldLen) {
    const r = do_munmap(m, p, addr + newLen, delta);
    return r < 0 ? r : addr;
  }
  // expand_vma(): in place when the range ends at the VMA's end and the space after it is free.
  if (vma.end - addr === oldLen && !mm.vmas.some((v) => v.start < vma!.end + delta && v.end > vma!.end)) {
    vma.end += delta;
    accountLocked(m, vma, vma.end - delta, vma.end);
    return addr;
  }
  if (!a.maymove) return m.refuse(-ENOMEM, 'expand_vma', 'cannot grow in place and MREMAP_MAYMOVE is not set');
  const target = get_unmapped_area(mm, newLen, vma.kind === 'hugetlb' ? PAGE_SIZE << vma.hugeOrder : PAGE_SIZE);
  if (target < 0) return m.refuse(target, 'get_unmapped_area', 'no room for the moved mapping');
  return move_vma(m, p, vma, addr, oldLen, target, newLen, false);
}

/** vrm_stat_account() + the populate of an mlocked expansion (do_mremap(): mm_populate()). */
function accountLocked(m: Machine, vma: Vma, start: number, end: number): void {
  if (!(vma.flags & VM_LOCKED)) return;
  vma.mm.locked_vm += (end - start) / PAGE_SIZE;
  if (vma.flags & VM_LOCKONFAULT) return;
  populate_vma_page_range(m, vma, start, end);
  mlock_vma_pages_range(m, vma, start, end);
}

/**
 * move_vma(): a new VMA at `to` (same flags, file offset and anon_vma), the page-table entries of
 * [from, from + oldLen) moved into it (move_page_tables(): PMD and PUD leaves whole when source and
 * target are aligned for them, split otherwise), then the old range unmapped (its entries are gone,
 * so no page is freed) or, with MREMAP_DONTUNMAP, left mapped and empty and no longer mlocked.
 */
function move_vma(
  m: Machine,
  p: Process,
  vma: Vma,
  from: number,
  oldLen: number,
  to: number,
  newLen: number,
  dontunmap: boolean,
): number {
  const mm = p.mm;
  if (vma.start < from) vma = split_vma(m, vma, from);
  if (vma.end > from + oldLen) split_vma(m, vma, from + oldLen);
  const moved = new Vma(mm, to, to + newLen, vma.flags, vma.kind, vma.file, vma.pgoff, vma.hugeOrder, vma.name);
  moved.anonVma = vma.anonVma;
  moved.anonChain.push(...vma.anonChain);
  for (const av of vma.anonChain) av.vmas.add(moved);
  if (vma.file) {
    vma.file.vmas.add(moved);
    vma.file.users++;
  }
  mm.insertVma(moved);
  m.mmuNotify(mm, from, from + oldLen, 'unmap');
  move_page_tables(m, vma, from, to, Math.min(oldLen, newLen));
  // The new VMA's mlocked pages count again below; the old VMA's leave with it (or are unlocked).
  if (moved.flags & VM_LOCKED) mm.locked_vm += newLen / PAGE_SIZE;
  if (dontunmap) {
    // dontunmap_complete(): the old VMA is kept, empty and no longer locked.
    if (vma.flags & VM_LOCKED) mm.locked_vm -= vma.pages;
    vma.flags &= ~(VM_LOCKED | VM_LOCKONFAULT);
  } else {
    do_munmap(m, p, from, oldLen);
  }
  if (newLen > oldLen && moved.flags & VM_LOCKED && !(moved.flags & VM_LOCKONFAULT)) {
    populate_vma_page_range(m, moved, to + oldLen, to + newLen);
    mlock_vma_pages_range(m, moved, to + oldLen, to + newLen);
  }
  return to;
}

/** move_page_tables(): carry every entry of [from, from + len) to [to, to + len). */
function move_page_tables(m: Machine, vma: Vma, from: number, to: number, len: number): void {
  const pt = vma.mm.pt;
  for (let off = 0; off < len;) {
    const old = from + off;
    const nu = to + off;
    const pud = pt.pudLeaf(old);
    if (pud) {
      // move_pgt_entry(HPAGE_PUD): hugetlb 1G entries move whole (mremap keeps hugetlb aligned).
      pt.setPudLeaf(old, 0);
      pt.setPudLeaf(nu, pud);
      off += PUD_SIZE;
      continue;
    }
    const slot = pt.pmdSlot(old);
    const toPmdEnd = PMD_SIZE - (old % PMD_SIZE);
    if (typeof slot === 'number') {
      if (old % PMD_SIZE === 0 && nu % PMD_SIZE === 0 && len - off >= PMD_SIZE) {
        pt.setPmdLeaf(old, 0);
        pt.setPmdLeaf(nu, slot);
        off += PMD_SIZE;
        continue;
      }
      // Not aligned for the PMD: split it (__split_huge_pmd()) and move its PTEs.
      __split_huge_pmd(m, vma, old - (old % PMD_SIZE));
      continue;
    }
    if (!slot) {
      off += Math.min(toPmdEnd, len - off);
      continue;
    }
    // move_ptes(): entry by entry, keeping every bit (dirty, write, soft state).
    const n = Math.min(toPmdEnd, len - off) / PAGE_SIZE;
    for (let i = 0; i < n; i++) {
      const e = slot[pte_index(old + i * PAGE_SIZE)]!;
      if (!e) continue;
      slot[pte_index(old + i * PAGE_SIZE)] = 0;
      pt.pte_alloc(nu + i * PAGE_SIZE)![pte_index(nu + i * PAGE_SIZE)] = e;
    }
    off += n * PAGE_SIZE;
  }
  pt.freeEmptyTables(from, from + len);
}
