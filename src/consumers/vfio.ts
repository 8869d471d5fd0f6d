// Models the VFIO type1 IOMMU driver's DMA mapping of user memory, drivers/vfio/vfio_iommu_type1.c
// (vfio_dma_do_map(), vfio_pin_map_dma(), vfio_pin_pages_remote(), vaddr_get_pfns(),
// follow_fault_pfn(), vfio_lock_acct(), vfio_unmap_unpin(), vfio_unpin_pages_remote(), put_pfn()):
// VFIO_IOMMU_MAP_DMA pins the range with pin_user_pages_remote(FOLL_LONGTERM [| FOLL_WRITE]) in batches
// of one page of page pointers, maps physically contiguous runs, and charges mm->locked_vm against
// RLIMIT_MEMLOCK; VM_PFNMAP ranges (device BARs) are mapped by PFN without any pin or charge.
// Read from upstream vfio_iommu_type1.c (gregkh/linux @ 35e39b1e) and the 2025 series "vfio/type1:
// optimize vfio_pin_pages_remote() / vfio_unpin_pages_remote()" (Li Zhe; in 6.18's tree: unpin of a
// run without reserved PFNs is one unpin_user_page_range_dirty_lock(); same counts as per-page put_pfn).
//
// The model gives each process one container with a device attached (an IOMMU domain exists) and
// uses the identity IOVA (iova = vaddr).

import { fd_install } from '../kernel/file_table.js';
import type { Machine } from '../mm/machine.js';
import type { Process } from '../mm/task.js';
import { Holder, type HeldFrame } from './holder.js';
import { EBADF, EEXIST, EFAULT, EINVAL, ENOMEM, ESRCH } from '../uapi/errno.js';
import { FOLL_LONGTERM, FOLL_WRITE } from '../mm/foll_flags.js';
import { NO_PFN, PAGE_SIZE } from '../mm/memmap.js';
import { VM_PFNMAP, FAULT_FLAG_REMOTE, FAULT_FLAG_WRITE, VM_FAULT_ERROR } from '../mm/mm_types.js';
import { pte_pfn, pte_present, pte_write } from '../mm/pgtable.js';
import { handle_mm_fault } from '../mm/memory.js';
import { pin_user_pages_remote, unpin_user_pages_dirty_lock, unpin_user_page_range_dirty_lock } from '../mm/gup.js';
import { chargeMm, unchargeMm } from './memlock.js';
import { snapshotSideTable } from '../mm/snapshot.js';

/** VFIO_BATCH_MAX_CAPACITY: PAGE_SIZE / sizeof(struct page *). */
export const VFIO_BATCH_MAX_CAPACITY = PAGE_SIZE / 8;

/** A run of IOVA mapped to physically contiguous PFNs (one iommu_map() call). */
export interface DmaRun {
  pfn: number;
  npages: number;
  /** Reserved or invalid PFNs (VM_PFNMAP): mapped, never pinned or charged. */
  rsvd: boolean;
}

/** struct vfio_dma: one VFIO_IOMMU_MAP_DMA mapping. */
export class VfioDma extends Holder {
  readonly type = 'dma' as const;
  readonly runs: DmaRun[] = [];
  /** Bytes mapped so far (dma->size). */
  size = 0;
  /** dma->has_rsvd: some PFN was reserved (6.18 unpins such a mapping page by page). */
  has_rsvd = false;
  /** dma->lock_cap: capable(CAP_IPC_LOCK) at map time. */
  readonly lock_cap: boolean;
  constructor(
    name: string,
    owner: Process,
    readonly vaddr: number,
    readonly iova: number,
    readonly write: boolean,
  ) {
    super(name, owner);
    this.lock_cap = owner.capIpcLock;
  }
  pins(): number {
    return this.runs.reduce((s, r) => s + (r.rsvd ? 0 : r.npages), 0);
  }
  refs(): number {
    return 0;
  }
  /** Every page of every run at its IOVA (= vaddr); reserved PFNs are mapped without a pin. */
  frames(): HeldFrame[] {
    const out: HeldFrame[] = [];
    let addr = this.vaddr;
    for (const r of this.runs)
      for (let i = 0; i < r.npages; i++, addr += PAGE_SIZE)
        out.push({ addr, pfn: r.pfn + i, pages: 1, pins: r.rsvd ? 0 : 1, refs: 0 });
    return out;
  }
}

