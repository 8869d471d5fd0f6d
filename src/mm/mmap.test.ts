// Unit tests for the range rules of mprotect(2) and madvise(2) in mm/mmap.ts: one `it` per kernel
// rule, named after the kernel function that applies it (mm/mprotect.c do_mprotect_pkey(),
// mprotect_fixup(), change_pte_range(); mm/madvise.c madvise_should_skip(), madvise_walk_vmas(),
// madvise_vma_behavior(), madvise_dontneed_free_valid_vma(), madvise_populate()).

import { describe, it, expect } from 'vitest';
import { Machine, type Process } from '../kernel/machine.js';
import { do_fork } from '../kernel/fork.js';
import { EINVAL, ENOMEM } from '../kernel/errno.js';
import { do_mmap, do_munmap, do_mprotect } from './mmap.js';
import { user_access } from './user_access.js';
import { PAGE_SIZE } from './memmap.js';
import { pte_present, pte_write } from './pgtable.js';
import { VM_WRITE } from './mm_types.js';

const PAGE = PAGE_SIZE;

/** Four anon pages with the second unmapped: VMAs [a, a+P) and [a+2P, a+4P), all written. */
function withHole(m: Machine, p: Process): number {
  const a = do_mmap(m, p, { size: 4 * PAGE, type: 'anon' });
  expect(user_access(m, p, a, 4 * PAGE, true)).toBe(0);
  expect(do_munmap(m, p, a + PAGE, PAGE)).toBe(0);
  expect(p.mm.vma_lookup(a + PAGE)).toBeUndefined();
  return a;
}

describe('mprotect(2) ranges (do_mprotect_pkey)', () => {
  it('do_mprotect_pkey(): a zero length is a no-op returning 0; an unaligned start is -EINVAL', () => {
    const m = new Machine({ memory: 64 << 20 });
    const p = m.spawn('app');
    const a = do_mmap(m, p, { size: 4 * PAGE, type: 'anon' });
    expect(do_mprotect(m, p, a, 0, 'r')).toBe(0);
    expect(p.mm.vma_lookup(a)!.flags & VM_WRITE).toBe(VM_WRITE);
    expect(do_mprotect(m, p, a + 1, PAGE, 'r')).toBe(-EINVAL);
  });

  it('do_mprotect_pkey(): a hole after the first VMA is -ENOMEM, but the VMAs before it were already changed', () => {
    const m = new Machine({ memory: 64 << 20 });
    const p = m.spawn('app');
    const a = withHole(m, p);
    expect(do_mprotect(m, p, a, 4 * PAGE, 'r')).toBe(-ENOMEM);
    expect(p.mm.vma_lookup(a)!.flags & VM_WRITE).toBe(0);
    expect(pte_write(p.mm.pt.pte(a))).toBe(false);
    expect(p.mm.vma_lookup(a + 2 * PAGE)!.flags & VM_WRITE).toBe(VM_WRITE);
    expect(pte_write(p.mm.pt.pte(a + 2 * PAGE))).toBe(true);
  });

  it('do_mprotect_pkey(): a range starting in a hole is -ENOMEM and changes nothing', () => {
    const m = new Machine({ memory: 64 << 20 });
    const p = m.spawn('app');
    const a = withHole(m, p);
    expect(do_mprotect(m, p, a + PAGE, 3 * PAGE, 'r')).toBe(-ENOMEM);
    expect(p.mm.vma_lookup(a + 2 * PAGE)!.flags & VM_WRITE).toBe(VM_WRITE);
  });

  it('change_pte_range(MM_CP_TRY_CHANGE_WRITABLE): PROT_WRITE back makes exclusive anon PTEs writable at once; the zero page and pages shared with a fork child stay read-only', () => {
    const m = new Machine({ memory: 64 << 20 });
    const p = m.spawn('app');
    const a = do_mmap(m, p, { size: 4 * PAGE, type: 'anon' });
    expect(user_access(m, p, a, PAGE, true)).toBe(0); // exclusive anon page
    expect(user_access(m, p, a + PAGE, PAGE, false)).toBe(0); // zero page
    expect(do_mprotect(m, p, a, 4 * PAGE, 'r')).toBe(0);
    expect(pte_write(p.mm.pt.pte(a))).toBe(false);
    expect(do_mprotect(m, p, a, 4 * PAGE, 'rw')).toBe(0);
    expect(pte_write(p.mm.pt.pte(a))).toBe(true);
    expect(pte_present(p.mm.pt.pte(a + PAGE))).toBe(true);
    expect(pte_write(p.mm.pt.pte(a + PAGE))).toBe(false);

    // After fork the page is no longer exclusive: it keeps needing the write fault (COW).
    const c = do_fork(m, p, 'child');
    expect(typeof c).not.toBe('number');
    expect(do_mprotect(m, p, a, 4 * PAGE, 'r')).toBe(0);
    expect(do_mprotect(m, p, a, 4 * PAGE, 'rw')).toBe(0);
    expect(pte_write(p.mm.pt.pte(a))).toBe(false);
  });

  it('change_pte_range(): a shared mapping without writenotify (shmem) gets writable PTEs back with PROT_WRITE', () => {
    const m = new Machine({ memory: 64 << 20 });
    const p = m.spawn('app');
    const a = do_mmap(m, p, { size: 2 * PAGE, type: 'shmem' });
    expect(user_access(m, p, a, PAGE, false)).toBe(0);
    expect(do_mprotect(m, p, a, 2 * PAGE, 'r')).toBe(0);
    expect(pte_write(p.mm.pt.pte(a))).toBe(false);
    expect(do_mprotect(m, p, a, 2 * PAGE, 'rw')).toBe(0);
    expect(pte_write(p.mm.pt.pte(a))).toBe(true);
  });
});
