// Models the hugetlb reservations of mm/hugetlb.c: struct resv_map (a list of file_regions, in huge
// page units, with region_chg/region_add/region_del/region_count), kept per inode for shared mappings
// and per mmap for private ones (HPAGE_RESV_OWNER in vm_private_data: only the process that called
// mmap is promised its faults); hugetlb_reserve_pages() at mmap (nothing with MAP_NORESERVE),
// vma_needs_reservation()/vma_commit_reservation() and alloc_hugetlb_folio() at fault time, and what
// an unmap gives back (hugetlb_vm_op_close(), hugetlb_unreserve_pages()). A fork child's private
// mapping has no reservation (hugetlb_dup_vma_private()).

import type { Machine } from './machine.js';
import type { AddressSpace } from './fs.js';
import { VM_MAYSHARE, VM_NORESERVE, type Vma } from './mm_types.js';
import { PAGE_SIZE } from './memmap.js';
import { ENOMEM, ENOSPC } from '../uapi/errno.js';
import { available_huge_pages } from './hugetlb.js';

/** vm_private_data flags of a MAP_PRIVATE hugetlb VMA. */
export const HPAGE_RESV_OWNER = 1 << 0;
/** The owner's COW took the page away from this VMA (unmap_ref_private()): its faults get SIGBUS. */
export const HPAGE_RESV_UNMAPPED = 1 << 1;

/** [from, to) in huge page units of the file. */
interface FileRegion {
  from: number;
  to: number;
}

/**
 * struct resv_map. For a shared mapping (the inode's map) a region means "reserved", and stays once
 * the page is in the page cache; for a private mapping (the mmap's map) it means "reservation
 * consumed by a fault": no region means a reservation is still there.
 */
export class ResvMap {
  /** Sorted and disjoint (region_add() coalesces; region_del() may split one into two touching). */
  readonly regions: FileRegion[] = [];

  /** region_count(): how many of [f, t) the map covers. */
  region_count(f: number, t: number): number {
    let n = 0;
    for (const rg of this.regions) n += Math.max(0, Math.min(rg.to, t) - Math.max(rg.from, f));
    return n;
  }

  /** region_chg(): how many of [f, t) region_add() would add. */
  region_chg(f: number, t: number): number {
    return t - f - this.region_count(f, t);
  }

  /** region_add(): cover [f, t); returns how many were added. */
  region_add(f: number, t: number): number {
    const add = this.region_chg(f, t);
    let from = f;
    let to = t;
    const keep: FileRegion[] = [];
    for (const rg of this.regions) {
      if (rg.to < from || rg.from > to) keep.push(rg);
      else {
        from = Math.min(from, rg.from);
        to = Math.max(to, rg.to);
      }
    }
    keep.push({ from, to });
    keep.sort((a, b) => a.from - b.from);
    this.regions.splice(0, this.regions.length, ...keep);
    return add;
  }

  /** region_del(): uncover [f, t) (trimming or splitting regions); returns how many were removed. */
  region_del(f: number, t: number): number {
    const del = this.region_count(f, t);
    const keep: FileRegion[] = [];
    for (const rg of this.regions) {
      if (rg.to <= f || rg.from >= t) keep.push(rg);
      else {
        if (rg.from < f) keep.push({ from: rg.from, to: f });
        if (rg.to > t) keep.push({ from: t, to: rg.to });
      }
    }
    this.regions.splice(0, this.regions.length, ...keep);
    return del;
  }
}

/** vm_private_data of a MAP_PRIVATE hugetlb VMA: its reserve map (none in a fork child) and flags. */
export interface HugetlbVmaPrivate {
  resv: ResvMap | undefined;
  flags: number;
}

/** inode_resv_map(): the file's map (hugetlbfs_get_inode() creates it with the inode). */
function inode_resv_map(file: AddressSpace): ResvMap {
  return (file.resv_map ??= new ResvMap());
}

