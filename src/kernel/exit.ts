// Models do_exit()'s memory side (kernel/exit.c exit_mm -> mmput -> exit_mmap): every mapping goes;
// folios still pinned by a driver stay allocated until their pins are dropped.

import type { Machine, Process } from './machine.js';
import { exit_mmap } from '../mm/mmap.js';

/** Callbacks run when a process exits (files it held are closed: io_uring rings, RDMA, VFIO). */
export type ExitHook = (p: Process) => void;

export function do_exit(m: Machine, p: Process): void {
  if (!p.alive) return;
  for (const hook of m.exitHooks) hook(p);
  exit_mmap(m, p.mm);
  p.alive = false;
}
