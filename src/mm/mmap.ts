// Models the memory syscalls of mm/mmap.c, mm/vma.c, mm/mprotect.c and mm/madvise.c: mmap with
// top-down placement (THP-aligned for anonymous mappings of whole PMDs), VMA splitting, munmap,
// mprotect, madvise, MAP_POPULATE, and exit_mmap.

import type { Machine, Process } from '../kernel/machine.js';
import { EINVAL, ENOMEM, EFAULT, EINTR, EHWPOISON } from '../kernel/errno.js';
import { PAGE_SIZE, PMD_SIZE, PMD_ORDER, PUD_ORDER } from './memmap.js';
import {
  MmStruct, Vma, type VmaKind, VM_READ, VM_WRITE, VM_SHARED, VM_MAYREAD, VM_MAYWRITE, VM_MAYEXEC,
  VM_MAYSHARE, VM_IO, VM_PFNMAP, VM_HUGETLB, VM_HUGEPAGE, VM_NOHUGEPAGE, VM_DONTCOPY, VM_ACCOUNT, VM_LOCKED,
} from './mm_types.js';
import { AddressSpace, type FsKind } from './filemap.js';
import { zap_page_range, handle_mm_fault, FAULT_FLAG_WRITE, VM_FAULT_ERROR, VM_FAULT_OOM, remove_from_page_cache } from './memory.js';
import { mk_pte, pte_wrprotect, pte_mkwrite, pte_present, pte_write, pte_dirty, pte_special, pte_pfn, _PAGE_SPECIAL, _PAGE_RW } from './pgtable.js';
import { __split_huge_pmd } from './huge_memory.js';
import { collapse_pte_mapped_range } from './khugepaged.js';
import { faultin_page_range } from './gup.js';

export type MmapType = 'anon' | 'shmem' | 'memfd' | 'file' | 'hugetlb' | 'fsdax' | 'pfnmap';

export interface MmapArgs {
  size: number;
  type: MmapType;
  shared?: boolean;
  /** The file to map (type file or fsdax); fsdax without one gets a fresh file on the pmem. */
  file?: AddressSpace;
  /** File offset in bytes. */
  offset?: number;
  /** Only 'r' or 'rw'. */
  prot?: 'r' | 'rw';
  /** Alignment of the start address in bytes (a power of two). */
  align?: number;
  /** hugetlb page order (9: 2 MiB, 18: 1 GiB). */
  hugeOrder?: number;
  populate?: boolean;
  name?: string;
}

/** Result of a syscall-like model call: a value or a negative errno. */
export type SysResult = number;

function pageAlignUp(n: number, a = PAGE_SIZE): number {
  return Math.ceil(n / a) * a;
}

/**
 * A free page kept between mappings. gupsim places every mmap apart from its neighbours (as the live
 * probe does with guard pages), so two scenario regions never merge into one VMA: a region's THP
 * eligibility and fault-around window depend on it alone. Pieces of one mapping (split by
 * mprotect/madvise) still merge back as the kernel's do.
 */
const MMAP_GAP = PAGE_SIZE;