/** vma_resv_map(): the inode's map for shared mappings, the VMA's own (or none) for private ones. */
function vma_resv_map(vma: Vma): ResvMap | undefined {
  if (vma.flags & VM_MAYSHARE) return inode_resv_map(vma.file!);
  return vma.vm_private_data?.resv;
}

/** is_vma_resv_set(). */
export function is_vma_resv_set(vma: Vma, flag: number): boolean {
  return ((vma.vm_private_data?.flags ?? 0) & flag) !== 0;
}

/** set_vma_resv_flags(): only for private VMAs. */
export function set_vma_resv_flags(vma: Vma, flag: number): void {
  const priv = (vma.vm_private_data ??= { resv: undefined, flags: 0 });
  priv.flags |= flag;
}

/** __vma_private_lock(): a private VMA that owns a reserve map. */
export function __vma_private_lock(vma: Vma): boolean {
  return (
    !(vma.flags & VM_MAYSHARE) && vma.vm_private_data?.resv !== undefined && is_vma_resv_set(vma, HPAGE_RESV_OWNER)
  );
}

/** vma_hugecache_offset(): the huge page index in the file that addr maps. */
export function vma_hugecache_offset(vma: Vma, addr: number): number {
  const unit = PAGE_SIZE << vma.hugeOrder;
  return Math.floor((addr - vma.start) / unit) + Math.floor(vma.pgoff / (1 << vma.hugeOrder));
}

type ResvMode = 'needs' | 'commit' | 'add';

/**
 * __vma_reservation_common() for one huge page. 'needs' (vma_needs_reservation()): 1 when the fault
 * needs a reservation of its own, 0 when one is waiting for it. 'commit': record the page as
 * allocated. 'add' (vma_add_reservation()): give the page its reservation back. With no map at all
 * (a fork child, MAP_NORESERVE) the answer is always 1.
 */
function vma_reservation(vma: Vma, addr: number, mode: ResvMode): number {
  const resv = vma_resv_map(vma);
  if (!resv) return 1;
  const idx = vma_hugecache_offset(vma, addr);
  const shared = (vma.flags & VM_MAYSHARE) !== 0;
  let ret: number;
  if (mode === 'needs') ret = resv.region_chg(idx, idx + 1);
  else if (mode === 'commit' || shared) ret = resv.region_add(idx, idx + 1);
  else ret = resv.region_del(idx, idx + 1);
  if (shared) return ret;
  // Private maps record consumed reservations: the meaning of the answer is inverted.
  return ret > 0 ? 0 : 1;
}

/** vma_needs_reservation(). */
export function vma_needs_reservation(vma: Vma, addr: number): number {
  return vma_reservation(vma, addr, 'needs');
}

/** vma_add_reservation(). */
export function vma_add_reservation(vma: Vma, addr: number): number {
  return vma_reservation(vma, addr, 'add');
}

/**
 * alloc_hugetlb_folio(): a folio for a fault at addr. It uses the reservation waiting for this page
 * (the private owner's mmap reservation, or the shared file's), marking the folio restore_reserve and
 * decrementing resv_huge_pages; otherwise it needs a free page nobody reserved, or a surplus page
 * (overcommit). cow_from_owner (the owner's COW of a page shared with its children) never uses the
 * VMA's reservation: that was consumed by the page being copied. Returns the folio (refcount 1) or
 * -ENOSPC: the fault's SIGBUS.
 * @see mm/hugetlb.c alloc_hugetlb_folio(), dequeue_hugetlb_folio_vma()
 */
export function alloc_hugetlb_folio(m: Machine, vma: Vma, addr: number, cow_from_owner: boolean): number {
  const pool = m.hugetlb;
  const h = pool.hstate(vma.hugeOrder);
  const map_chg = cow_from_owner ? 1 : vma_needs_reservation(vma, addr);
  // hugepage_subpool_get_pages(): the model's hugetlbfs files have no size limit (no subpool).
  const gbl_chg = map_chg ? 1 : 0;
  let folio = -1;
  if (!gbl_chg || available_huge_pages(h) > 0) folio = pool.dequeue_hugetlb_folio(h);
  if (folio < 0) folio = pool.alloc_buddy_hugetlb_folio_with_mpol(h);
  if (folio < 0) return -ENOSPC;
  if (!gbl_chg) {
    pool.folio_set_hugetlb_restore_reserve(folio);
    h.resv_huge_pages--;
  }
  // vma_commit_reservation(), except for the enforced charge of cow_from_owner.
  if (!cow_from_owner) vma_reservation(vma, addr, 'commit');
  return folio;
}

