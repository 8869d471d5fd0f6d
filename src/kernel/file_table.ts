// Models the file descriptors that keep a consumer's kernel object alive (struct files_struct with
// fget/fput, fs/file.c): fork duplicates every fd into the child (dup_fd()), exit closes them
// (exit_files()), and the object's f_op->release runs only when its last fd is closed. An io_uring
// ring or a pipe inherited by a fork child therefore outlives its creator.

import type { Process } from '../mm/task.js';

/** fd_install(): `p` now holds an fd for `obj`; `release` runs when the last one closes. */
export function fd_install(p: Process, obj: object, release: () => void): void {
  if (p.files.has(obj)) return;
  p.files.set(obj, { refs: 1, release });
}

/** dup_fd() at fork: the child gets a copy of every fd of the parent (one more f_count each). */
export function dup_fd(parent: Process, child: Process): void {
  for (const [obj, f] of parent.files) {
    if (child.files.has(obj)) continue;
    f.refs++;
    child.files.set(obj, f);
  }
}

/** close(2): false when `p` holds no fd for `obj` (-EBADF); the object is released with its last fd. */
export function close_fd(p: Process, obj: object): boolean {
  const f = p.files.get(obj);
  if (!f) return false;
  p.files.delete(obj);
  if (--f.refs === 0) f.release();
  return true;
}

/** exit_files(): every fd of an exiting process is closed. */
export function exit_files(p: Process): void {
  for (const obj of [...p.files.keys()]) close_fd(p, obj);
}

/** How many fds (in all processes) refer to `obj` through `p`'s entry (0: `p` holds none). */
export function file_count(p: Process, obj: object): number {
  return p.files.get(obj)?.refs ?? 0;
}
