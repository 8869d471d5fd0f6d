// Models the memory syscalls of mm/mmap.c, mm/vma.c, mm/mprotect.c and mm/madvise.c: mmap with
// top-down placement (THP-aligned for anonymous mappings of whole PMDs), VMA splitting, munmap,
// mprotect, madvise, MAP_POPULATE, and exit_mmap.

import type { Machine } from './machine.js';
import type { Process } from './task.js';
import { EINVAL, ENOMEM, EFAULT } from '../uapi/errno.js';
import { PAGE_SIZE, PMD_SIZE, PMD_ORDER, PUD_ORDER, pageAlignUp } from './memmap.js';
import {
  MmStruct,
  Vma,
  type VmaKind,
  type Prot,
  protFlags,
  VM_WRITE,
  VM_SHARED,
  VM_MAYREAD,
  VM_MAYWRITE,
  VM_MAYEXEC,
  VM_MAYSHARE,
  VM_IO,
  VM_PFNMAP,
  VM_HUGETLB,
  VM_ACCOUNT,
  VM_LOCKED,
  VM_NORESERVE,
  FAULT_FLAG_WRITE,
  VM_FAULT_ERROR,
  VM_FAULT_OOM,
} from './mm_types.js';
import { AddressSpace, type FsKind } from './fs.js';
import { zap_page_range_single, handle_mm_fault } from './memory.js';
import { mk_pte, pte_index, _PAGE_SPECIAL, _PAGE_RW } from './pgtable.js';
import { __split_huge_pmd } from './huge_memory.js';
import { truncate_inode_pages } from './truncate.js';
import { mlock_vma_pages_range } from './mlock_folio.js';
import { hugetlb_reserve_pages, hugetlb_vm_op_close, hugetlb_vm_op_open } from './hugetlb_resv.js';
import { lru_add_drain } from './swap.js';

export type MmapType = 'anon' | 'shmem' | 'memfd' | 'file' | 'hugetlb' | 'fsdax' | 'pfnmap';

export interface MmapArgs {
  size: number;
  type: MmapType;
  shared?: boolean;
  /** The file to map (type file or fsdax); fsdax without one gets a fresh file on the pmem. */
  file?: AddressSpace;
  /** File offset in bytes. */
  offset?: number;
  /** PROT_READ|PROT_WRITE (default), PROT_READ or PROT_NONE. */
  prot?: Prot;
  /** Alignment of the start address in bytes (a power of two). */
  align?: number;
  /** hugetlb page order (9: 2 MiB, 18: 1 GiB). */
  hugeOrder?: number;
  populate?: boolean;
  /** MAP_NORESERVE: VM_NORESERVE (no hugetlb reservation, no commit charge). */
  noreserve?: boolean;
  name?: string;
}

/** Result of a syscall-like model call: a value or a negative errno. */
export type SysResult = number;

/**
 * A free page kept between mappings. gupsim places every mmap apart from its neighbours (as the live
 * probe does with guard pages), so two scenario regions never merge into one VMA: a region's THP
 * eligibility and fault-around window depend on it alone. Pieces of one mapping (split by
 * mprotect/madvise) still merge back as the kernel's do.
 */
const MMAP_GAP = PAGE_SIZE;

/** get_unmapped_area(): top-down below mmap_base, aligned. */
export function get_unmapped_area(mm: MmStruct, len: number, align: number): number {
  let top = mm.mmap_base;
  for (let i = mm.vmas.length - 1; i >= -1; i--) {
    const below = i >= 0 ? mm.vmas[i]!.end + MMAP_GAP : 0x10000;
    let start = top - len;
    start -= start % align;
    if (start >= below) return start;
    if (i >= 0) top = Math.min(top, mm.vmas[i]!.start - MMAP_GAP);
  }
  return -ENOMEM;
}

/**
 * do_mmap(): map a new region. Returns its address or -errno:
 * -EINVAL for a zero length or a bad file offset, -ENOMEM when no address space or hugetlb pool
 * reservation is left (hugetlb_reserve_pages(), unless MAP_NORESERVE).
 */