/**
 * hugetlb_reserve_pages(): reserve huge pages [from, to) of the file for a new mapping (vma) or a
 * memfd folio (no vma). Nothing with VM_NORESERVE. A shared mapping reserves what the inode's map does
 * not cover yet; a private one reserves the whole range in a map of its own (HPAGE_RESV_OWNER).
 * Returns the number reserved or -ENOMEM when the pool (with overcommit) cannot cover it.
 * @see mm/hugetlb.c hugetlb_reserve_pages(), fs/hugetlbfs/inode.c hugetlbfs_file_mmap()
 */
export function hugetlb_reserve_pages(
  m: Machine,
  file: AddressSpace,
  from: number,
  to: number,
  vma: Vma | undefined,
  vm_flags: number,
): number {
  if (vm_flags & VM_NORESERVE) return 0;
  const shared = !vma || (vm_flags & VM_MAYSHARE) !== 0;
  const resv = shared ? inode_resv_map(file) : new ResvMap();
  const chg = shared ? resv.region_chg(from, to) : to - from;
  if (m.hugetlb.hugetlb_acct_memory(file.hugeOrder, chg) < 0)
    return m.refuse(-ENOMEM, 'hugetlb_reserve_pages', 'not enough free huge pages to reserve for this mapping');
  if (shared) resv.region_add(from, to);
  else vma!.vm_private_data = { resv, flags: HPAGE_RESV_OWNER };
  return chg;
}

/**
 * hugetlb_unreserve_pages(): pages [start, end) of the file leave it (truncation, eviction); freed
 * of them were in the page cache. The reservations they held and did not consume are returned.
 */
export function hugetlb_unreserve_pages(
  m: Machine,
  file: AddressSpace,
  start: number,
  end: number,
  freed: number,
): void {
  // An inode without a map never reserved anything (and the kernel has freed == 0 then).
  if (!file.resv_map) return;
  const chg = file.resv_map.region_del(start, end);
  m.hugetlb.hugetlb_acct_memory(file.hugeOrder, -(chg - freed));
}

/**
 * hugetlb_vm_op_open(): a VMA copied from another (a split) shares the owner's reserve map.
 * The model needs no reference count: the map lives while a VMA points at it.
 */
export function hugetlb_vm_op_open(vma: Vma, from: Vma): void {
  if (from.vm_private_data && !(vma.flags & VM_MAYSHARE)) vma.vm_private_data = { ...from.vm_private_data };
}

/**
 * hugetlb_vm_op_close(): the owner's private VMA goes away; it returns the reservations of its range
 * that faults did not consume (region_count() of the map tells which were).
 */
export function hugetlb_vm_op_close(m: Machine, vma: Vma): void {
  const resv = vma_resv_map(vma);
  if (!resv || !is_vma_resv_set(vma, HPAGE_RESV_OWNER)) return;
  const start = vma_hugecache_offset(vma, vma.start);
  const end = vma_hugecache_offset(vma, vma.end);
  const reserve = end - start - resv.region_count(start, end);
  if (reserve) m.hugetlb.hugetlb_acct_memory(vma.hugeOrder, -reserve);
}

/**
 * hugetlb_dup_vma_private() (dup_mmap()): a fork child's copy of a private hugetlb VMA has no
 * reservation: its faults take unreserved pages or fail (the parent's later faults still succeed).
 */
export function hugetlb_dup_vma_private(vma: Vma): void {
  if (!(vma.flags & VM_MAYSHARE)) vma.vm_private_data = undefined;
}
