// Unit tests for src/consumers/io_uring.ts: IORING_REGISTER_BUFFERS as io_uring/rsrc.c does it:
// pin_user_pages_fast(FOLL_WRITE | FOLL_LONGTERM), all or nothing, coalescing to one pin per large
// folio, RLIMIT_MEMLOCK charged after pinning (-ENOMEM without CAP_IPC_LOCK, pins dropped), the
// io_validate_user_buf_range() limits, the LONGTERM refusals, and release when the ring's creator exits.

import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { Machine } from '../mm/machine.js';
import { type Process } from '../mm/task.js';
import { EBUSY, EFAULT, EINVAL, ENOMEM, ENXIO, EOPNOTSUPP } from '../uapi/errno.js';
import { do_mmap } from '../mm/mmap.js';
import { do_madvise } from '../mm/madvise.js';
import { userAccess } from '../mm/user_access.js';
import { PAGE_SIZE, PMD_SIZE } from '../mm/memmap.js';
import { pte_pfn } from '../mm/pgtable.js';
import { kernel_clone } from '../kernel/fork.js';
import { do_exit } from '../kernel/exit.js';
import {
  IoRing,
  IORING_SETUP_ENTRIES,
  ioRingPages,
  io_uring_setup,
  io_sqe_buffers_register,
  io_sqe_buffers_unregister,
  io_uring_release,
} from './io_uring.js';
import { userLockedVm } from './memlock.js';
import { pins, world } from '../../test/support.js';

function anon(m: Machine, p: Process, npages: number): number {
  const addr = do_mmap(m, p, { size: npages * PAGE_SIZE, type: 'anon' });
  expect(do_madvise(m, p, addr, npages * PAGE_SIZE, 'nohugepage')).toBe(0);
  expect(userAccess(m, p, addr, npages * PAGE_SIZE, true)).toBe(0);
  return addr;
}

