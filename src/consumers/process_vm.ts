// Models mm/process_vm_access.c (process_vm_rw(), process_vm_rw_core(), process_vm_rw_single_vec(),
// process_vm_rw_pages()): process_vm_readv / process_vm_writev copy between the caller's buffer and
// another process's memory through short-term pins on the target's mm: pin_user_pages_remote() in
// chunks of PVM_MAX_USER_PAGES, copy, unpin_user_pages_dirty_lock(). Read from Linux 6.18
// (RSBAC/rsbac-6.18.y mm/process_vm_access.c, identical to upstream apart from RSBAC hooks).

import type { Machine } from '../mm/machine.js';
import type { Process } from '../mm/task.js';
import { EFAULT, EPERM, ESRCH } from '../uapi/errno.js';
import { FOLL_WRITE } from '../mm/foll_flags.js';
import { NO_PFN, PAGE_SIZE } from '../mm/memmap.js';
import { pin_user_pages_remote, unpin_user_pages_dirty_lock, type Locked } from '../mm/gup.js';
import { userAccess, type AccessedPage } from '../mm/user_access.js';
import { memcpy_to_page, pageValue } from '../mm/highmem.js';

/** A user buffer: address and length in bytes. */
export interface UserBuf {
  addr: number;
  len: number;
}

/**
 * copy_page_to_iter() / copy_page_from_iter() on a user iterator: copy_to_user / copy_from_user of
 * [addr, addr + len) in `p`. Returns the bytes copied before the first page that faults (a short
 * copy), as the raw copy routines do.
 */
function copyUser(m: Machine, p: Process, addr: number, len: number, toUser: boolean, each: AccessedPage): number {
  let done = 0;
  while (done < len) {
    const a = addr + done;
    const n = Math.min(len - done, PAGE_SIZE - (a % PAGE_SIZE));
    // The copy writes the caller's buffer for readv (a store) and reads it for writev.
    if (userAccess(m, p, a, n, toUser, each) < 0) break;
    done += n;
  }
  return done;
}

/**
 * mm_access(task, PTRACE_MODE_ATTACH_REALCREDS) -> __ptrace_may_access(): a process may always access
 * itself; another process only with the same uid, or with CAP_SYS_PTRACE. The model's processes are
 * root (every capability: Process.capIpcLock) or unprivileged. EACCES is reported as EPERM
 * (process_vm_rw_core: "EPERM is a more appropriate error code"). Yama's ptrace_scope is not modelled.
 */
function mmAccessAllowed(caller: Process, target: Process): boolean {
  return caller === target || caller.user === target.user || caller.capIpcLock;
}

/**
 * process_vm_readv(2) / process_vm_writev(2) with one local and one remote iovec.
 *
 * Returns the bytes copied; a partial transfer returns the bytes done. With nothing copied:
 * -ESRCH (the target has exited), -EPERM (ptrace access refused), -EFAULT (a chunk of the target's
 * range could not be pinned — the GUP errno, e.g. -EOPNOTSUPP or -ENOMEM, is discarded — or the
 * caller's own buffer faulted). A zero-length local or remote buffer returns 0 without pinning.
 *
 * Pins: FOLL_PIN (+ FOLL_WRITE for writev) | FOLL_REMOTE | FOLL_TOUCH on the target's mm, which gets
 * MMF_HAS_PINNED; every chunk is unpinned before the next is pinned (balanced vmstat), dirtying the
 * target's pages for writev. A R/O pin (readv) of a shared anonymous page unshares it in the target.
 *
 * @see mm/process_vm_access.c process_vm_rw_core(), process_vm_rw_single_vec()
 */
