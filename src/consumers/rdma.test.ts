// Unit tests for src/consumers/rdma.ts: ib_umem_get() / ib_umem_release() as
// drivers/infiniband/core/umem.c does them: FOLL_LONGTERM (+ FOLL_WRITE for a writable MR),
// pin_user_pages_fast in chunks of 512, mm->pinned_vm charged first against RLIMIT_MEMLOCK (-ENOMEM
// without CAP_IPC_LOCK), all pins released on failure, unpin per scatterlist entry on dereg.

import { describe, it, expect } from 'vitest';
import { Machine } from '../mm/machine.js';
import { type Process } from '../mm/task.js';
import { EFAULT, EINVAL, ENOMEM, EOPNOTSUPP, EPERM } from '../uapi/errno.js';
import { do_mmap } from '../mm/mmap.js';
import { do_madvise } from '../mm/madvise.js';
import { userAccess } from '../mm/user_access.js';
import { PAGE_SIZE, PMD_SIZE } from '../mm/memmap.js';
import { pte_pfn } from '../mm/pgtable.js';
import { folio_maybe_dma_pinned } from '../mm/gup.js';
import { outstanding } from '../scenario/holders.js';
import { kernel_clone } from '../kernel/fork.js';
import { do_exit } from '../kernel/exit.js';
import { IbMr, UMEM_PIN_CHUNK, ib_umem_get, ib_umem_release } from './rdma.js';
import { pins, world } from '../../test/support.js';

function anon(m: Machine, p: Process, npages: number, prot: 'r' | 'rw' = 'rw'): number {
  const addr = do_mmap(m, p, { size: npages * PAGE_SIZE, type: 'anon', prot });
  expect(do_madvise(m, p, addr, npages * PAGE_SIZE, 'nohugepage')).toBe(0);
  if (prot === 'rw') expect(userAccess(m, p, addr, npages * PAGE_SIZE, true)).toBe(0);
  return addr;
}

const pfnAt = (p: Process, addr: number) =>
  pte_pfn(p.mm.pt.pte(addr) || p.mm.pt.pmdLeaf(addr)) + (p.mm.pt.pmdLeaf(addr) ? (addr % PMD_SIZE) / PAGE_SIZE : 0);

function unprivileged(p: Process, memlock: number): void {
  p.capIpcLock = false;
  p.user = 'user';
  p.rlimitMemlock = memlock;
}