/** struct vfio_iommu: the container of one process (its dma_list). */
interface VfioIommu {
  dmas: Set<VfioDma>;
}

const containers = new WeakMap<Machine, Map<Process, VfioIommu>>();
snapshotSideTable(containers);

/**
 * The process's container, created on first use. Its fd is shared with fork children and released
 * with its last holder (exit_files() -> vfio_iommu_type1_release() -> vfio_iommu_unmap_unpin_all()).
 */
function container(m: Machine, p: Process): VfioIommu {
  let all = containers.get(m);
  if (!all) containers.set(m, (all = new Map()));
  let c = all.get(p);
  if (!c) {
    const nc: VfioIommu = { dmas: new Set() };
    all.set(p, (c = nc));
    // The container fd: shared with fork children; its last close unmaps and unpins everything.
    const map = all;
    fd_install(p, nc, () => {
      for (const d of [...nc.dmas]) vfio_remove_dma(m, nc, d, false);
      map.delete(p);
    });
  }
  return c;
}

/**
 * is_invalid_reserved_pfn(): no struct page, or PageReserved. The model's reserved frames are those
 * outside every allocator area (the low reserved range, with the zero page and the PFN that
 * VM_PFNMAP mappings point at) and beyond the memmap.
 */
function is_invalid_reserved_pfn(m: Machine, pfn: number): boolean {
  return pfn < 0 || pfn >= m.mem.refcount.length || m.alloc.areaOf(pfn) === undefined;
}

/** put_pfn(): unpin (dirtying if the mapping is writable) unless the PFN is reserved. Returns 1 if unpinned. */
function put_pfn(m: Machine, pfn: number, write: boolean): number {
  if (is_invalid_reserved_pfn(m, pfn)) return 0;
  unpin_user_pages_dirty_lock(m, Int32Array.of(pfn), 1, write);
  return 1;
}

/**
 * follow_fault_pfn(): the PFN a VM_PFNMAP PTE maps, faulting it in first (fixup_user_fault) if it is
 * not present. -EFAULT when a write mapping meets a read-only PTE, or the fault fails.
 */
function follow_fault_pfn(m: Machine, p: Process, vaddr: number, write_fault: boolean): number {
  const vma = p.mm.vma_lookup(vaddr)!;
  let e = p.mm.pt.pte(vaddr);
  if (!pte_present(e)) {
    const r = handle_mm_fault(m, vma, vaddr, FAULT_FLAG_REMOTE | (write_fault ? FAULT_FLAG_WRITE : 0));
    if (r & VM_FAULT_ERROR)
      return m.refuse(-EFAULT, 'follow_fault_pfn', 'fixup_user_fault() failed on the VM_PFNMAP mapping');
    e = p.mm.pt.pte(vaddr);
    if (!pte_present(e)) return m.refuse(-EFAULT, 'follow_fault_pfn', 'no PTE after the fault');
  }
  if (write_fault && !pte_write(e))
    return m.refuse(-EFAULT, 'follow_fault_pfn', 'write mapping of a read-only VM_PFNMAP PTE');
  return pte_pfn(e);
}

/**
 * vaddr_get_pfns(): pin_user_pages_remote(mm, vaddr, npages, flags | FOLL_LONGTERM) with FOLL_WRITE iff
 * IOMMU_WRITE. When nothing was pinned and the VMA is VM_PFNMAP, one PFN via follow_fault_pfn() —
 * accepted only if it is reserved/invalid (no struct page), else -EFAULT. Otherwise GUP's error.
 * Returns the number of PFNs in pages[] (the PFNMAP one too), or -errno.
 */
function vaddr_get_pfns(
  m: Machine,
  p: Process,
  vaddr: number,
  npages: number,
  write: boolean,
  pages: Int32Array,
): number {
  const flags = write ? FOLL_WRITE : 0;
  const ret = pin_user_pages_remote(m, p, vaddr, npages, flags | FOLL_LONGTERM, pages, undefined, p);
  if (ret > 0) return ret;
  const vma = p.mm.vma_lookup(vaddr);
  if (vma && vma.flags & VM_PFNMAP) {
    m.why = undefined;
    const pfn = follow_fault_pfn(m, p, vaddr, write);
    if (pfn < 0) return pfn;
    if (!is_invalid_reserved_pfn(m, pfn))
      return m.refuse(-EFAULT, 'vaddr_get_pfns', 'VM_PFNMAP page that has a struct page');
    pages[0] = pfn;
    return 1;
  }
  return ret < 0 ? ret : m.refuse(-EFAULT, 'vaddr_get_pfns', 'pin_user_pages_remote pinned nothing');
}

