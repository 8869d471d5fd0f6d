// Unit tests for src/consumers/vfio.ts: VFIO type1 VFIO_IOMMU_MAP_DMA / UNMAP_DMA as
// drivers/vfio/vfio_iommu_type1.c does them: pin_user_pages_remote(FOLL_LONGTERM [| FOLL_WRITE]) in
// batches of 512, mm->locked_vm charged against RLIMIT_MEMLOCK (-ENOMEM without CAP_IPC_LOCK),
// VM_PFNMAP ranges mapped by PFN without pins, all or nothing, unpin (dirty if IOMMU_WRITE) on unmap.

import { describe, it, expect } from 'vitest';
import { Machine, type MachineConfig } from '../mm/machine.js';
import { type Process } from '../mm/task.js';
import { EEXIST, EFAULT, EINVAL, ENOMEM } from '../uapi/errno.js';
import { do_mmap } from '../mm/mmap.js';
import { do_madvise } from '../mm/madvise.js';
import { userAccess } from '../mm/user_access.js';
import { PAGE_SIZE } from '../mm/memmap.js';
import { pte_pfn } from '../mm/pgtable.js';
import { folio_maybe_dma_pinned } from '../mm/gup.js';
import { kernel_clone } from '../kernel/fork.js';
import { do_exit } from '../kernel/exit.js';
import { VFIO_BATCH_MAX_CAPACITY, VfioDma, vfio_dma_do_map, vfio_dma_do_unmap } from './vfio.js';
import { pins } from '../../test/support.js';

function world(cfg: Partial<MachineConfig> = {}): { m: Machine; p: Process } {
  const m = new Machine({ memory: 1 << 30, ...cfg });
  return { m, p: m.spawn('vmm') };
}

function anon(m: Machine, p: Process, npages: number, prot: 'r' | 'rw' = 'rw'): number {
  const addr = do_mmap(m, p, { size: npages * PAGE_SIZE, type: 'anon', prot });
  expect(do_madvise(m, p, addr, npages * PAGE_SIZE, 'nohugepage')).toBe(0);
  if (prot === 'rw') expect(userAccess(m, p, addr, npages * PAGE_SIZE, true)).toBe(0);
  return addr;
}

const pfnAt = (p: Process, addr: number) => pte_pfn(p.mm.pt.pte(addr));

