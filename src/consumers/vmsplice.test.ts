// Unit tests for src/consumers/vmsplice.ts: vmsplice(2) of user memory into a pipe takes FOLL_GET
// references with get_user_pages_fast() (gup_flags 0 for a source iterator: lib/iov_iter.c
// __iov_iter_get_pages_alloc), at most 16 pages per batch (fs/splice.c iter_to_pipe), one pipe buffer
// per page up to PIPE_DEF_BUFFERS; the pipe drops the references (put_page) when it is closed.

import { describe, it, expect } from 'vitest';
import { lru_add_drain } from '../mm/swap.js';
import { Machine } from '../mm/machine.js';
import { type Process } from '../mm/task.js';
import { EAGAIN, EBADF, EFAULT } from '../uapi/errno.js';
import { do_mmap } from '../mm/mmap.js';
import { do_madvise } from '../mm/madvise.js';
import { userAccess } from '../mm/user_access.js';
import { PAGE_SIZE } from '../mm/memmap.js';
import { pte_pfn } from '../mm/pgtable.js';
import { kernel_clone } from '../kernel/fork.js';
import { do_exit } from '../kernel/exit.js';
import { PIPE_DEF_BUFFERS, pipeCreate, pipe_release, vmsplice_to_pipe } from './vmsplice.js';
import { pins } from '../../test/support.js';

function world(): { m: Machine; p: Process } {
  const m = new Machine({ memory: 1 << 30 });
  return { m, p: m.spawn('app') };
}

/** Written small pages, with the LRU batch drained (as long after the faults): counts are mappings' and the pipe's. */
function anon(m: Machine, p: Process, npages: number): number {
  const addr = do_mmap(m, p, { size: npages * PAGE_SIZE, type: 'anon' });
  expect(do_madvise(m, p, addr, npages * PAGE_SIZE, 'nohugepage')).toBe(0);
  expect(userAccess(m, p, addr, npages * PAGE_SIZE, true)).toBe(0);
  lru_add_drain(m);
  return addr;
}

const pfnAt = (p: Process, addr: number) => pte_pfn(p.mm.pt.pte(addr));
const refcounts = (m: Machine, p: Process, addr: number, n: number) =>
  Array.from({ length: n }, (_, i) => m.mem.refcount[pfnAt(p, addr + i * PAGE_SIZE)]!);