export function do_mmap(m: Machine, p: Process, a: MmapArgs): SysResult {
  const mm = p.mm;
  const type = a.type;
  const shared = a.shared ?? type !== 'anon';
  const hugeOrder = type === 'hugetlb' ? (a.hugeOrder ?? PMD_ORDER) : 0;
  const unit = PAGE_SIZE << hugeOrder;
  if (!(a.size > 0)) return m.refuse(-EINVAL, 'do_mmap', 'the length is 0');
  const len = pageAlignUp(a.size, unit);
  const offset = a.offset ?? 0;
  if (offset % unit !== 0)
    return m.refuse(-EINVAL, 'do_mmap', `the file offset is not a multiple of the page size (${unit} bytes)`);
  let kind: VmaKind;
  let file: AddressSpace | undefined;
  const pages = len / PAGE_SIZE;
  const fileName = a.name ?? 'anon';
  switch (type) {
    case 'anon':
      kind = shared ? 'shmem' : 'anon';
      if (shared) file = unlinkedFile(m, 'tmpfs', `/dev/zero (deleted)`, pages);
      break;
    case 'shmem':
      kind = 'shmem';
      file = unlinkedFile(m, 'tmpfs', `/dev/zero (deleted)`, pages);
      break;
    case 'memfd':
      kind = 'shmem';
      file = unlinkedFile(m, 'tmpfs', `/memfd:${fileName} (deleted)`, pages);
      break;
    case 'file':
      if (!a.file) return m.refuse(-EINVAL, 'do_mmap', 'a file mapping needs a file');
      kind = 'file';
      file = a.file;
      break;
    case 'fsdax':
      kind = 'fsdax';
      file = a.file ?? unlinkedFile(m, 'dax', `/mnt/pmem/${fileName}`, pages + offset / PAGE_SIZE);
      if (file.fs !== 'dax') return m.refuse(-EINVAL, 'gupsim', 'type fsdax needs a file on fs: dax');
      break;
    case 'hugetlb':
      kind = 'hugetlb';
      if (hugeOrder !== PMD_ORDER && hugeOrder !== PUD_ORDER)
        return m.refuse(-EINVAL, 'ksys_mmap_pgoff', 'no hstate of that huge page size');
      // ksys_mmap_pgoff(): MAP_HUGETLB with a file that is not on hugetlbfs is -EINVAL.
      if (a.file && a.file.fs !== 'hugetlbfs')
        return m.refuse(-EINVAL, 'ksys_mmap_pgoff', 'MAP_HUGETLB with a file that is not on hugetlbfs');
      file = a.file ?? unlinkedFile(m, 'hugetlbfs', `/anon_hugepage (deleted)`, pages, hugeOrder);
      break;
    case 'pfnmap':
      kind = 'pfnmap';
      break;
  }
  let flags = protFlags(a.prot ?? 'rw') | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC;
  if (shared) flags |= VM_SHARED | VM_MAYSHARE;
  if (kind === 'hugetlb') flags |= VM_HUGETLB;
  if (kind === 'pfnmap') flags |= VM_IO | VM_PFNMAP;
  // do_mmap(): MAP_NORESERVE sets VM_NORESERVE (always for hugetlbfs, else unless overcommit is never).
  if (a.noreserve) flags |= VM_NORESERVE;
  else if (kind === 'anon' || (kind === 'shmem' && !shared)) flags |= VM_ACCOUNT;
  let align = Math.max(a.align ?? PAGE_SIZE, unit);
  // __get_unmapped_area(): anonymous mappings of whole PMDs are THP-aligned (6.7+; not 6.1).
  if (kind === 'anon' && len % PMD_SIZE === 0 && m.profile.anonThpAlign) align = Math.max(align, PMD_SIZE);
  const addr = get_unmapped_area(mm, len, align);
  if (addr < 0) return addr;
  const pgoff = kind === 'anon' ? addr / PAGE_SIZE : offset / PAGE_SIZE;
  const vma = new Vma(mm, addr, addr + len, flags, kind, file, pgoff, hugeOrder, a.name ?? '');
  if (kind === 'hugetlb') {
    // hugetlbfs_file_mmap(): reserve the mapping's huge pages (per mapping if private, per inode if shared).
    const from = offset / unit;
    const r = hugetlb_reserve_pages(m, file!, from, from + len / unit, vma, flags);
    if (r < 0) return r;
  }
  if (file && file.sizePages < pgoff + pages && (file.unlinked || file.fs === 'dax')) file.resize(pgoff + pages);
  mm.insertVma(vma);
  if (file) {
    file.vmas.add(vma);
    file.users++;
  }
  if (kind === 'pfnmap') {
    // remap_pfn_range(): special PTEs with no struct page behind them, made with vma->vm_page_prot
    // (writable for a shared PROT_WRITE mapping: a device BAR the CPU and VFIO can write).
    const bits = _PAGE_SPECIAL | (flags & VM_WRITE ? _PAGE_RW : 0);
    for (let x = addr; x < addr + len; x += PAGE_SIZE) mm.pt.pte_alloc(x)![pte_index(x)] = mk_pte(0, bits);
  }
  if (a.populate) populate_vma_page_range(m, vma, addr, addr + len);
  return addr;
}