/** get_unmapped_area(): top-down below mmap_base, aligned. */
function get_unmapped_area(mm: MmStruct, len: number, align: number): number {
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
 * reservation is left.
 */
export function do_mmap(m: Machine, p: Process, a: MmapArgs): SysResult {
  const mm = p.mm;
  const type = a.type;
  const shared = a.shared ?? type !== 'anon';
  const hugeOrder = type === 'hugetlb' ? a.hugeOrder ?? PMD_ORDER : 0;
  const unit = PAGE_SIZE << hugeOrder;
  if (!(a.size > 0)) return -EINVAL;
  const len = pageAlignUp(a.size, unit);
  const offset = a.offset ?? 0;
  if (offset % unit !== 0) return -EINVAL;
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
      if (!a.file) return -EINVAL;
      kind = 'file';
      file = a.file;
      break;
    case 'fsdax':
      kind = 'fsdax';
      file = a.file ?? unlinkedFile(m, 'dax', `/mnt/pmem/${fileName}`, pages + offset / PAGE_SIZE);
      if (file.fs !== 'dax') return -EINVAL;
      break;
    case 'hugetlb':
      kind = 'hugetlb';
      if (hugeOrder !== PMD_ORDER && hugeOrder !== PUD_ORDER) return -EINVAL;
      file = a.file ?? unlinkedFile(m, 'hugetlbfs', `/anon_hugepage (deleted)`, pages, hugeOrder);
      break;
    case 'pfnmap':
      kind = 'pfnmap';
      break;
  }
  let flags = VM_READ | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC;
  if ((a.prot ?? 'rw') === 'rw') flags |= VM_WRITE;
  if (shared) flags |= VM_SHARED | VM_MAYSHARE;
  if (kind === 'hugetlb') flags |= VM_HUGETLB;
  if (kind === 'pfnmap') flags |= VM_IO | VM_PFNMAP;
  if (kind === 'anon' || (kind === 'shmem' && !shared)) flags |= VM_ACCOUNT;
  let align = Math.max(a.align ?? PAGE_SIZE, unit);
  // __get_unmapped_area(): anonymous mappings of whole PMDs are THP-aligned (6.7+).
  if (kind === 'anon' && len % PMD_SIZE === 0) align = Math.max(align, PMD_SIZE);
  const addr = get_unmapped_area(mm, len, align);
  if (addr < 0) return addr;
  if (kind === 'hugetlb' && !m.hugetlb.reserve(hugeOrder, len / unit)) return m.refuse(-ENOMEM, 'hugetlb_reserve_pages', 'not enough free huge pages in the pool to reserve for this mapping');
  const pgoff = kind === 'anon' ? addr / PAGE_SIZE : offset / PAGE_SIZE;
  if (file && file.sizePages < pgoff + pages && (file.unlinked || file.fs === 'dax')) file.resize(pgoff + pages);
  const vma = new Vma(mm, addr, addr + len, flags, kind, file, pgoff, hugeOrder, a.name ?? '');
  if (kind === 'hugetlb') vmaHugetlbResv.set(vma, len / unit);
  mm.insert_vma(vma);
  if (file) {
    file.vmas.add(vma);
    file.users++;
  }
  if (kind === 'pfnmap') {
    // remap_pfn_range(): special PTEs with no struct page behind them, made with vma->vm_page_prot
    // (writable for a shared PROT_WRITE mapping: a device BAR the CPU and VFIO can write).
    const bits = _PAGE_SPECIAL | (flags & VM_WRITE ? _PAGE_RW : 0);
    for (let x = addr; x < addr + len; x += PAGE_SIZE) mm.pt.pte_alloc(x)![(x / PAGE_SIZE) % 512] = mk_pte(0, bits);
  }
  if (a.populate) populate_vma_page_range(m, vma, addr, addr + len);
  return addr;
}

/** Reservations still held by each hugetlb VMA (released at unmap). */
const vmaHugetlbResv = new WeakMap<Vma, number>();

function unlinkedFile(m: Machine, fs: FsKind, name: string, pages: number, hugeOrder = 0): AddressSpace {
  const f = m.newFile(fs, name, pages, hugeOrder);
  f.unlinked = true;
  return f;
}

/**
 * populate_vma_page_range(): fault every page in; private writable mappings get write faults.
 * Returns 0 or -errno (-ENOMEM on OOM, -EFAULT otherwise).
 */
export function populate_vma_page_range(m: Machine, vma: Vma, start: number, end: number, forceWrite?: boolean): number {
  const write = forceWrite ?? (vma.flags & (VM_WRITE | VM_SHARED)) === VM_WRITE;
  const step = vma.kind === 'hugetlb' ? PAGE_SIZE << vma.hugeOrder : PAGE_SIZE;
  for (let a = start; a < end; a += step) {
    const r = handle_mm_fault(m, vma, a, write ? FAULT_FLAG_WRITE : 0);
    if (r & VM_FAULT_ERROR) return r & VM_FAULT_OOM ? -ENOMEM : -EFAULT;
    if (vma.kind !== 'hugetlb' && vma.mm.pt.pmd_leaf(a)) {
      a = a - (a % PMD_SIZE) + PMD_SIZE - step;
    }
  }
  return 0;
}

