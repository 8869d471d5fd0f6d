// Models RDMA user memory registration, drivers/infiniband/core/umem.c (ib_umem_get(),
// __ib_umem_release(), ib_umem_release()) as reached from ibv_reg_mr / ibv_dereg_mr: a longterm pin
// of the whole range with pin_user_pages_fast(FOLL_LONGTERM [| FOLL_WRITE]) in chunks of one page of
// page pointers, charged to mm->pinned_vm against RLIMIT_MEMLOCK, released per scatterlist entry
// with unpin_user_page_range_dirty_lock(). Read from upstream umem.c (gregkh/linux @ 55f3722f).

import { fd_install } from '../kernel/file_table.js';
import type { Machine } from '../mm/machine.js';
import type { Process } from '../mm/task.js';
import { Holder, type HeldFrame } from './holder.js';
import { EBADF, EFAULT, EINVAL, ENOMEM, EPERM } from '../uapi/errno.js';
import { FOLL_FORCE, FOLL_LONGTERM, FOLL_WRITE } from '../mm/foll_flags.js';
import { NO_PFN, PAGE_SIZE } from '../mm/memmap.js';
import { pin_user_pages_fast, unpin_user_page_range_dirty_lock } from '../mm/gup.js';
import { chargeMm, unchargeMm } from './memlock.js';

/** PAGE_SIZE / sizeof(struct page *): pages pinned per pin_user_pages_fast() call. */
export const UMEM_PIN_CHUNK = PAGE_SIZE / 8;

/** One scatterlist entry: a physically contiguous run of pinned pages. */
export interface SgEntry {
  page: number;
  npages: number;
}

/** An MR's struct ib_umem: the pinned pages as a scatterlist, owned by the process that registered. */
export class IbMr extends Holder {
  readonly type = 'mr' as const;
  readonly sg: SgEntry[] = [];
  npages = 0;
  constructor(
    name: string,
    owner: Process,
    readonly address: number,
    readonly length: number,
    readonly writable: boolean,
  ) {
    super(name, owner);
  }
  pins(): number {
    return this.sg.reduce((s, e) => s + e.npages, 0);
  }
  refs(): number {
    return 0;
  }
  /** One pin per page of each scatterlist entry, at the MR's addresses in order. */
  frames(): HeldFrame[] {
    const out: HeldFrame[] = [];
    let addr = this.address - (this.address % PAGE_SIZE);
    for (const e of this.sg)
      for (let i = 0; i < e.npages; i++, addr += PAGE_SIZE)
        out.push({ addr, pfn: e.page + i, pages: 1, pins: 1, refs: 0 });
    return out;
  }
}

/**
 * The MR lives in its creator's uverbs fd: fork children share the fd, and the MR is released when
 * the last holder closes it or exits (uverbs_destroy_ufile_hw() -> ib_dereg_mr() -> ib_umem_release()).
 */
function track(m: Machine, mr: IbMr): void {
  fd_install(mr.owner, mr, () => {
    if (!mr.closed) ib_umem_release(m, mr);
  });
}

/** sg_alloc_append_table_from_pages(): a page physically following the last entry extends it. */
function sgAppend(sg: SgEntry[], pages: Int32Array, n: number): void {
  for (let i = 0; i < n; i++) {
    const last = sg[sg.length - 1];
    if (last && last.page + last.npages === pages[i]) last.npages++;
    else sg.push({ page: pages[i]!, npages: 1 });
  }
}

/** __ib_umem_release(): unpin every scatterlist entry, dirtying the pages if make_dirty. */
function __ib_umem_release(m: Machine, mr: IbMr, make_dirty: boolean): void {
  for (const e of mr.sg) unpin_user_page_range_dirty_lock(m, e.page, e.npages, make_dirty);
  mr.sg.length = 0;
}

/**
 * ib_umem_get(): pin [addr, addr + size) of the calling process for an MR. Returns the MR or -errno:
 * -EINVAL (addr + size wraps, or no pages), -EPERM (!can_do_mlock(): RLIMIT_MEMLOCK is 0 and no
 * CAP_IPC_LOCK), -ENOMEM (mm->pinned_vm would exceed RLIMIT_MEMLOCK without CAP_IPC_LOCK), or the
 * errno of pin_user_pages_fast() (-EFAULT unmapped or read-only for a writable MR, -EOPNOTSUPP fsdax,
 * -ENOMEM when unpinnable folios cannot be migrated). On failure nothing stays pinned or charged.
 *
 * Flags: FOLL_LONGTERM, plus FOLL_WRITE iff the MR is writable (ib_access_writable(); since 6.2 a
 * read-only MR is no longer FOLL_FORCE|FOLL_WRITE). Partial pins are kept and the rest is pinned by
 * the next call of the loop; only an error aborts.
 *
 * @see drivers/infiniband/core/umem.c ib_umem_get()
 */