function unlinkedFile(m: Machine, fs: FsKind, name: string, pages: number, hugeOrder = 0): AddressSpace {
  const f = m.newFile(fs, name, pages, hugeOrder);
  f.unlinked = true;
  return f;
}

/**
 * populate_vma_page_range(): fault every page in; private writable mappings get write faults.
 * Returns 0 or -errno (-ENOMEM on OOM, -EFAULT otherwise).
 */
export function populate_vma_page_range(
  m: Machine,
  vma: Vma,
  start: number,
  end: number,
  forceWrite?: boolean,
): number {
  const write = forceWrite ?? (vma.flags & (VM_WRITE | VM_SHARED)) === VM_WRITE;
  const step = vma.kind === 'hugetlb' ? PAGE_SIZE << vma.hugeOrder : PAGE_SIZE;
  for (let a = start; a < end; a += step) {
    const r = handle_mm_fault(m, vma, a, write ? FAULT_FLAG_WRITE : 0);
    if (r & VM_FAULT_ERROR) return r & VM_FAULT_OOM ? -ENOMEM : -EFAULT;
    if (vma.kind !== 'hugetlb' && vma.mm.pt.pmdLeaf(a)) {
      a = a - (a % PMD_SIZE) + PMD_SIZE - step;
    }
  }
  lru_add_drain(m);
  return 0;
}

/** __split_vma(): cut vma at addr; the upper part becomes a new VMA. */
export function split_vma(m: Machine, vma: Vma, addr: number): Vma {
  const mm = vma.mm;
  const upper = new Vma(
    mm,
    addr,
    vma.end,
    vma.flags,
    vma.kind,
    vma.file,
    vma.pgoff + (addr - vma.start) / PAGE_SIZE,
    vma.hugeOrder,
    vma.name,
  );
  upper.anonVma = vma.anonVma;
  upper.anonChain.push(...vma.anonChain);
  for (const av of vma.anonChain) av.vmas.add(upper);
  if (vma.file) {
    vma.file.vmas.add(upper);
    vma.file.users++;
  }
  // vm_area_dup() + hugetlb_vm_op_open(): both pieces share the owner's reserve map.
  if (vma.kind === 'hugetlb') hugetlb_vm_op_open(upper, vma);
  // A PMD leaf straddling the cut must be split first (anon THP) or unmapped (file THP).
  if (addr % PMD_SIZE !== 0 && vma.kind !== 'hugetlb' && mm.pt.pmdLeaf(addr))
    __split_huge_pmd(m, vma, addr - (addr % PMD_SIZE));
  vma.end = addr;
  mm.insertVma(upper);
  return upper;
}

/**
 * Whether two adjacent VMAs can become one (is_mergeable_vma() + is_mergeable_anon_vma()): same
 * flags, backing and file, contiguous file offsets, and the same anon_vma (or one side without any,
 * the other's chain singular). VM_PFNMAP/VM_IO (VM_SPECIAL) and, in the model, hugetlb never merge.
 */
function canVmaMerge(a: Vma, b: Vma): boolean {
  if (a.end !== b.start || a.mm !== b.mm) return false;
  if (a.flags !== b.flags || a.kind !== b.kind || a.file !== b.file || a.hugeOrder !== b.hugeOrder) return false;
  if (a.kind === 'pfnmap' || a.kind === 'hugetlb') return false;
  if (a.pgoff + a.pages !== b.pgoff) return false;
  if (a.anonVma === b.anonVma)
    return a.anonChain.length === b.anonChain.length && a.anonChain.every((x, i) => x === b.anonChain[i]);
  if (!a.anonVma) return b.anonChain.length === 1;
  if (!b.anonVma) return a.anonChain.length === 1;
  return false;
}

/** Fold `next` into `prev` (they are adjacent and mergeable). */
function vmaFold(m: Machine, prev: Vma, next: Vma): void {
  const mm = prev.mm;
  if (!prev.anonVma && next.anonVma) {
    prev.anonVma = next.anonVma;
    prev.anonChain.push(...next.anonChain);
    for (const av of next.anonChain) av.vmas.add(prev);
  }
  for (const av of next.anonChain) av.vmas.delete(next);
  prev.end = next.end;
  mm.vmas = mm.vmas.filter((v) => v !== next);
  if (next.file) {
    next.file.vmas.delete(next);
    fput(m, next.file);
  }
}

