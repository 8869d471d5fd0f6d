// Models fs/splice.c vmsplice(2) into a pipe (vmsplice_to_pipe(), iter_to_pipe(), add_to_pipe()) with
// lib/iov_iter.c __iov_iter_get_pages_alloc() and fs/pipe.c (pipe_buf_release(), free_pipe_info()):
// the user pages are taken with get_user_pages_fast() — plain FOLL_GET references, no pins, no
// nr_foll_pin_* counts, no MMF_HAS_PINNED — and the pipe holds them until it is read or closed.
// Read from upstream fs/splice.c (iter_to_pipe with iov_iter_get_pages2(from, pages, ~0UL, 16, ..))
// and lib/iov_iter.c (gregkh/linux): a source iterator (ITER_SOURCE, what vmsplice builds from a
// write-end fd) gets gup_flags 0, so not even FOLL_WRITE.

import { fd_install } from '../kernel/file_table.js';
import type { Machine } from '../mm/machine.js';
import type { Process } from '../mm/task.js';
import { Holder, type HeldFrame } from './holder.js';
import { EAGAIN, EBADF } from '../uapi/errno.js';
import { NO_PFN, PAGE_SIZE } from '../mm/memmap.js';
import { get_user_pages_fast, put_page } from '../mm/gup.js';
import { memcpy_from_page } from '../mm/highmem.js';

/** PIPE_DEF_BUFFERS: a new pipe has 16 slots (pipe->max_usage), one page reference each. */
export const PIPE_DEF_BUFFERS = 16;

/** struct pipe_buffer for a spliced user page (user_page_pipe_buf_ops). */
export interface PipeBuffer {
  page: number;
  /** gupsim: the user address the page was spliced from (the kernel does not keep it). */
  addr: number;
  offset: number;
  len: number;
}

/** A pipe (both ends, opened by `owner`) holding FOLL_GET references to spliced user pages. */
export class Pipe extends Holder {
  readonly type = 'pipe' as const;
  readonly bufs: PipeBuffer[] = [];
  /** pipe->max_usage. */
  max_usage = PIPE_DEF_BUFFERS;
  constructor(name: string, owner: Process) {
    super(name, owner);
  }
  pins(): number {
    return 0;
  }
  refs(): number {
    return this.bufs.length;
  }
  /** One reference per pipe buffer. */
  frames(): HeldFrame[] {
    return this.bufs.map((b) => ({ addr: b.addr, pfn: b.page, pages: 1, pins: 0, refs: 1 }));
  }
  /** Bytes queued in the pipe. */
  get bytes(): number {
    return this.bufs.reduce((s, b) => s + b.len, 0);
  }
}

/**
 * pipe(2): a pipe whose fds the creator holds. Fork children share them; the buffers are released
 * (pipe_release()) when the last fd is closed, by close or at exit (exit_files()).
 */
export function pipeCreate(m: Machine, name: string, owner: Process): Pipe {
  const pipe = new Pipe(name, owner);
  fd_install(owner, pipe, () => pipe_release(m, pipe));
  return pipe;
}

/**
 * pipe_release() -> free_pipe_info(): every buffer is released; for spliced user pages that is
 * put_page() (user_page_pipe_buf_ops .release = page_cache_pipe_buf_release).
 */
export function pipe_release(m: Machine, pipe: Pipe): void {
  for (const b of pipe.bufs) put_page(m, b.page);
  pipe.bufs.length = 0;
  pipe.closed = true;
}

/** pipe_full(): head - tail >= limit. */
function pipe_full(pipe: Pipe): boolean {
  return pipe.bufs.length >= pipe.max_usage;
}

/**
 * add_to_pipe(): queue one buffer and return its length, or -EAGAIN when the pipe is full (the buffer
 * is released: put_page). A pipe always has its read end here, so -EPIPE cannot happen.
 */
function add_to_pipe(m: Machine, pipe: Pipe, buf: PipeBuffer): number {
  if (pipe_full(pipe)) {
    put_page(m, buf.page);
    return -EAGAIN;
  }
  pipe.bufs.push(buf);
  return buf.len;
}

