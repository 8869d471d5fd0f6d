// Models the file descriptors that keep a consumer's kernel object alive (struct files_struct with
// fget/fput): fork duplicates every fd into the child (dup_fd()), exit closes them (exit_files()),
// and the object's f_op->release runs only when its last fd is closed. An io_uring ring or a pipe
// inherited by a fork child therefore outlives its creator.

import type { Process } from './machine.js';

interface OpenFile {
  refs: number;
  release: () => void;
}

export class FileTable {
  private readonly byProc = new Map<Process, Set<object>>();
  private readonly files = new Map<object, OpenFile>();

  /** fd_install(): `p` now holds an fd for `obj`; `release` runs when the last one closes. */
  fd_install(p: Process, obj: object, release: () => void): void {
    let set = this.byProc.get(p);
    if (!set) this.byProc.set(p, (set = new Set()));
    if (set.has(obj)) return;
    set.add(obj);
    const f = this.files.get(obj);
    if (f) f.refs++;
    else this.files.set(obj, { refs: 1, release });
  }

  /** dup_fd() at fork: the child gets a copy of every fd of the parent. */
  dup_fds(parent: Process, child: Process): void {
    const set = this.byProc.get(parent);
    if (!set) return;
    for (const obj of set) this.fd_install(child, obj, this.files.get(obj)!.release);
  }

  /** close(2): false when `p` holds no fd for `obj` (-EBADF); the object is released with its last fd. */
  close_fd(p: Process, obj: object): boolean {
    const set = this.byProc.get(p);
    if (!set?.delete(obj)) return false;
    const f = this.files.get(obj)!;
    if (--f.refs === 0) {
      this.files.delete(obj);
      f.release();
    }
    return true;
  }

  /** exit_files(): every fd of an exiting process is closed. */
  exit_files(p: Process): void {
    const set = this.byProc.get(p);
    if (!set) return;
    for (const obj of [...set]) this.close_fd(p, obj);
    this.byProc.delete(p);
  }

  /** How many processes hold an fd for `obj` (0: released or never installed). */
  holders(obj: object): number {
    return this.files.get(obj)?.refs ?? 0;
  }
}