/**
 * vma_merge_existing_range() / vma_merge_new_range(): after a VMA got new flags, or was created,
 * merge it with compatible neighbours, as the kernel does. Returns the VMA that now covers it.
 */
export function vmaMergeNeighbours(m: Machine, vma: Vma): Vma {
  const mm = vma.mm;
  let i = mm.vmas.indexOf(vma);
  const next = mm.vmas[i + 1];
  if (next && canVmaMerge(vma, next)) vmaFold(m, vma, next);
  i = mm.vmas.indexOf(vma);
  const prev = i > 0 ? mm.vmas[i - 1] : undefined;
  if (prev && canVmaMerge(prev, vma)) {
    vmaFold(m, prev, vma);
    return prev;
  }
  return vma;
}

/** The VMAs covering [start, end), split so that each lies wholly inside. -ENOMEM if a hole. */
function vmasInRange(m: Machine, mm: MmStruct, start: number, end: number, allowHoles: boolean): Vma[] | number {
  const out: Vma[] = [];
  let cursor = start;
  for (const v of [...mm.vmas]) {
    if (v.end <= start || v.start >= end) continue;
    if (v.start > cursor && !allowHoles) return -ENOMEM;
    let vma = v;
    if (vma.start < start) vma = split_vma(m, vma, start);
    if (vma.end > end) split_vma(m, vma, end);
    out.push(vma);
    cursor = vma.end;
  }
  if (!allowHoles && cursor < end) return -ENOMEM;
  return out;
}

/** The common range check of munmap/mprotect/madvise: page-aligned start, non-zero length. */
function checkRange(start: number, len: number): number {
  return start % PAGE_SIZE !== 0 || !(len > 0) ? -EINVAL : 0;
}

/** Hugetlb VMAs can only be cut at huge-page boundaries. */
function hugetlbAligned(mm: MmStruct, start: number, end: number): boolean {
  for (const v of mm.vmas) {
    if (v.kind !== 'hugetlb' || v.end <= start || v.start >= end) continue;
    const unit = PAGE_SIZE << v.hugeOrder;
    if ((start > v.start && start % unit) || (end < v.end && end % unit)) return false;
  }
  return true;
}

/** Remove a VMA entirely from its mm and the rmap. */
function removeVma(m: Machine, vma: Vma): void {
  const mm = vma.mm;
  if (vma.flags & VM_LOCKED) {
    // Unmapping from a VM_LOCKED VMA munlocks the folios (munlock_vma_folio() in the rmap removal),
    // and the VMA's pages leave mm->locked_vm (vms_complete_munmap_vmas()).
    mlock_vma_pages_range(m, vma, vma.start, vma.end, false);
    mm.locked_vm -= vma.pages;
  }
  zap_page_range_single(m, vma, vma.start, vma.end);
  mm.vmas = mm.vmas.filter((v) => v !== vma);
  for (const av of vma.anonChain) av.vmas.delete(vma);
  // vm_ops->close: the reservations faults did not consume go back.
  if (vma.kind === 'hugetlb') hugetlb_vm_op_close(m, vma);
  if (vma.file) {
    vma.file.vmas.delete(vma);
    fput(m, vma.file);
  }
}

/** Drop a file reference; an unlinked file (shmem, memfd, anon hugetlb) is truncated at the last one. */
export function fput(m: Machine, file: AddressSpace): void {
  file.users--;
  if (file.users > 0 || !file.unlinked) return;
  truncate_inode_pages(m, file);
}

/** do_munmap(): -EINVAL for an unaligned start, a zero length or a cut inside a huge page. */
export function do_munmap(m: Machine, p: Process, start: number, len: number): SysResult {
  const mm = p.mm;
  const err = checkRange(start, len);
  if (err) return m.refuse(err, 'do_vmi_munmap', 'the start is not page aligned, or the length is 0');
  const end = start + pageAlignUp(len);
  if (!hugetlbAligned(mm, start, end))
    return m.refuse(-EINVAL, 'hugetlb_vm_op_split', 'the range cuts a hugetlb page (not huge-page aligned)');
  const list = vmasInRange(m, mm, start, end, true) as Vma[];
  for (const v of list) removeVma(m, v);
  return 0;
}

/**
 * exit_mmap(): tear down every mapping of an exiting process. It starts with lru_add_drain(); the
 * kernel skips everything for an mm without VMAs, which a real process never is (its text and stack).
 */
export function exit_mmap(m: Machine, mm: MmStruct): void {
  lru_add_drain(m);
  for (const v of [...mm.vmas]) removeVma(m, v);
  mm.users = 0;
}