/**
 * vmsplice(2) of [addr, addr + len) of `p` into `pipe` (SPLICE_F_NONBLOCK semantics: the model never
 * blocks). Returns the bytes queued — a short count when the pipe fills up — or -errno when nothing
 * was: -EBADF (pipe closed), -EAGAIN (pipe already full: wait_for_space() would block), or the errno
 * get_user_pages_fast() returned (-EFAULT for an unmapped or PROT_NONE range). A zero length returns 0.
 *
 * Each page costs one reference (refcount + 1) and nothing else: a later write fault in `p` may COW
 * the page away, and the pipe keeps the old one.
 *
 * @see fs/splice.c vmsplice_to_pipe(), iter_to_pipe(); lib/iov_iter.c __iov_iter_get_pages_alloc()
 */
export function vmsplice_to_pipe(m: Machine, p: Process, pipe: Pipe, addr: number, len: number): number {
  m.why = undefined;
  if (pipe.closed) return m.refuse(-EBADF, 'vmsplice', 'the pipe has been closed');
  // SYSCALL_DEFINE4(vmsplice): "if (!iov_iter_count(&iter)) error = 0".
  if (len === 0) return 0;
  // wait_for_space(): a full pipe blocks, or -EAGAIN with SPLICE_F_NONBLOCK.
  if (pipe_full(pipe))
    return m.refuse(-EAGAIN, 'wait_for_space', 'the pipe is full (vmsplice would block until a reader drains it)');
  return iter_to_pipe(m, p, pipe, addr, len);
}

/** iter_to_pipe(): batches of up to 16 pages, each page one pipe buffer. */
function iter_to_pipe(m: Machine, p: Process, pipe: Pipe, addr: number, count: number): number {
  let total = 0;
  let ret = 0;
  const pages = new Int32Array(16);
  let pos = addr;
  out: while (count) {
    // __iov_iter_get_pages_alloc(): gup_flags 0 for a source iterator; n = want_pages_array().
    let start = pos % PAGE_SIZE;
    const base = pos - start;
    const n = Math.min(16, Math.ceil((start + count) / PAGE_SIZE));
    pages.fill(NO_PFN);
    const res = get_user_pages_fast(m, p, base, n, 0, pages);
    if (res <= 0) {
      ret = res;
      break;
    }
    let left = Math.min(count, res * PAGE_SIZE - start);
    const got = Math.ceil((left + start) / PAGE_SIZE);
    for (let i = 0; i < got; i++) {
      const size = Math.min(left, PAGE_SIZE - start);
      const r = add_to_pipe(m, pipe, { page: pages[i]!, addr: base + i * PAGE_SIZE, offset: start, len: size });
      if (r < 0) {
        // "this one got dropped by add_to_pipe()"; the rest of the batch is put back.
        ret = r;
        for (let j = i + 1; j < got; j++) put_page(m, pages[j]!);
        break out;
      }
      total += r;
      pos += r;
      count -= r;
      left -= size;
      start = 0;
    }
  }
  return total ? total : ret;
}

/**
 * read(2) of `len` bytes from the pipe by `p` (fs/pipe.c pipe_read(), O_NONBLOCK: an empty pipe is
 * -EAGAIN): each buffer is copied out from its page as the page is now (copy_page_to_iter() at read
 * time: a vmspliced page shows what its owner wrote after the vmsplice, unless a COW gave the owner
 * another page), and a buffer read to its end is released (put_page()). Returns the bytes read and
 * the value of each page read from, or -EBADF (`p` has no fd for the pipe) / -EAGAIN.
 */
export function pipe_read(m: Machine, p: Process, pipe: Pipe, len: number): { ret: number; data: number[] } {
  m.why = undefined;
  if (pipe.closed || !p.files.has(pipe))
    return { ret: m.refuse(-EBADF, 'pipe_read', `${p.name} has no open fd for the pipe`), data: [] };
  if (pipe.bufs.length === 0)
    return {
      ret: m.refuse(-EAGAIN, 'pipe_read', 'the pipe is empty (O_NONBLOCK: a blocking read would wait)'),
      data: [],
    };
  const data: number[] = [];
  let total = 0;
  while (total < len && pipe.bufs.length) {
    const b = pipe.bufs[0]!;
    const chars = Math.min(b.len, len - total);
    data.push(memcpy_from_page(m, b.page));
    total += chars;
    b.offset += chars;
    b.len -= chars;
    if (b.len === 0) {
      pipe.bufs.shift();
      put_page(m, b.page);
    }
  }
  return { ret: total, data };
}
