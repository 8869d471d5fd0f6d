// Unit tests for src/consumers/hmm.ts: hmm_range_fault() mirrors PFNs without pinning or referencing
// anything (mm/hmm.c), faulting missing or read-only pages when asked (handle_mm_fault), and the
// mirror's mmu_interval_notifier is told about every change of the CPU mapping in its range:
// munmap, fork, COW, migration, mprotect — the sequence moves and a later read sees the new PFNs.

import { describe, it, expect } from 'vitest';
import { Machine } from '../mm/machine.js';
import { ZERO_PFN, PAGE_SIZE } from '../mm/memmap.js';
import type { Process } from '../mm/task.js';
import { EFAULT, EPERM } from '../uapi/errno.js';
import { do_mmap, do_munmap } from '../mm/mmap.js';
import { do_madvise } from '../mm/madvise.js';
import { do_mprotect_pkey } from '../mm/mprotect.js';
import { userAccess } from '../mm/user_access.js';
import { pte_pfn } from '../mm/pgtable.js';
import { pin_user_pages, unpin_user_pages } from '../mm/gup.js';
import { FOLL_LONGTERM, FOLL_WRITE } from '../mm/foll_flags.js';
import { outstanding } from '../scenario/holders.js';
import { kernel_clone } from '../kernel/fork.js';
import { do_exit } from '../kernel/exit.js';
import { HmmMirror, hmm_range_fault, mmu_interval_notifier_insert, mmu_interval_notifier_remove } from './hmm.js';
import { pins, world } from '../../test/support.js';

function anon(
  m: Machine,
  p: Process,
  npages: number,
  touch: 'write' | 'read' | 'none' = 'write',
  prot: 'r' | 'rw' = 'rw',
): number {
  const addr = do_mmap(m, p, { size: npages * PAGE_SIZE, type: 'anon', prot });
  expect(do_madvise(m, p, addr, npages * PAGE_SIZE, 'nohugepage')).toBe(0);
  if (touch !== 'none') expect(userAccess(m, p, addr, npages * PAGE_SIZE, touch === 'write')).toBe(0);
  return addr;
}

const pfnAt = (p: Process, addr: number) => pte_pfn(p.mm.pt.pte(addr));

function mirror(m: Machine, p: Process, addr: number, npages: number): HmmMirror {
  return mmu_interval_notifier_insert(m, 'mirror', p, addr, addr + npages * PAGE_SIZE);
}