/** __split_vma(): cut vma at addr; the upper part becomes a new VMA. */
export function split_vma(m: Machine, vma: Vma, addr: number): Vma {
  const mm = vma.mm;
  const upper = new Vma(mm, addr, vma.end, vma.flags, vma.kind, vma.file,
    vma.pgoff + (addr - vma.start) / PAGE_SIZE, vma.hugeOrder, vma.name);
  upper.anonVma = vma.anonVma;
  upper.anonChain.push(...vma.anonChain);
  for (const av of vma.anonChain) av.vmas.add(upper);
  if (vma.file) {
    vma.file.vmas.add(upper);
    vma.file.users++;
  }
  const resv = vmaHugetlbResv.get(vma);
  if (resv !== undefined) {
    const unit = PAGE_SIZE << vma.hugeOrder;
    const lowerShare = Math.min(resv, (addr - vma.start) / unit);
    vmaHugetlbResv.set(vma, lowerShare);
    vmaHugetlbResv.set(upper, resv - lowerShare);
  }
  // A PMD leaf straddling the cut must be split first (anon THP) or unmapped (file THP).
  if (addr % PMD_SIZE !== 0 && vma.kind !== 'hugetlb' && mm.pt.pmd_leaf(addr)) __split_huge_pmd(m, vma, addr - (addr % PMD_SIZE));
  vma.end = addr;
  mm.insert_vma(upper);
  return upper;
}

/**
 * Whether two adjacent VMAs can become one (is_mergeable_vma() + is_mergeable_anon_vma()): same
 * flags, backing and file, contiguous file offsets, and the same anon_vma (or one side without any,
 * the other's chain singular). VM_PFNMAP/VM_IO (VM_SPECIAL) and, in the model, hugetlb never merge.
 */
function can_vma_merge(a: Vma, b: Vma): boolean {
  if (a.end !== b.start || a.mm !== b.mm) return false;
  if (a.flags !== b.flags || a.kind !== b.kind || a.file !== b.file || a.hugeOrder !== b.hugeOrder) return false;
  if (a.kind === 'pfnmap' || a.kind === 'hugetlb') return false;
  if (a.pgoff + a.pages !== b.pgoff) return false;
  if (a.anonVma === b.anonVma) return a.anonChain.length === b.anonChain.length && a.anonChain.every((x, i) => x === b.anonChain[i]);
  if (!a.anonVma) return b.anonChain.length === 1;
  if (!b.anonVma) return a.anonChain.length === 1;
  return false;
}

