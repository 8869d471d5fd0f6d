// Models RLIMIT_MEMLOCK accounting of pinned memory: io_uring's __io_account_mem() and VFIO's
// vfio_lock_acct() charge the user's/mm's locked_vm; RDMA's ib_umem_get() charges mm->pinned_vm.
// CAP_IPC_LOCK (root) bypasses the limit.

import type { Machine } from '../mm/machine.js';
import type { Process } from '../mm/task.js';
import { ENOMEM } from '../uapi/errno.js';
import { PAGE_SIZE } from '../mm/memmap.js';
import { snapshotSideTable } from '../mm/snapshot.js';

/** user_struct->locked_vm, per user (all scenario processes share one user unless told otherwise). */
const userLocked = new WeakMap<Machine, Map<string, number>>();
snapshotSideTable(userLocked);

function table(m: Machine): Map<string, number> {
  let t = userLocked.get(m);
  if (!t) userLocked.set(m, (t = new Map()));
  return t;
}

export function userLockedVm(m: Machine, p: Process): number {
  return table(m).get(p.user) ?? 0;
}

/** __io_account_mem(): -ENOMEM when the user's locked_vm would exceed RLIMIT_MEMLOCK. */
export function chargeUserLockedVm(m: Machine, p: Process, pages: number): number {
  if (!pages) return 0;
  const limit = Math.floor(p.rlimitMemlock / PAGE_SIZE);
  const cur = userLockedVm(m, p);
  if (cur + pages > limit) return -ENOMEM;
  table(m).set(p.user, cur + pages);
  return 0;
}

export function unchargeUserLockedVm(m: Machine, p: Process, pages: number): void {
  table(m).set(p.user, Math.max(0, userLockedVm(m, p) - pages));
}

/**
 * Charge mm->locked_vm (VFIO vfio_lock_acct) or mm->pinned_vm (RDMA ib_umem_get): -ENOMEM past the
 * limit unless the process has CAP_IPC_LOCK.
 */
export function chargeMm(p: Process, field: 'locked_vm' | 'pinned_vm', pages: number): number {
  const limit = Math.floor(p.rlimitMemlock / PAGE_SIZE);
  if (!p.capIpcLock && p.mm[field] + pages > limit) return -ENOMEM;
  p.mm[field] += pages;
  return 0;
}

export function unchargeMm(p: Process, field: 'locked_vm' | 'pinned_vm', pages: number): void {
  p.mm[field] = Math.max(0, p.mm[field] - pages);
}