describe('hmm_range_fault + mmu_interval_notifier (mm/hmm.c, mm/mmu_notifier.c)', () => {
  it(
    'mirrors the CPU PFNs with no pin, no reference, no vmstat and no MMF_HAS_PINNED; the mirror ' + 'holds nothing',
    () => {
      const { m, p } = world();
      const addr = anon(m, p, 8);
      const refs = Array.from({ length: 8 }, (_, i) => m.mem.refcount[pfnAt(p, addr + i * PAGE_SIZE)]);
      const mi = mirror(m, p, addr, 8);
      expect(hmm_range_fault(m, mi, false).ret).toBe(0);
      expect([...mi.pfns]).toEqual(Array.from({ length: 8 }, (_, i) => pfnAt(p, addr + i * PAGE_SIZE)));
      expect(Array.from({ length: 8 }, (_, i) => m.mem.refcount[pfnAt(p, addr + i * PAGE_SIZE)])).toEqual(refs);
      expect(pins(m)).toEqual({ acquired: 0, released: 0 });
      expect(p.mm.has_pinned).toBe(false);
      expect(mi.pins()).toBe(0);
      expect(mi.refs()).toBe(0);
      expect(outstanding([mi])).toEqual([]);
    },
  );

  it('faults what is missing: a read maps the zero page (read-only), a write request write-faults real pages', () => {
    const { m, p } = world();
    const addr = anon(m, p, 4, 'none');
    const mi = mirror(m, p, addr, 4);
    expect(hmm_range_fault(m, mi, false).ret).toBe(0);
    expect([...mi.pfns]).toEqual([ZERO_PFN, ZERO_PFN, ZERO_PFN, ZERO_PFN]);
    expect([...mi.writable]).toEqual([0, 0, 0, 0]);
    const r = hmm_range_fault(m, mi, true);
    expect(r.ret).toBe(0);
    // Replacing the zero page is a COW: the mirror's own fault invalidated it, the driver retried.
    expect(mi.eventCounts().cow).toBe(4);
    expect(r.retries).toBeGreaterThan(0);
    expect([...mi.writable]).toEqual([1, 1, 1, 1]);
    expect([...mi.pfns]).toEqual(Array.from({ length: 4 }, (_, i) => pfnAt(p, addr + i * PAGE_SIZE)));
    expect(pins(m)).toEqual({ acquired: 0, released: 0 });
  });

  it(
    'munmap of part of the range: "unmap" invalidation, those PFNs dropped; re-reading faults on the ' +
      'hole (-EFAULT)',
    () => {
      const { m, p } = world();
      const addr = anon(m, p, 8);
      const other = anon(m, p, 1);
      const mi = mirror(m, p, addr, 8);
      hmm_range_fault(m, mi, false);
      expect(do_munmap(m, p, addr + 2 * PAGE_SIZE, 2 * PAGE_SIZE)).toBe(0);
      expect(mi.eventCounts()).toEqual({ unmap: 1 });
      expect(mi.seq).toBe(1);
      expect(mi.mirrored).toBe(6);
      expect(mi.pfns[2]).toBe(-1);
      expect(hmm_range_fault(m, mi, false).ret).toBe(-EFAULT);
      expect(m.why?.fn).toBe('hmm_vma_walk_hole');
      // A change outside the range is not reported.
      expect(other + PAGE_SIZE <= addr || other >= addr + 8 * PAGE_SIZE).toBe(true);
      do_munmap(m, p, other, PAGE_SIZE);
      expect(mi.seq).toBe(1);
    },
  );

  it(
    'fork write-protects the range ("fork"), then the parent\'s write COWs a new page ("cow"); ' + 're-reading sees it',
    () => {
      const { m, p } = world();
      const addr = anon(m, p, 2);
      const mi = mirror(m, p, addr, 2);
      hmm_range_fault(m, mi, true);
      const old = mi.pfns[0];
      kernel_clone(m, p, 'child');
      expect(mi.eventCounts()).toEqual({ fork: 1 });
      expect(mi.mirrored).toBe(0);
      expect(userAccess(m, p, addr, PAGE_SIZE, true)).toBe(0);
      expect(mi.eventCounts()).toEqual({ fork: 1, cow: 1 });
      expect(hmm_range_fault(m, mi, false).ret).toBe(0);
      expect(mi.pfns[0]).not.toBe(old);
      expect(mi.pfns[0]).toBe(pfnAt(p, addr));
      // The second page is still shared with the child: read-only in the mirror.
      expect([...mi.writable]).toEqual([1, 0]);
    },
  );

  it('FOLL_LONGTERM migration out of ZONE_MOVABLE moves the page under the mirror ("migrate")', () => {
    const { m, p } = world({ movable: 1 << 29 });
    const addr = anon(m, p, 1);
    expect(m.alloc.zoneOf(pfnAt(p, addr))).toBe('MOVABLE');
    const mi = mirror(m, p, addr, 1);
    hmm_range_fault(m, mi, false);
    const old = mi.pfns[0];
    const pages = new Int32Array(1);
    expect(pin_user_pages(m, p, addr, 1, FOLL_WRITE | FOLL_LONGTERM, pages)).toBe(1);
    expect(mi.eventCounts().migrate).toBe(1);
    hmm_range_fault(m, mi, false);
    expect(mi.pfns[0]).not.toBe(old);
    expect(mi.pfns[0]).toBe(pages[0]);
    unpin_user_pages(m, pages, 1);
  });

  it('mprotect read-only: "protection" invalidation; a write request then fails with -EPERM (no VM_WRITE)', () => {
    const { m, p } = world();
    const addr = anon(m, p, 2);
    const mi = mirror(m, p, addr, 2);
    hmm_range_fault(m, mi, true);
    expect(do_mprotect_pkey(m, p, addr, 2 * PAGE_SIZE, 'r')).toBe(0);
    expect(mi.eventCounts()).toEqual({ protection: 1 });
    expect(hmm_range_fault(m, mi, false).ret).toBe(0);
    expect([...mi.writable]).toEqual([0, 0]);
    expect(hmm_range_fault(m, mi, true).ret).toBe(-EPERM);
    expect(m.why?.fn).toBe('hmm_vma_fault');
  });

  it('VM_PFNMAP / VM_IO ranges cannot be mirrored (-EFAULT)', () => {
    const { m, p } = world();
    const bar = do_mmap(m, p, { size: 2 * PAGE_SIZE, type: 'pfnmap' });
    const mi = mirror(m, p, bar, 2);
    expect(hmm_range_fault(m, mi, false).ret).toBe(-EFAULT);
    expect(m.why?.fn).toBe('hmm_vma_walk_test');
  });

  it(
    "the mirror is removed at its creator's exit, after the exit's unmap reached it; a fork child's exit does " +
      'not remove it',
    () => {
      const { m, p } = world();
      const addr = anon(m, p, 4);
      const mi = mirror(m, p, addr, 4);
      hmm_range_fault(m, mi, false);
      const child = kernel_clone(m, p, 'child') as Process;
      const n = mi.invalidations.length;
      do_exit(m, child);
      expect(mi.closed).toBe(false);
      expect(mi.invalidations.length).toBe(n); // the child's unmap is another mm
      do_exit(m, p);
      expect(mi.eventCounts().unmap).toBe(1);
      expect(mi.closed).toBe(true);
      expect(m.notifiers.size).toBe(0);
      expect(mmu_interval_notifier_remove(m, mi)).toBeLessThan(0);
    },
  );
});