describe('ib_umem_get / ib_umem_release (drivers/infiniband/core/umem.c)', () => {
  it('registers with longterm pins (one per page), charges mm->pinned_vm; dereg unpins and uncharges', () => {
    const { m, p } = world();
    const addr = anon(m, p, 256);
    const mr = ib_umem_get(m, p, 'mr', addr, 256 * PAGE_SIZE);
    expect(mr).toBeInstanceOf(IbMr);
    const r = mr as IbMr;
    expect(r.npages).toBe(256);
    expect(r.pins()).toBe(256);
    expect(p.mm.pinned_vm).toBe(256);
    expect(p.mm.has_pinned).toBe(true);
    expect(pins(m)).toEqual({ acquired: 256, released: 0 });
    expect(folio_maybe_dma_pinned(m, m.mem.page_folio(pfnAt(p, addr)))).toBe(true);
    expect(outstanding([r])).toEqual([{ owner: r.name, type: 'mr', process: 'app', pins: 256, refs: 0 }]);
    expect(ib_umem_release(m, r)).toBe(0);
    expect(p.mm.pinned_vm).toBe(0);
    expect(pins(m)).toEqual({ acquired: 256, released: 256 });
    expect(folio_maybe_dma_pinned(m, m.mem.page_folio(pfnAt(p, addr)))).toBe(false);
    // A second dereg of the same MR is refused.
    expect(ib_umem_release(m, r)).toBeLessThan(0);
  });

  it(
    'RLIMIT_MEMLOCK: a non-root process with a 64 KiB limit cannot register 1 MiB (-ENOMEM before any ' +
      'pin); root can',
    () => {
      const { m, p } = world();
      unprivileged(p, 64 << 10);
      const addr = anon(m, p, 256);
      expect(ib_umem_get(m, p, 'mr', addr, 256 * PAGE_SIZE)).toBe(-ENOMEM);
      expect(m.why?.rule).toContain('RLIMIT_MEMLOCK');
      expect(p.mm.pinned_vm).toBe(0);
      expect(pins(m)).toEqual({ acquired: 0, released: 0 });
      // 16 pages fit exactly under the limit (new_pinned > lock_limit is the test).
      const small = ib_umem_get(m, p, 'small', addr, 16 * PAGE_SIZE) as IbMr;
      expect(small).toBeInstanceOf(IbMr);
      expect(p.mm.pinned_vm).toBe(16);
      expect(ib_umem_get(m, p, 'one-more', addr, PAGE_SIZE)).toBe(-ENOMEM);
      ib_umem_release(m, small);
      p.capIpcLock = true;
      const big = ib_umem_get(m, p, 'mr', addr, 256 * PAGE_SIZE) as IbMr;
      expect(big.pins()).toBe(256);
      expect(p.mm.pinned_vm).toBe(256);
    },
  );

  it('can_do_mlock(): RLIMIT_MEMLOCK 0 without CAP_IPC_LOCK -> -EPERM; a zero-length MR -> -EINVAL', () => {
    const { m, p } = world();
    const addr = anon(m, p, 1);
    expect(ib_umem_get(m, p, 'mr', addr, 0)).toBe(-EINVAL);
    unprivileged(p, 0);
    expect(ib_umem_get(m, p, 'mr', addr, PAGE_SIZE)).toBe(-EPERM);
  });

  it('FOLL_WRITE only for a writable MR: a read-only mapping registers read-only, but not writable (-EFAULT)', () => {
    const { m, p } = world();
    const ro = anon(m, p, 4, 'r');
    expect(ib_umem_get(m, p, 'w', ro, 4 * PAGE_SIZE, true)).toBe(-EFAULT);
    expect(p.mm.pinned_vm).toBe(0);
    const mr = ib_umem_get(m, p, 'r', ro, 4 * PAGE_SIZE, false) as IbMr;
    expect(mr).toBeInstanceOf(IbMr);
    // FOLL_LONGTERM R/O pins in a private mapping unshare the zero page into real anon pages.
    expect(pins(m).acquired).toBe(4);
    expect(ib_umem_release(m, mr)).toBe(0);
    expect(pins(m)).toEqual({ acquired: 4, released: 4 });
  });

  it('a failure in a later chunk releases everything pinned so far and gives pinned_vm back', () => {
    const { m, p } = world();
    expect(UMEM_PIN_CHUNK).toBe(512);
    // 600 mapped pages, then the MR runs 100 pages past the VMA.
    const addr = anon(m, p, 600);
    expect(ib_umem_get(m, p, 'mr', addr, 700 * PAGE_SIZE)).toBe(-EFAULT);
    expect(p.mm.pinned_vm).toBe(0);
    // chunk 1: 512; chunk 2: 88 of 188 (partial kept); chunk 3: -EFAULT -> all 600 released.
    expect(pins(m)).toEqual({ acquired: 600, released: 600 });
  });

  it('FOLL_LONGTERM rules: fsdax -> -EOPNOTSUPP; ZONE_MOVABLE pages are migrated before they are pinned', () => {
    const { m, p } = world({ pmem: 16 << 20 });
    const dax = do_mmap(m, p, { size: 4 * PAGE_SIZE, type: 'fsdax' });
    expect(ib_umem_get(m, p, 'dax', dax, 4 * PAGE_SIZE)).toBe(-EOPNOTSUPP);
    expect(p.mm.pinned_vm).toBe(0);

    const w = world({ movable: 1 << 29 });
    const addr = anon(w.m, w.p, 8);
    // User pages come from ZONE_MOVABLE first (GFP_HIGHUSER_MOVABLE).
    expect(w.m.alloc.zoneOf(pfnAt(w.p, addr))).toBe('MOVABLE');
    const mr = ib_umem_get(w.m, w.p, 'mr', addr, 8 * PAGE_SIZE) as IbMr;
    expect(mr).toBeInstanceOf(IbMr);
    expect(w.m.vmstat.get('pgmigrate_success')).toBe(8);
    // Every pin of the first round was dropped for the migration and taken again: 16 acquired, 8 released.
    expect(pins(w.m)).toEqual({ acquired: 16, released: 8 });
    for (let i = 0; i < 8; i++) expect(w.m.alloc.zoneOf(pfnAt(w.p, addr + i * PAGE_SIZE))).not.toBe('MOVABLE');
  });

  it('a THP-backed MR is one scatterlist entry; unpin_user_page_range_dirty_lock releases the folio in one go', () => {
    const { m, p } = world({ thp: 'always' });
    const addr = do_mmap(m, p, { size: PMD_SIZE, type: 'anon', align: PMD_SIZE });
    expect(userAccess(m, p, addr, PMD_SIZE, true)).toBe(0);
    const folio = m.mem.page_folio(pfnAt(p, addr));
    expect(m.mem.folio_nr_pages(folio)).toBe(512);
    const mr = ib_umem_get(m, p, 'mr', addr, PMD_SIZE) as IbMr;
    expect(mr.sg).toEqual([{ page: folio, npages: 512 }]);
    expect(m.mem.folioPincount(folio)).toBe(512);
    ib_umem_release(m, mr);
    expect(m.mem.folioPincount(folio)).toBe(0);
    expect(pins(m)).toEqual({ acquired: 512, released: 512 });
  });

  it(
    "the MR is released when its creator exits (uverbs fd closed), after the address space is gone; a fork child's " +
      'exit does not release it',
    () => {
      const { m, p } = world();
      const addr = anon(m, p, 16);
      const mr = ib_umem_get(m, p, 'mr', addr, 16 * PAGE_SIZE) as IbMr;
      const child = kernel_clone(m, p, 'child') as Process;
      do_exit(m, child);
      expect(mr.pins()).toBe(16);
      const pfn = pfnAt(p, addr);
      do_exit(m, p);
      expect(mr.closed).toBe(true);
      expect(mr.pins()).toBe(0);
      expect(pins(m)).toEqual({ acquired: 16, released: 16 });
      expect(m.mem.refcount[pfn]).toBe(0);
    },
  );
});