interface Batch {
  pages: Int32Array;
  size: number;
  offset: number;
}

/**
 * vfio_pin_pages_remote(): the next physically contiguous run starting at vaddr (up to npage pages),
 * refilling the batch as needed. Each page that is not reserved is charged: without CAP_IPC_LOCK,
 * locked_vm + charged + 1 > limit is -ENOMEM; then vfio_lock_acct() adds the run to mm->locked_vm.
 * On error the run's pins and the batch's leftovers are released (the caller unwinds the earlier runs).
 * Returns { pinned, pfn, rsvd } or -errno.
 */
function vfio_pin_pages_remote(
  m: Machine,
  dma: VfioDma,
  vaddr: number,
  npage: number,
  limit: number,
  batch: Batch,
): DmaRun | number {
  const p = dma.owner;
  let pfn_base = NO_PFN;
  let rsvd = false;
  let pinned = 0;
  let lock_acct = 0;
  let ret = 0;
  if (batch.size) {
    pfn_base = batch.pages[batch.offset]!;
    rsvd = is_invalid_reserved_pfn(m, pfn_base);
  }
  fill: while (npage) {
    if (!batch.size) {
      const req = Math.min(npage, batch.pages.length);
      batch.pages.fill(NO_PFN);
      const r = vaddr_get_pfns(m, p, vaddr, req, dma.write, batch.pages);
      if (r < 0) {
        ret = r;
        break;
      }
      batch.size = r;
      batch.offset = 0;
      if (pfn_base < 0) {
        pfn_base = batch.pages[0]!;
        rsvd = is_invalid_reserved_pfn(m, pfn_base);
      }
    }
    for (;;) {
      const pfn = batch.pages[batch.offset]!;
      if (pfn !== pfn_base + pinned || rsvd !== is_invalid_reserved_pfn(m, pfn)) break fill;
      // "Reserved pages aren't counted against the user".
      if (!rsvd) {
        if (!dma.lock_cap && p.mm.locked_vm + lock_acct + 1 > limit) {
          ret = m.refuse(-ENOMEM, 'vfio_pin_pages_remote', 'locked_vm would exceed RLIMIT_MEMLOCK (no CAP_IPC_LOCK)');
          break fill;
        }
        lock_acct++;
      }
      pinned++;
      npage--;
      vaddr += PAGE_SIZE;
      batch.offset++;
      batch.size--;
      if (!batch.size) break;
    }
  }
  if (ret === 0) {
    // out: vfio_lock_acct(dma, lock_acct, false) -> __account_locked_vm(): the same limit again.
    if (lock_acct && chargeMm(p, 'locked_vm', lock_acct)) {
      ret = m.refuse(-ENOMEM, '__account_locked_vm', 'locked_vm would exceed RLIMIT_MEMLOCK (no CAP_IPC_LOCK)');
    }
  }
  if (ret < 0) {
    // unpin_out: the run so far and whatever is left in the batch.
    if (pinned && !rsvd) for (let i = 0; i < pinned; i++) put_pfn(m, pfn_base + i, dma.write);
    while (batch.size) {
      put_pfn(m, batch.pages[batch.offset]!, dma.write);
      batch.offset++;
      batch.size--;
    }
    return ret;
  }
  if (rsvd) dma.has_rsvd = true;
  return { pfn: pfn_base, npages: pinned, rsvd };
}

/**
 * vfio_unmap_unpin() + vfio_unpin_pages_remote(): every run is unmapped and unpinned — one
 * unpin_user_page_range_dirty_lock(page, npage, IOMMU_WRITE) per run, or put_pfn() page by page when
 * the mapping has reserved PFNs — and the pages are uncharged from locked_vm (vfio_lock_acct(async):
 * skipped when the task's mm is gone, i.e. at exit).
 */
function vfio_unmap_unpin(m: Machine, dma: VfioDma, do_accounting: boolean): number {
  let unlocked = 0;
  for (const r of dma.runs) {
    // 6.1 and 6.12 always go page by page (profile.vfioUnpinRuns): the same counts and dirtying.
    if (r.rsvd || dma.has_rsvd || !m.profile.vfioUnpinRuns) {
      for (let i = 0; i < r.npages; i++) unlocked += put_pfn(m, r.pfn + i, dma.write);
    } else {
      unpin_user_page_range_dirty_lock(m, r.pfn, r.npages, dma.write);
      unlocked += r.npages;
    }
  }
  dma.runs.length = 0;
  if (do_accounting && dma.owner.alive) unchargeMm(dma.owner, 'locked_vm', unlocked);
  return unlocked;
}