describe('io_uring registered buffers (io_uring/rsrc.c)', () => {
  it(
    'RLIMIT_MEMLOCK: a non-root process with memlock 64K cannot register 1 MiB: pinned, charge refused, ' +
      'unpinned, -ENOMEM',
    () => {
      const { m, p } = world();
      p.capIpcLock = false;
      p.user = 'user';
      p.rlimitMemlock = 64 << 10;
      const ring = new IoRing('ring', p);
      expect(ring.accountUser).toBe(true);
      const addr = anon(m, p, 256);
      expect(io_sqe_buffers_register(m, ring, [{ base: addr, len: 256 * PAGE_SIZE }])).toBe(-ENOMEM);
      expect(m.why?.fn).toBe('__io_account_mem');
      expect(pins(m)).toEqual({ acquired: 256, released: 256 });
      expect(ring.bufs.length).toBe(0);
      expect(userLockedVm(m, p)).toBe(0);
      expect(p.mm.pinned_vm).toBe(0);
      // 64 KiB fits: 16 pages charged to the user's locked_vm and the mm's pinned_vm.
      expect(io_sqe_buffers_register(m, ring, [{ base: addr, len: 16 * PAGE_SIZE }])).toBe(0);
      expect(userLockedVm(m, p)).toBe(16);
      expect(p.mm.pinned_vm).toBe(16);
      expect(io_sqe_buffers_unregister(m, ring)).toBe(0);
      expect(userLockedVm(m, p)).toBe(0);
      expect(io_sqe_buffers_unregister(m, ring)).toBe(-ENXIO);
    },
  );

  it('each buffer keeps its own bvec table: the frames it pinned, whatever was registered or released since', () => {
    const { m, p } = world();
    const ring = new IoRing('ring', p);
    const a = anon(m, p, 256);
    const b = anon(m, p, 3);
    expect(
      io_sqe_buffers_register(m, ring, [
        { base: a, len: 256 * PAGE_SIZE },
        { base: b, len: 3 * PAGE_SIZE },
      ]),
    ).toBe(0);
    const want = ring.bufs.map((u) => [...u.bvecPages]);
    expect(want.map((w) => w.length)).toEqual([256, 3]);
    expect(new Set(want.flat()).size).toBe(259);
    // Another ring registers and unregisters many buffers: the first ring's tables stay as they were.
    const other = new IoRing('other', p);
    for (let k = 0; k < 300; k++) {
      expect(io_sqe_buffers_register(m, other, [{ base: a, len: 256 * PAGE_SIZE }])).toBe(0);
      expect(io_sqe_buffers_unregister(m, other)).toBe(0);
    }
    expect(ring.bufs.map((u) => [...u.bvecPages])).toEqual(want);
  });

  it('root (CAP_IPC_LOCK) is not charged to the user and not limited', () => {
    const { m, p } = world();
    p.rlimitMemlock = 64 << 10;
    const ring = new IoRing('ring', p);
    expect(ring.accountUser).toBe(false);
    const addr = anon(m, p, 256);
    expect(io_sqe_buffers_register(m, ring, [{ base: addr, len: 256 * PAGE_SIZE }])).toBe(0);
    expect(userLockedVm(m, p)).toBe(0);
    expect(p.mm.pinned_vm).toBe(256);
  });

  it('io_validate_user_buf_range(): length 0 or above 1 GiB -> -EFAULT before anything is pinned', () => {
    const { m, p } = world();
    const ring = new IoRing('ring', p);
    const big = do_mmap(m, p, { size: (1 << 30) + PAGE_SIZE, type: 'anon' });
    expect(big).toBeGreaterThan(0);
    expect(io_sqe_buffers_register(m, ring, [{ base: big, len: (1 << 30) + PAGE_SIZE }])).toBe(-EFAULT);
    expect(m.why?.fn).toBe('io_validate_user_buf_range');
    expect(io_sqe_buffers_register(m, ring, [{ base: big, len: 0 }])).toBe(-EFAULT);
    expect(pins(m)).toEqual({ acquired: 0, released: 0 });
  });

  it('FOLL_LONGTERM refusals: fsdax -> -EOPNOTSUPP; a MAP_SHARED file of a disk file system -> -EFAULT', () => {
    const { m, p } = world({ pmem: 16 << 20 });
    const ring = new IoRing('ring', p);
    const dax = do_mmap(m, p, { size: 4 * PAGE_SIZE, type: 'fsdax' });
    expect(io_sqe_buffers_register(m, ring, [{ base: dax, len: 4 * PAGE_SIZE }])).toBe(-EOPNOTSUPP);
    const file = m.newFile('disk', 'data', 4);
    const shared = do_mmap(m, p, { size: 4 * PAGE_SIZE, type: 'file', file, shared: true });
    expect(userAccess(m, p, shared, 4 * PAGE_SIZE, true)).toBe(0);
    expect(io_sqe_buffers_register(m, ring, [{ base: shared, len: 4 * PAGE_SIZE }])).toBe(-EFAULT);
    expect(m.why?.rule).toContain('writable_file_mapping_allowed');
    // A private mapping of the same file is fine (its written pages are anon COW copies).
    const priv = do_mmap(m, p, { size: 4 * PAGE_SIZE, type: 'file', file, shared: false });
    expect(userAccess(m, p, priv, 4 * PAGE_SIZE, true)).toBe(0);
    expect(io_sqe_buffers_register(m, ring, [{ base: priv, len: 4 * PAGE_SIZE }])).toBe(0);
    expect(pins(m).acquired - pins(m).released).toBe(4);
  });

  it('a partial pin is refused: what was pinned is unpinned and the call fails with -EFAULT', () => {
    const { m, p } = world();
    const ring = new IoRing('ring', p);
    const addr = anon(m, p, 8);
    expect(io_sqe_buffers_register(m, ring, [{ base: addr, len: 16 * PAGE_SIZE }])).toBe(-EFAULT);
    expect(pins(m)).toEqual({ acquired: 8, released: 8 });
  });

  it('a PMD-mapped THP buffer keeps one pin per folio: 2 MiB -> acquired 512, released 511, _pincount 1', () => {
    const { m, p } = world({ thp: 'always' });
    const ring = new IoRing('ring', p);
    const addr = do_mmap(m, p, { size: PMD_SIZE, type: 'anon', align: PMD_SIZE });
    expect(userAccess(m, p, addr, PMD_SIZE, true)).toBe(0);
    expect(io_sqe_buffers_register(m, ring, [{ base: addr, len: PMD_SIZE }])).toBe(0);
    expect(pins(m)).toEqual({ acquired: 512, released: 511 });
    const folio = pte_pfn(p.mm.pt.pmdLeaf(addr));
    expect(m.mem.folioPincount(folio)).toBe(1);
    expect(ring.pins()).toBe(1);
  });

  it(
    'the ring fd is shared with a fork child: buffers are unregistered when its last holder exits (exit_files -> ' +
      'io_uring_release)',
    () => {
      const { m, p } = world();
      const ring = io_uring_setup(m, 'ring', p) as IoRing;
      const addr = anon(m, p, 16);
      expect(io_sqe_buffers_register(m, ring, [{ base: addr, len: 16 * PAGE_SIZE }])).toBe(0);
      const child = kernel_clone(m, p, 'child') as Process;
      do_exit(m, child);
      expect(ring.pins()).toBe(16);
      do_exit(m, p);
      expect(ring.pins()).toBe(0);
      expect(pins(m)).toEqual({ acquired: 16, released: 16 });
      expect(p.mm.pinned_vm).toBe(0);
      // Releasing a released ring is a no-op.
      io_uring_release(m, ring);
      expect(pins(m)).toEqual({ acquired: 16, released: 16 });
    },
  );
  it('the creator exiting first leaves the ring to the child, which releases it at its exit', () => {
    const { m, p } = world();
    const ring = io_uring_setup(m, 'ring', p) as IoRing;
    const addr = anon(m, p, 16);
    expect(io_sqe_buffers_register(m, ring, [{ base: addr, len: 16 * PAGE_SIZE }])).toBe(0);
    const child = kernel_clone(m, p, 'child') as Process;
    do_exit(m, p);
    expect(ring.pins()).toBe(16);
    expect(pins(m)).toEqual({ acquired: 16, released: 0 });
    do_exit(m, child);
    expect(pins(m)).toEqual({ acquired: 16, released: 16 });
  });
  it('io_uring_setup charges the ring memory to an unprivileged user (io_create_region -> __io_account_mem)', () => {
    const { m, p } = world();
    p.capIpcLock = false;
    p.user = 'user';
    p.rlimitMemlock = 8 << 10;
    expect(ioRingPages(IORING_SETUP_ENTRIES)).toBe(2);
    const ring = io_uring_setup(m, 'ring', p) as IoRing;
    expect(userLockedVm(m, p)).toBe(2);
    // The limit is reached: a second ring cannot be created.
    expect(io_uring_setup(m, 'ring2', p)).toBe(-ENOMEM);
    do_exit(m, p);
    expect(ring.closed).toBe(true);
    expect(userLockedVm(m, p)).toBe(0);
  });
  it(
    'one table per ring: a second registration is -EBUSY, no iovecs is -EINVAL, an all-sparse table counts ' +
      '(io_sqe_buffers_register)',
    () => {
      const { m, p } = world();
      const ring = new IoRing('ring', p);
      const addr = anon(m, p, 4);
      expect(io_sqe_buffers_register(m, ring, [])).toBe(-EINVAL);
      expect(io_sqe_buffers_register(m, ring, [{ base: addr, len: 4 * PAGE_SIZE }])).toBe(0);
      expect(io_sqe_buffers_register(m, ring, [{ base: addr, len: 4 * PAGE_SIZE }])).toBe(-EBUSY);
      expect(pins(m)).toEqual({ acquired: 4, released: 0 });
      expect(io_sqe_buffers_unregister(m, ring)).toBe(0);
      // Sparse slots only: a table of 2 empty slots is installed; unregister succeeds once.
      expect(
        io_sqe_buffers_register(m, ring, [
          { base: 0, len: 0 },
          { base: 0, len: 0 },
        ]),
      ).toBe(0);
      expect(io_sqe_buffers_register(m, ring, [{ base: addr, len: PAGE_SIZE }])).toBe(-EBUSY);
      expect(io_sqe_buffers_unregister(m, ring)).toBe(0);
      expect(io_sqe_buffers_unregister(m, ring)).toBe(-ENXIO);
    },
  );

  it(
    'a THP reached again after another THP in the same registration is charged twice (last_hpage only; the table is ' +
      'not installed yet)',
    () => {
      const { m, p } = world({ thp: 'always' });
      p.capIpcLock = false;
      p.user = 'user';
      p.rlimitMemlock = 1 << 30;
      const ring = new IoRing('ring', p);
      const addr = do_mmap(m, p, { size: 2 * PMD_SIZE, type: 'anon', align: PMD_SIZE });
      expect(userAccess(m, p, addr, 2 * PMD_SIZE, true)).toBe(0);
      const half = PMD_SIZE / 2;
      expect(
        io_sqe_buffers_register(m, ring, [
          { base: addr, len: half },
          { base: addr + PMD_SIZE, len: PMD_SIZE },
          { base: addr + half, len: half },
        ]),
      ).toBe(0);
      expect(userLockedVm(m, p)).toBe(3 * 512);
      expect(p.mm.pinned_vm).toBe(3 * 512);
      expect(io_sqe_buffers_unregister(m, ring)).toBe(0);
      expect(userLockedVm(m, p)).toBe(0);
      expect(p.mm.pinned_vm).toBe(0);
      // Two consecutive halves of one THP: last_hpage matches, charged once.
      expect(
        io_sqe_buffers_register(m, ring, [
          { base: addr, len: half },
          { base: addr + half, len: half },
        ]),
      ).toBe(0);
      expect(userLockedVm(m, p)).toBe(512);
    },
  );

  it("io_buffer_account_pin() charges what the kernel's scan charges, large folios in any PFN order", () => {
    // 64 KiB chunks faulted in a random order (so their folios' PFNs are out of order), some of base pages:
    // a buffer that is not coalesced, charged page by page (PageCompound: the folio's size, once).
    const chunk = 16;
    fc.assert(
      fc.property(
        fc.array(fc.boolean(), { minLength: 2, maxLength: 12 }),
        fc.array(fc.nat(), { minLength: 12, maxLength: 12 }),
        (large, keys) => {
          const m = new Machine({ memory: 64 << 20, thp: 'never', mthp: { '64K': 'always' } });
          const p = m.spawn('app');
          p.capIpcLock = false;
          p.user = 'user';
          p.rlimitMemlock = 1 << 30;
          const n = large.length;
          const addr = do_mmap(m, p, { size: n * chunk * PAGE_SIZE, type: 'anon', align: chunk * PAGE_SIZE });
          large.forEach((l, c) => {
            if (!l) do_madvise(m, p, addr + c * chunk * PAGE_SIZE, chunk * PAGE_SIZE, 'nohugepage');
          });
          const order = large.map((_, c) => c).sort((a, b) => keys[a]! - keys[b]! || a - b);
          for (const c of order) userAccess(m, p, addr + c * chunk * PAGE_SIZE, chunk * PAGE_SIZE, true);
          // The kernel's scan over the pages: last_hpage, then the earlier pages of this buffer.
          const pfns = Array.from({ length: n * chunk }, (_, i) => pte_pfn(p.mm.pt.pte(addr + i * PAGE_SIZE)));
          let expected = 0;
          let last = -1;
          pfns.forEach((pfn, i) => {
            const folio = m.mem.page_folio(pfn);
            if (!m.mem.folio_test_large(folio)) return void expected++;
            const prev = last;
            last = folio;
            if (folio === prev) return;
            if (pfns.slice(0, i).some((q) => m.mem.page_folio(q) === folio)) return;
            expected += m.mem.folio_nr_pages(folio);
          });
          const ring = new IoRing('ring', p);
          expect(io_sqe_buffers_register(m, ring, [{ base: addr, len: n * chunk * PAGE_SIZE }])).toBe(0);
          expect(userLockedVm(m, p)).toBe(expected);
          expect(io_sqe_buffers_unregister(m, ring)).toBe(0);
          expect(userLockedVm(m, p)).toBe(0);
        },
      ),
      { numRuns: 60 },
    );
  });
});