export function ib_umem_get(
  m: Machine,
  p: Process,
  name: string,
  addr: number,
  size: number,
  writable = true,
): IbMr | number {
  m.why = undefined;
  // "(addr + size) < addr || PAGE_ALIGN(addr + size) < (addr + size)"
  if (addr + size > 2 ** 64 - PAGE_SIZE) return m.refuse(-EINVAL, 'ib_umem_get', 'addr + size overflows');
  // can_do_mlock(): RLIMIT_MEMLOCK != 0 or CAP_IPC_LOCK.
  if (p.rlimitMemlock === 0 && !p.capIpcLock)
    return m.refuse(-EPERM, 'ib_umem_get', 'can_do_mlock(): RLIMIT_MEMLOCK is 0 and no CAP_IPC_LOCK');
  const mr = new IbMr(name, p, addr, size, writable);
  // ib_umem_num_pages(): pages spanned by [addr, addr + size).
  let npages = Math.ceil((addr + size) / PAGE_SIZE) - Math.floor(addr / PAGE_SIZE);
  if (npages === 0 || npages > 0xffffffff)
    return m.refuse(-EINVAL, 'ib_umem_get', 'the range has no pages (length 0) or more than UINT_MAX');
  // "new_pinned = atomic64_add_return(npages, &mm->pinned_vm); if (new_pinned > lock_limit &&
  //  !capable(CAP_IPC_LOCK))" -> undo, -ENOMEM. Charged before anything is pinned.
  if (chargeMm(p, 'pinned_vm', npages)) {
    return m.refuse(-ENOMEM, 'ib_umem_get', 'mm->pinned_vm would exceed RLIMIT_MEMLOCK (no CAP_IPC_LOCK)');
  }
  const total = npages;
  // 6.1 ("gup_flags = FOLL_WRITE", FOLL_FORCE for a read-only MR) breaks COW for every MR
  // (profile.rdmaReadOnlyForceWrite).
  const gup_flags = m.profile.rdmaReadOnlyForceWrite
    ? FOLL_LONGTERM | FOLL_WRITE | (writable ? 0 : FOLL_FORCE)
    : FOLL_LONGTERM | (writable ? FOLL_WRITE : 0);
  let cur_base = addr - (addr % PAGE_SIZE);
  const page_list = new Int32Array(UMEM_PIN_CHUNK);
  while (npages) {
    page_list.fill(NO_PFN);
    const pinned = pin_user_pages_fast(m, p, cur_base, Math.min(npages, UMEM_PIN_CHUNK), gup_flags, page_list);
    if (pinned <= 0) {
      // umem_release: __ib_umem_release(device, umem, 0) (not dirtied), pinned_vm given back.
      const err = pinned < 0 ? pinned : m.refuse(-EFAULT, 'ib_umem_get', 'pin_user_pages_fast pinned nothing');
      __ib_umem_release(m, mr, false);
      unchargeMm(p, 'pinned_vm', total);
      return err;
    }
    cur_base += pinned * PAGE_SIZE;
    npages -= pinned;
    sgAppend(mr.sg, page_list, pinned);
  }
  mr.npages = total;
  track(m, mr);
  return mr;
}

/**
 * ib_umem_release() (ibv_dereg_mr, or the uverbs fd closing): each scatterlist entry is unpinned with
 * unpin_user_page_range_dirty_lock(sg_page, pages, writable) — dirty = 1 on this path, so writable MRs
 * dirty their pages — and mm->pinned_vm drops by the MR's pages. Returns 0, or -EBADF if the MR was
 * already released.
 */
export function ib_umem_release(m: Machine, mr: IbMr): number {
  if (mr.closed) return m.refuse(-EBADF, 'ib_dereg_mr', 'the MR has already been deregistered');
  __ib_umem_release(m, mr, mr.writable);
  unchargeMm(mr.owner, 'pinned_vm', mr.npages);
  mr.closed = true;
  return 0;
}