/** vfio_remove_dma(). */
function vfio_remove_dma(m: Machine, c: VfioIommu, dma: VfioDma, do_accounting = true): void {
  vfio_unmap_unpin(m, dma, do_accounting);
  c.dmas.delete(dma);
  dma.closed = true;
}

/**
 * VFIO_IOMMU_MAP_DMA of [vaddr, vaddr + size) of `p` (IOMMU_READ, plus IOMMU_WRITE iff `write`).
 * Returns the mapping or -errno: -EINVAL (size 0, or vaddr/size not page aligned, or wrapping),
 * -EEXIST (the IOVA range overlaps an existing mapping of this container), -ENOMEM (locked_vm would
 * exceed RLIMIT_MEMLOCK without CAP_IPC_LOCK), or vaddr_get_pfns()'s error (-EFAULT unmapped, a
 * read-only range mapped for write, a VM_PFNMAP page with a struct page; -EOPNOTSUPP fsdax; -ENOMEM
 * migration failure). All or nothing: on error every page pinned so far is unpinned and uncharged.
 *
 * @see drivers/vfio/vfio_iommu_type1.c vfio_dma_do_map(), vfio_pin_map_dma()
 */
export function vfio_dma_do_map(
  m: Machine,
  p: Process,
  name: string,
  vaddr: number,
  size: number,
  write = true,
): VfioDma | number {
  m.why = undefined;
  if (!p.alive) return m.refuse(-ESRCH, 'vfio_dma_do_map', 'the process has exited');
  // "if (!size || (size | iova | vaddr) & (pgsize - 1))": the smallest IOMMU page is PAGE_SIZE here.
  if (!size || size % PAGE_SIZE || vaddr % PAGE_SIZE)
    return m.refuse(-EINVAL, 'vfio_dma_do_map', 'size is 0, or vaddr or size is not page aligned');
  if (vaddr + size > 2 ** 64) return m.refuse(-EINVAL, 'vfio_dma_do_map', 'vaddr + size wraps');
  const c = container(m, p);
  const iova = vaddr;
  for (const d of c.dmas) {
    if (iova < d.iova + d.size && d.iova < iova + size)
      return m.refuse(-EEXIST, 'vfio_dma_do_map', 'the IOVA range overlaps an existing mapping');
  }
  const dma = new VfioDma(name, p, vaddr, iova, write);
  c.dmas.add(dma);
  const limit = Math.floor(p.rlimitMemlock / PAGE_SIZE);
  const batch: Batch = { pages: new Int32Array(VFIO_BATCH_MAX_CAPACITY).fill(NO_PFN), size: 0, offset: 0 };
  let left = size / PAGE_SIZE;
  let ret = 0;
  // vfio_pin_map_dma()
  while (left) {
    const r = vfio_pin_pages_remote(m, dma, vaddr + dma.size, left, limit, batch);
    if (typeof r === 'number') {
      ret = r;
      break;
    }
    if (!r.npages) throw new Error('gupsim bug: vfio_pin_pages_remote made no progress');
    dma.runs.push(r); // vfio_iommu_map()
    left -= r.npages;
    dma.size += r.npages * PAGE_SIZE;
  }
  if (ret) {
    const why = m.why;
    vfio_remove_dma(m, c, dma);
    m.why = why;
    return ret;
  }
  return dma;
}

/**
 * VFIO_IOMMU_UNMAP_DMA of a whole mapping: vfio_remove_dma(). Returns 0, or -EBADF when it was
 * already unmapped (the kernel answers an unknown IOVA range with success and 0 bytes unmapped; the
 * model's handle names the mapping, so a second unmap is the caller's bug).
 */
export function vfio_dma_do_unmap(m: Machine, dma: VfioDma): number {
  if (dma.closed) return m.refuse(-EBADF, 'vfio_dma_do_unmap', 'the mapping has already been removed');
  const c = containers.get(m)?.get(dma.owner);
  if (c) vfio_remove_dma(m, c, dma);
  else {
    vfio_unmap_unpin(m, dma, true);
    dma.closed = true;
  }
  return 0;
}