/** Fold `next` into `prev` (they are adjacent and mergeable). */
function vma_fold(m: Machine, prev: Vma, next: Vma): void {
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
export function vma_merge_neighbours(m: Machine, vma: Vma): Vma {
  const mm = vma.mm;
  let i = mm.vmas.indexOf(vma);
  const next = mm.vmas[i + 1];
  if (next && can_vma_merge(vma, next)) vma_fold(m, vma, next);
  i = mm.vmas.indexOf(vma);
  const prev = i > 0 ? mm.vmas[i - 1] : undefined;
  if (prev && can_vma_merge(prev, vma)) {
    vma_fold(m, prev, vma);
    return prev;
  }
  return vma;
}

/** The VMAs covering [start, end), split so that each lies wholly inside. -ENOMEM if a hole. */
function vmas_in_range(m: Machine, mm: MmStruct, start: number, end: number, allowHoles: boolean): Vma[] | number {
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
function remove_vma(m: Machine, vma: Vma): void {
  zap_page_range(m, vma, vma.start, vma.end);
  const mm = vma.mm;
  mm.vmas = mm.vmas.filter((v) => v !== vma);
  for (const av of vma.anonChain) av.vmas.delete(vma);
  const resv = vmaHugetlbResv.get(vma);
  if (resv) m.hugetlb.unreserve(vma.hugeOrder, resv);
  vmaHugetlbResv.delete(vma);
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

/** truncate_inode_pages(): drop every page-cache folio of a file (pinned ones live on until unpinned). */
export function truncate_inode_pages(m: Machine, file: AddressSpace): void {
  for (let i = 0; i < file.sizePages; i++) {
    const pfn = file.pages[i]!;
    if (pfn < 0) continue;
    const folio = m.mem.page_folio(pfn);
    remove_from_page_cache(m, folio);
  }
}

/** do_munmap(): -EINVAL for an unaligned start, a zero length or a cut inside a huge page. */
export function do_munmap(m: Machine, p: Process, start: number, len: number): SysResult {
  const mm = p.mm;
  const err = checkRange(start, len);
  if (err) return err;
  const end = start + pageAlignUp(len);
  if (!hugetlbAligned(mm, start, end)) return -EINVAL;
  const list = vmas_in_range(m, mm, start, end, true) as Vma[];
  for (const v of list) remove_vma(m, v);
  return 0;
}

/**
 * mprotect(): change VM_WRITE. -EINVAL for an unaligned start (or a cut inside a hugetlb page);
 * a zero length is a no-op (0). Like do_mprotect_pkey(), the VMAs are changed one by one: -ENOMEM
 * when the first one does not start at or below `start` (nothing changed), or when a hole follows
 * (the VMAs before the hole keep their new protection). A VMA whose flags do not change is not split
 * (mprotect_fixup()).
 */
export function do_mprotect(m: Machine, p: Process, start: number, len: number, prot: 'r' | 'rw'): SysResult {
  const mm = p.mm;
  if (start % PAGE_SIZE !== 0) return -EINVAL;
  if (!len) return 0;
  if (!(len > 0)) return -ENOMEM;
  const end = start + pageAlignUp(len);
  const first = mm.vmas.find((v) => v.end > start && v.start < end);
  if (!first || first.start > start) return -ENOMEM;
  let tmp = first.start;
  let nstart = start;
  for (let vma = first as Vma | undefined; vma && vma.start < end; vma = mm.vmas.find((v) => v.end > nstart && v.start < end)) {
    // A gap is a hole (-ENOMEM); a VMA starting below tmp was just merged with the previous piece.
    if (vma.start > tmp) return -ENOMEM;
    tmp = Math.min(vma.end, end);
    const newflags = prot === 'rw' ? vma.flags | VM_WRITE : vma.flags & ~VM_WRITE;
    if (newflags !== vma.flags) {
      // vma_modify_flags() -> __split_vma(): hugetlb_vm_op_split() refuses a cut inside a huge page.
      if (vma.kind === 'hugetlb') {
        const unit = PAGE_SIZE << vma.hugeOrder;
        if ((nstart > vma.start && nstart % unit) || (tmp < vma.end && tmp % unit)) return -EINVAL;
      }
      if (vma.start < nstart) vma = split_vma(m, vma, nstart);
      if (vma.end > tmp) split_vma(m, vma, tmp);
      const wasWritable = (vma.flags & VM_WRITE) !== 0;
      vma.flags = newflags;
      if (!(newflags & VM_WRITE)) {
        m.mmu_notify(mm, vma.start, vma.end, 'protection');
        change_protection_wrprotect(vma);
      } else if (!wasWritable) {
        change_protection_try_writable(m, vma);
      }
      vma_merge_neighbours(m, vma);
    }
    nstart = tmp;
    if (nstart >= end) break;
  }
  return tmp < end ? -ENOMEM : 0;
}

/**
 * change_protection() with MM_CP_TRY_CHANGE_WRITABLE when mprotect() adds PROT_WRITE: present entries
 * are made writable right away where the write fault would do nothing else. Private mappings: only
 * exclusive anon pages (can_change_private_pte_writable(), can_change_pmd_writable(); private hugetlb
 * keeps its read-only COW protection). Shared mappings: vm_page_prot is writable without writenotify
 * (every entry), with writenotify only dirty entries (can_change_shared_pte_writable()).
 * @see mm/mprotect.c change_pte_range(), set_write_prot_commit_flush_ptes(), change_huge_pmd()
 */
function change_protection_try_writable(m: Machine, vma: Vma): void {
  const pt = vma.mm.pt;
  const shared = (vma.flags & VM_SHARED) !== 0;
  if (!shared && vma.kind === 'hugetlb') return;
  const writenotify = shared && !!vma.file?.needsDirtyTracking;
  const upgrade = (e: number): number => {
    if (!pte_present(e) || pte_write(e)) return e;
    if (shared) return !writenotify || pte_dirty(e) ? pte_mkwrite(e) : e;
    // vm_normal_page(): none for the zero page or a PFN map; a PMD leaf is checked on its head page.
    if (pte_special(e)) return e;
    const page = pte_pfn(e);
    if (!m.mem.folio_test_anon(m.mem.page_folio(page)) || !m.mem.PageAnonExclusive(page)) return e;
    return pte_mkwrite(e);
  };
  for (let a = vma.start; a < vma.end;) {
    const pud = pt.pud_leaf(a);
    if (pud) { pt.set_pud_leaf(a, upgrade(pud)); a = a - (a % (PAGE_SIZE << PUD_ORDER)) + (PAGE_SIZE << PUD_ORDER); continue; }
    const slot = pt.pmd_slot(a);
    const next = a - (a % PMD_SIZE) + PMD_SIZE;
    if (typeof slot === 'number') pt.set_pmd_leaf(a, upgrade(slot));
    else if (slot) {
      for (let x = a; x < Math.min(next, vma.end); x += PAGE_SIZE) {
        const i = (x / PAGE_SIZE) % 512;
        slot[i] = upgrade(slot[i]!);
      }
    }
    a = next;
  }
}

/** change_protection(): clear the write bit of every entry in the VMA. */
function change_protection_wrprotect(vma: Vma): void {
  const pt = vma.mm.pt;
  for (let a = vma.start; a < vma.end;) {
    const pud = pt.pud_leaf(a);
    if (pud) { pt.set_pud_leaf(a, pte_wrprotect(pud)); a += PAGE_SIZE << PUD_ORDER; continue; }
    const slot = pt.pmd_slot(a);
    const next = a - (a % PMD_SIZE) + PMD_SIZE;
    if (typeof slot === 'number') pt.set_pmd_leaf(a, pte_wrprotect(slot));
    else if (slot) {
      for (let x = a; x < Math.min(next, vma.end); x += PAGE_SIZE) {
        const i = (x / PAGE_SIZE) % 512;
        if (pte_present(slot[i]!)) slot[i] = pte_wrprotect(slot[i]!);
      }
    }
    a = next;
  }
}

export type Advice = 'hugepage' | 'nohugepage' | 'dontneed' | 'populate_read' | 'populate_write' | 'dontfork' | 'dofork' | 'collapse';

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
  if (start % PAGE_SIZE !== 0 || !(len >= 0)) return -EINVAL;
  const end = start + pageAlignUp(len);
  if (end === start) return 0;
  if (advice === 'populate_read' || advice === 'populate_write') return madvise_populate(m, p, start, end, advice === 'populate_write');
  return madvise_walk_vmas(mm, start, end, (v, s, e) => madvise_vma_behavior(m, v, s, e, advice));
}

/**
 * madvise_walk_vmas(): `fn` on the part of each VMA inside [start, end). A hole does not stop the walk
 * but makes the result -ENOMEM; an error from `fn` is returned at once.
 */
function madvise_walk_vmas(mm: MmStruct, start: number, end: number, fn: (vma: Vma, s: number, e: number) => number): number {
  let unmapped = 0;
  let cur = start;
  while (cur < end) {
    const vma = mm.vmas.find((v) => v.end > cur);
    if (!vma) return -ENOMEM;
    if (cur < vma.start) {
      unmapped = -ENOMEM;
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
        if (s % unit) return -EINVAL;
        e -= e % unit;
      } else if (v.flags & (VM_PFNMAP | VM_LOCKED)) return -EINVAL;
      if (s < e) zap_page_range(m, v, s, e);
      return 0;
    }
    case 'collapse':
      return collapse_pte_mapped_range(m, v, s, e);
    case 'hugepage':
      // hugepage_madvise() accepts any VMA (hugetlb and PFN maps included) and only sets the flags.
      return madvise_update_vma(m, v, s, e, (v.flags | VM_HUGEPAGE) & ~VM_NOHUGEPAGE);
    case 'nohugepage':
      return madvise_update_vma(m, v, s, e, (v.flags | VM_NOHUGEPAGE) & ~VM_HUGEPAGE);
    case 'dontfork':
      return madvise_update_vma(m, v, s, e, v.flags | VM_DONTCOPY);
    case 'dofork':
      if (v.flags & VM_IO) return -EINVAL;
      return madvise_update_vma(m, v, s, e, v.flags & ~VM_DONTCOPY);
    default:
      return -EINVAL;
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
    if ((s > v.start && s % unit) || (e < v.end && e % unit)) return -EINVAL;
  }
  let vma = v;
  if (vma.start < s) vma = split_vma(m, vma, s);
  if (vma.end > e) split_vma(m, vma, e);
  vma.flags = newflags;
  vma_merge_neighbours(m, vma);
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

/** exit_mmap(): tear down every mapping of an exiting process. */
export function exit_mmap(m: Machine, mm: MmStruct): void {
  for (const v of [...mm.vmas]) remove_vma(m, v);
  mm.users = 0;
}
