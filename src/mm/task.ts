// Models the parts of struct task_struct (include/linux/sched.h) that mm/ and the GUP paths read:
// the task's mm, a pending fatal signal, its RLIMIT_MEMLOCK and CAP_IPC_LOCK, its user, and its open
// files (task->files). gupsim names each process; kernel/fork.ts and kernel/exit.ts give it a life.

import type { MmStruct } from './mm_types.js';

/** What a task's file descriptor points at (struct file): shared by every task holding an fd for it. */
export interface OpenFile {
  /** f_count: how many fds (across tasks) refer to it. */
  refs: number;
  /** f_op->release(), run when the last fd is closed. */
  release: () => void;
}

export class Process {
  alive = true;
  /** A fatal signal is pending: GUP slow paths return -EINTR (fatal_signal_pending()). */
  fatalSignalPending = false;
  /** RLIMIT_MEMLOCK in bytes. */
  rlimitMemlock: number;
  /** CAP_IPC_LOCK (root has it): memlock limits do not apply. Scenario processes run as root by
   *  default, like the probe on CI; a scenario can make one unprivileged. */
  capIpcLock = true;
  /** The user (user_struct) io_uring charges locked_vm to. */
  user = 'root';
  /** task->files: the consumer objects (rings, pipes, device files) this task holds an fd for. */
  readonly files = new Map<object, OpenFile>();
  constructor(
    readonly pid: number,
    readonly name: string,
    readonly mm: MmStruct,
    memlock: number,
  ) {
    this.rlimitMemlock = memlock;
  }
}
