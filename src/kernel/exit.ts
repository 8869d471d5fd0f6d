// Models do_exit()'s memory side (kernel/exit.c exit_mm -> mmput -> exit_mmap, then exit_files): every
// mapping goes; folios still pinned by a driver stay allocated until their pins are dropped, which
// happens when the process's files close (io_uring rings, RDMA and VFIO fds, pipes, HMM mirrors).

import { exit_files } from './file_table.js';
import type { Machine } from '../mm/machine.js';
import type { Process } from '../mm/task.js';
import { exit_mmap } from '../mm/mmap.js';

/** Callbacks run when a process exits (files it held are closed: io_uring rings, RDMA, VFIO). */
export type ExitHook = (p: Process) => void;

export function do_exit(m: Machine, p: Process): void {
  if (!p.alive) return;
  // do_exit() calls exit_mm() before exit_files(): the address space is torn down first (an HMM
  // mirror sees the unmap), then the files close and their drivers drop what they pinned.
  exit_mmap(m, p.mm);
  p.alive = false;
  for (const hook of m.exitHooks) hook(p);
  exit_files(p);
}