export function process_vm_rw(
  m: Machine,
  caller: Process,
  target: Process,
  local: UserBuf,
  remote: UserBuf,
  vm_write: boolean,
): number {
  m.why = undefined;
  // process_vm_rw(): import_iovec(); an empty local iovec returns 0 before anything else.
  if (local.len === 0) return 0;
  // process_vm_rw_core(): nr_pages over the remote iovecs; 0 pages -> return 0.
  if (remote.len === 0) return 0;
  // find_get_task_by_vpid(): an exited (reaped) target.
  if (!target.alive) return m.refuse(-ESRCH, 'process_vm_rw_core', 'no process with that pid (the target has exited)');
  if (!mmAccessAllowed(caller, target)) {
    return m.refuse(
      -EPERM,
      'process_vm_rw_core',
      'mm_access(PTRACE_MODE_ATTACH_REALCREDS) refused: another user and no CAP_SYS_PTRACE',
    );
  }
  const iter: Iter = { addr: local.addr, count: local.len, copied: 0 };
  process_vm_rw_single_vec(m, caller, target, remote.addr, remote.len, iter, vm_write);
  // "If we have managed to copy any data at all then we return the number of bytes copied.
  //  Otherwise we return the error code."
  if (iter.copied) return iter.copied;
  return iter.err ?? 0;
}

interface Iter {
  addr: number;
  /** Bytes still to transfer (iov_iter_count). */
  count: number;
  copied: number;
  err?: number;
}

/** process_vm_rw_single_vec(): chunks of PVM_MAX_USER_PAGES pinned, copied and unpinned in turn. */
function process_vm_rw_single_vec(
  m: Machine,
  caller: Process,
  target: Process,
  addr: number,
  len: number,
  iter: Iter,
  vm_write: boolean,
): void {
  let pa = addr - (addr % PAGE_SIZE);
  let start_offset = addr - pa;
  let nr_pages = Math.floor((addr + len - 1) / PAGE_SIZE) - Math.floor(addr / PAGE_SIZE) + 1;
  // "flags |= FOLL_WRITE" only when writing into the target.
  const flags = vm_write ? FOLL_WRITE : 0;
  const max = m.profile.pvmMaxUserPages;
  const process_pages = new Int32Array(Math.min(nr_pages, max)).fill(NO_PFN);
  let rc = 0;
  while (!rc && nr_pages && iter.count) {
    const want = Math.min(nr_pages, max);
    const locked: Locked = { value: 1 };
    const pinned = pin_user_pages_remote(m, target, pa, want, flags, process_pages, locked, caller);
    if (pinned <= 0) {
      // "if (pinned_pages <= 0) return -EFAULT;": the GUP errno is not passed on.
      const inner = m.why ? `${m.why.fn}: ${m.why.rule}` : `returned ${pinned}`;
      iter.err = m.refuse(
        -EFAULT,
        'process_vm_rw_single_vec',
        `pin_user_pages_remote pinned nothing (${inner}); its errno is replaced by EFAULT`,
      );
      return;
    }
    let bytes = pinned * PAGE_SIZE - start_offset;
    if (bytes > len) bytes = len;
    rc = process_vm_rw_pages(m, caller, process_pages, start_offset, bytes, iter, vm_write);
    len -= bytes;
    start_offset = 0;
    nr_pages -= pinned;
    pa += pinned * PAGE_SIZE;
    // "If vm_write is set, the pages need to be made dirty".
    unpin_user_pages_dirty_lock(m, process_pages, pinned, vm_write);
    process_pages.fill(-1, 0, pinned);
  }
  if (rc) iter.err = rc;
}

/**
 * process_vm_rw_pages(): copy page by page between the pinned target pages and the caller's buffer;
 * a short copy with room left in the caller's buffer is -EFAULT.
 */
function process_vm_rw_pages(
  m: Machine,
  caller: Process,
  pages: Int32Array,
  offset: number,
  len: number,
  iter: Iter,
  vm_write: boolean,
): number {
  // The copy goes through the pinned pages (kmap_local_page()), not the target's page tables.
  for (let j = 0; len && iter.count; j++) {
    const page = pages[j]!;
    let copy = PAGE_SIZE - offset;
    if (copy > len) copy = len;
    const n = Math.min(copy, iter.count);
    // writev: copy_page_from_iter() reads the caller's buffer; readv: copy_page_to_iter() writes it.
    const copied = copyUser(m, caller, iter.addr + iter.copied, n, !vm_write, (pfn) =>
      vm_write ? memcpy_to_page(m, page, pageValue(m, pfn)) : memcpy_to_page(m, pfn, pageValue(m, page)),
    );
    iter.copied += copied;
    iter.count -= copied;
    len -= copied;
    if (copied < copy && iter.count) {
      return m.refuse(-EFAULT, 'process_vm_rw_pages', "the caller's buffer faulted during the copy");
    }
    offset = 0;
  }
  return 0;
}