describe('VFIO type1 DMA mapping (drivers/vfio/vfio_iommu_type1.c)', () => {
  it('MAP_DMA pins every page (longterm) and charges mm->locked_vm; UNMAP_DMA unpins and uncharges', () => {
    const { m, p } = world();
    const addr = anon(m, p, 256);
    const dma = vfio_dma_do_map(m, p, 'dma', addr, 256 * PAGE_SIZE) as VfioDma;
    expect(dma).toBeInstanceOf(VfioDma);
    expect(dma.size).toBe(256 * PAGE_SIZE);
    expect(dma.pins()).toBe(256);
    expect(p.mm.locked_vm).toBe(256);
    expect(p.mm.pinned_vm).toBe(0);
    expect(p.mm.has_pinned).toBe(true);
    expect(pins(m)).toEqual({ acquired: 256, released: 0 });
    expect(folio_maybe_dma_pinned(m, pfnAt(p, addr))).toBe(true);
    expect(vfio_dma_do_unmap(m, dma)).toBe(0);
    expect(p.mm.locked_vm).toBe(0);
    expect(pins(m)).toEqual({ acquired: 256, released: 256 });
    expect(folio_maybe_dma_pinned(m, pfnAt(p, addr))).toBe(false);
    expect(vfio_dma_do_unmap(m, dma)).toBeLessThan(0);
  });

  it(
    'RLIMIT_MEMLOCK: non-root with 64 KiB cannot map 1 MiB (-ENOMEM); the batch was pinned (256) and ' +
      'released again',
    () => {
      const { m, p } = world();
      p.capIpcLock = false;
      p.rlimitMemlock = 64 << 10;
      const addr = anon(m, p, 256);
      expect(vfio_dma_do_map(m, p, 'dma', addr, 256 * PAGE_SIZE)).toBe(-ENOMEM);
      expect(m.why?.rule).toContain('RLIMIT_MEMLOCK');
      expect(p.mm.locked_vm).toBe(0);
      // vaddr_get_pfns() pinned the whole batch before the per-page accounting refused page 17.
      expect(pins(m)).toEqual({ acquired: 256, released: 256 });
      // 16 pages are within the limit.
      const ok = vfio_dma_do_map(m, p, 'ok', addr, 16 * PAGE_SIZE) as VfioDma;
      expect(ok).toBeInstanceOf(VfioDma);
      expect(p.mm.locked_vm).toBe(16);
      // Root (CAP_IPC_LOCK) is not limited.
      p.capIpcLock = true;
      expect(vfio_dma_do_map(m, p, 'big', addr + 16 * PAGE_SIZE, 240 * PAGE_SIZE)).toBeInstanceOf(VfioDma);
      expect(p.mm.locked_vm).toBe(256);
    },
  );

  it('VM_PFNMAP (a device BAR) is mapped by PFN: no pin, no locked_vm, no MMF_HAS_PINNED', () => {
    const { m, p } = world();
    const bar = do_mmap(m, p, { size: 4 * PAGE_SIZE, type: 'pfnmap' });
    const dma = vfio_dma_do_map(m, p, 'bar', bar, 4 * PAGE_SIZE) as VfioDma;
    expect(dma).toBeInstanceOf(VfioDma);
    expect(dma.size).toBe(4 * PAGE_SIZE);
    expect(dma.pins()).toBe(0);
    expect(dma.runs.every((r) => r.rsvd)).toBe(true);
    expect(p.mm.locked_vm).toBe(0);
    expect(pins(m)).toEqual({ acquired: 0, released: 0 });
    // pin_user_pages_remote was tried first (and refused by check_vma_flags), which sets the flag.
    expect(p.mm.has_pinned).toBe(true);
    expect(vfio_dma_do_unmap(m, dma)).toBe(0);
    expect(pins(m)).toEqual({ acquired: 0, released: 0 });
  });

  it('FOLL_WRITE iff IOMMU_WRITE: a read-only mapping maps read-only but not for write (-EFAULT)', () => {
    const { m, p } = world();
    const ro = anon(m, p, 4, 'r');
    expect(vfio_dma_do_map(m, p, 'w', ro, 4 * PAGE_SIZE, true)).toBe(-EFAULT);
    const dma = vfio_dma_do_map(m, p, 'r', ro, 4 * PAGE_SIZE, false) as VfioDma;
    expect(dma).toBeInstanceOf(VfioDma);
    expect(dma.pins()).toBe(4);
    expect(p.mm.locked_vm).toBe(4);
  });

  it('argument checks: size 0 or unaligned -> -EINVAL; an IOVA range overlapping a mapping -> -EEXIST', () => {
    const { m, p } = world();
    const addr = anon(m, p, 8);
    expect(vfio_dma_do_map(m, p, 'a', addr, 0)).toBe(-EINVAL);
    expect(vfio_dma_do_map(m, p, 'a', addr + 100, PAGE_SIZE)).toBe(-EINVAL);
    expect(vfio_dma_do_map(m, p, 'a', addr, 100)).toBe(-EINVAL);
    expect(vfio_dma_do_map(m, p, 'a', addr, 4 * PAGE_SIZE)).toBeInstanceOf(VfioDma);
    expect(vfio_dma_do_map(m, p, 'b', addr + 2 * PAGE_SIZE, 4 * PAGE_SIZE)).toBe(-EEXIST);
    expect(vfio_dma_do_map(m, p, 'c', addr + 4 * PAGE_SIZE, 4 * PAGE_SIZE)).toBeInstanceOf(VfioDma);
    expect(pins(m)).toEqual({ acquired: 8, released: 0 });
  });

  it('all or nothing: a hole after two batches unwinds every run pinned and charged so far', () => {
    const { m, p } = world();
    expect(VFIO_BATCH_MAX_CAPACITY).toBe(512);
    const addr = anon(m, p, 1100);
    expect(vfio_dma_do_map(m, p, 'dma', addr, 1200 * PAGE_SIZE)).toBe(-EFAULT);
    expect(p.mm.locked_vm).toBe(0);
    expect(pins(m)).toEqual({ acquired: 1100, released: 1100 });
  });

  it('mapped anon pages survive fork pinned in the parent (early COW copies for the child)', () => {
    const { m, p } = world();
    const addr = anon(m, p, 4);
    const before = pfnAt(p, addr);
    vfio_dma_do_map(m, p, 'dma', addr, 4 * PAGE_SIZE);
    const child = kernel_clone(m, p, 'child') as Process;
    expect(pfnAt(p, addr)).toBe(before);
    expect(pfnAt(child, addr)).not.toBe(before);
  });

  it("the container is closed at its creator's exit: everything unpinned; a fork child's exit does not", () => {
    const { m, p } = world();
    const addr = anon(m, p, 32);
    const dma = vfio_dma_do_map(m, p, 'dma', addr, 32 * PAGE_SIZE) as VfioDma;
    const child = kernel_clone(m, p, 'child') as Process;
    do_exit(m, child);
    expect(dma.pins()).toBe(32);
    do_exit(m, p);
    expect(dma.closed).toBe(true);
    expect(dma.pins()).toBe(0);
    expect(pins(m)).toEqual({ acquired: 32, released: 32 });
  });
});