describe('vmsplice to a pipe (fs/splice.c)', () => {
  it(
    'FOLL_GET, not FOLL_PIN: refcount +1 per page, nr_foll_pin_acquired unchanged, no MMF_HAS_PINNED; close puts ' +
      'every page',
    () => {
      const { m, p } = world();
      const addr = anon(m, p, 8);
      const pipe = pipeCreate(m, 'pipe', p);
      expect(vmsplice_to_pipe(m, p, pipe, addr, 8 * PAGE_SIZE)).toBe(8 * PAGE_SIZE);
      expect(refcounts(m, p, addr, 8)).toEqual(Array(8).fill(2));
      expect(pins(m)).toEqual({ acquired: 0, released: 0 });
      expect(p.mm.has_pinned).toBe(false);
      expect(pipe.refs()).toBe(8);
      expect(pipe.pins()).toBe(0);
      pipe_release(m, pipe);
      expect(refcounts(m, p, addr, 8)).toEqual(Array(8).fill(1));
      expect(pipe.refs()).toBe(0);
    },
  );

  it(
    'a pipe holds PIPE_DEF_BUFFERS (16) pages: 32 pages -> 64 KiB queued; the second batch is taken and put ' +
      'back at once',
    () => {
      const { m, p } = world();
      expect(PIPE_DEF_BUFFERS).toBe(16);
      const addr = anon(m, p, 32);
      const pipe = pipeCreate(m, 'pipe', p);
      expect(vmsplice_to_pipe(m, p, pipe, addr, 32 * PAGE_SIZE)).toBe(16 * PAGE_SIZE);
      expect(refcounts(m, p, addr, 32)).toEqual([...Array(16).fill(2), ...Array(16).fill(1)]);
      // A full pipe: wait_for_space() would block (SPLICE_F_NONBLOCK: -EAGAIN).
      expect(vmsplice_to_pipe(m, p, pipe, addr, PAGE_SIZE)).toBe(-EAGAIN);
      expect(m.why?.fn).toBe('wait_for_space');
      pipe_release(m, pipe);
      expect(vmsplice_to_pipe(m, p, pipe, addr, PAGE_SIZE)).toBe(-EBADF);
    },
  );

  it('an unaligned range spans its pages: 4096 bytes from offset 100 -> two buffers (3996 + 100 bytes)', () => {
    const { m, p } = world();
    const addr = anon(m, p, 2);
    const pipe = pipeCreate(m, 'pipe', p);
    expect(vmsplice_to_pipe(m, p, pipe, addr + 100, PAGE_SIZE)).toBe(PAGE_SIZE);
    expect(pipe.bufs.map((b) => [b.offset, b.len])).toEqual([
      [100, PAGE_SIZE - 100],
      [0, 100],
    ]);
    expect(refcounts(m, p, addr, 2)).toEqual([2, 2]);
  });

  it(
    "no FOLL_WRITE: a read-only mapping can be spliced; an unmapped range gives GUP's -EFAULT with " + 'nothing queued',
    () => {
      const { m, p } = world();
      const ro = do_mmap(m, p, { size: 2 * PAGE_SIZE, type: 'anon', prot: 'r' });
      const pipe = pipeCreate(m, 'pipe', p);
      // Unpopulated: GUP read-faults the zero page in; FOLL_GET references it like any page.
      expect(vmsplice_to_pipe(m, p, pipe, ro, 2 * PAGE_SIZE)).toBe(2 * PAGE_SIZE);
      expect(vmsplice_to_pipe(m, p, pipe, 0x10000, PAGE_SIZE)).toBe(-EFAULT);
      expect(pipe.refs()).toBe(2);
      pipe_release(m, pipe);
    },
  );

  it('a partly mapped range queues what GUP returned and stops (short count)', () => {
    const { m, p } = world();
    const addr = anon(m, p, 3);
    const pipe = pipeCreate(m, 'pipe', p);
    // Three mapped pages and then whatever follows the VMA (nothing): only 3 pages.
    expect(vmsplice_to_pipe(m, p, pipe, addr, 5 * PAGE_SIZE)).toBe(3 * PAGE_SIZE);
    expect(pipe.refs()).toBe(3);
  });

  it(
    "references do not stop COW: after fork, the parent's write copies the page and the pipe keeps " + 'the old one',
    () => {
      const { m, p } = world();
      const addr = anon(m, p, 1);
      const pipe = pipeCreate(m, 'pipe', p);
      expect(vmsplice_to_pipe(m, p, pipe, addr, PAGE_SIZE)).toBe(PAGE_SIZE);
      const old = pfnAt(p, addr);
      // A FOLL_GET reference is not a pin: fork shares the page instead of copying it early.
      const child = kernel_clone(m, p, 'child') as Process;
      expect(pfnAt(child, addr)).toBe(old);
      expect(userAccess(m, p, addr, PAGE_SIZE, true)).toBe(0);
      expect(pfnAt(p, addr)).not.toBe(old);
      expect(pipe.bufs[0]!.page).toBe(old);
      expect(m.mem.refcount[old]).toBe(2); // the child's mapping + the pipe
    },
  );

  it("the pipe is closed at its creator's exit (references dropped); a fork child's exit does not close it", () => {
    const { m, p } = world();
    const addr = anon(m, p, 4);
    const pipe = pipeCreate(m, 'pipe', p);
    expect(vmsplice_to_pipe(m, p, pipe, addr, 4 * PAGE_SIZE)).toBe(4 * PAGE_SIZE);
    const child = kernel_clone(m, p, 'child') as Process;
    do_exit(m, child);
    expect(pipe.refs()).toBe(4);
    const pfns = Array.from({ length: 4 }, (_, i) => pfnAt(p, addr + i * PAGE_SIZE));
    do_exit(m, p);
    expect(pipe.closed).toBe(true);
    expect(pipe.refs()).toBe(0);
    // exit_mmap dropped the mappings first, then the pipe's put_page freed the pages.
    for (const pfn of pfns) expect(m.mem.refcount[pfn]).toBe(0);
  });

  it('zero length -> 0, nothing taken', () => {
    const { m, p } = world();
    const addr = anon(m, p, 1);
    const pipe = pipeCreate(m, 'pipe', p);
    expect(vmsplice_to_pipe(m, p, pipe, addr, 0)).toBe(0);
    expect(refcounts(m, p, addr, 1)).toEqual([1]);
  });
});
