// Unit tests for the range rules of mprotect(2) and madvise(2) in mm/mmap.ts: one `it` per kernel
// rule, named after the kernel function that applies it (mm/mprotect.c do_mprotect_pkey(),
// mprotect_fixup(), change_pte_range(); mm/madvise.c madvise_should_skip(), madvise_walk_vmas(),
// madvise_vma_behavior(), madvise_dontneed_free_valid_vma(), madvise_populate()).

import { describe, it, expect } from 'vitest';
import { Machine } from './machine.js';
import { type Process } from './task.js';
import { kernel_clone } from '../kernel/fork.js';
import { EINVAL, ENOMEM } from '../uapi/errno.js';
import { do_mmap, do_munmap } from './mmap.js';
import { do_mprotect_pkey } from './mprotect.js';
import { do_madvise } from './madvise.js';
import { userAccess } from './user_access.js';
import { PAGE_SIZE, PMD_SIZE, PMD_ORDER } from './memmap.js';
import { pte_present, pte_write } from './pgtable.js';
import { VM_DONTCOPY, VM_HUGEPAGE, VM_WRITE } from './mm_types.js';

const PAGE = PAGE_SIZE;

/** Four anon pages with the second unmapped: VMAs [a, a+P) and [a+2P, a+4P), all written. */
function withHole(m: Machine, p: Process): number {
  const a = do_mmap(m, p, { size: 4 * PAGE, type: 'anon' });
  expect(userAccess(m, p, a, 4 * PAGE, true)).toBe(0);
  expect(do_munmap(m, p, a + PAGE, PAGE)).toBe(0);
  expect(p.mm.vma_lookup(a + PAGE)).toBeUndefined();
  return a;
}

describe('mprotect(2) ranges (do_mprotect_pkey)', () => {
  it('do_mprotect_pkey(): a zero length is a no-op returning 0; an unaligned start is -EINVAL', () => {
    const m = new Machine({ memory: 64 << 20 });
    const p = m.spawn('app');
    const a = do_mmap(m, p, { size: 4 * PAGE, type: 'anon' });
    expect(do_mprotect_pkey(m, p, a, 0, 'r')).toBe(0);
    expect(p.mm.vma_lookup(a)!.flags & VM_WRITE).toBe(VM_WRITE);
    expect(do_mprotect_pkey(m, p, a + 1, PAGE, 'r')).toBe(-EINVAL);
  });

  it('do_mprotect_pkey(): a hole after the first VMA is -ENOMEM, but the VMAs before it were already changed', () => {
    const m = new Machine({ memory: 64 << 20 });
    const p = m.spawn('app');
    const a = withHole(m, p);
    expect(do_mprotect_pkey(m, p, a, 4 * PAGE, 'r')).toBe(-ENOMEM);
    expect(p.mm.vma_lookup(a)!.flags & VM_WRITE).toBe(0);
    expect(pte_write(p.mm.pt.pte(a))).toBe(false);
    expect(p.mm.vma_lookup(a + 2 * PAGE)!.flags & VM_WRITE).toBe(VM_WRITE);
    expect(pte_write(p.mm.pt.pte(a + 2 * PAGE))).toBe(true);
  });

  it('do_mprotect_pkey(): a range starting in a hole is -ENOMEM and changes nothing', () => {
    const m = new Machine({ memory: 64 << 20 });
    const p = m.spawn('app');
    const a = withHole(m, p);
    expect(do_mprotect_pkey(m, p, a + PAGE, 3 * PAGE, 'r')).toBe(-ENOMEM);
    expect(p.mm.vma_lookup(a + 2 * PAGE)!.flags & VM_WRITE).toBe(VM_WRITE);
  });

  it(
    'change_pte_range(MM_CP_TRY_CHANGE_WRITABLE): PROT_WRITE back makes exclusive anon PTEs writable at once; the ' +
      'zero page and pages shared with a fork child stay read-only',
    () => {
      const m = new Machine({ memory: 64 << 20 });
      const p = m.spawn('app');
      const a = do_mmap(m, p, { size: 4 * PAGE, type: 'anon' });
      expect(userAccess(m, p, a, PAGE, true)).toBe(0); // exclusive anon page
      expect(userAccess(m, p, a + PAGE, PAGE, false)).toBe(0); // zero page
      expect(do_mprotect_pkey(m, p, a, 4 * PAGE, 'r')).toBe(0);
      expect(pte_write(p.mm.pt.pte(a))).toBe(false);
      expect(do_mprotect_pkey(m, p, a, 4 * PAGE, 'rw')).toBe(0);
      expect(pte_write(p.mm.pt.pte(a))).toBe(true);
      expect(pte_present(p.mm.pt.pte(a + PAGE))).toBe(true);
      expect(pte_write(p.mm.pt.pte(a + PAGE))).toBe(false);

      // After fork the page is no longer exclusive: it keeps needing the write fault (COW).
      const c = kernel_clone(m, p, 'child');
      expect(typeof c).not.toBe('number');
      expect(do_mprotect_pkey(m, p, a, 4 * PAGE, 'r')).toBe(0);
      expect(do_mprotect_pkey(m, p, a, 4 * PAGE, 'rw')).toBe(0);
      expect(pte_write(p.mm.pt.pte(a))).toBe(false);
    },
  );

  it('change_pte_range(): a shared mapping without writenotify (shmem) gets writable PTEs back with PROT_WRITE', () => {
    const m = new Machine({ memory: 64 << 20 });
    const p = m.spawn('app');
    const a = do_mmap(m, p, { size: 2 * PAGE, type: 'shmem' });
    expect(userAccess(m, p, a, PAGE, false)).toBe(0);
    expect(do_mprotect_pkey(m, p, a, 2 * PAGE, 'r')).toBe(0);
    expect(pte_write(p.mm.pt.pte(a))).toBe(false);
    expect(do_mprotect_pkey(m, p, a, 2 * PAGE, 'rw')).toBe(0);
    expect(pte_write(p.mm.pt.pte(a))).toBe(true);
  });
});

describe('madvise(2) ranges (madvise_walk_vmas)', () => {
  it('madvise_should_skip(): a zero length returns 0; an unaligned start is -EINVAL', () => {
    const m = new Machine({ memory: 64 << 20 });
    const p = m.spawn('app');
    const a = do_mmap(m, p, { size: 4 * PAGE, type: 'anon' });
    expect(do_madvise(m, p, a, 0, 'dontfork')).toBe(0);
    expect(p.mm.vma_lookup(a)!.flags & VM_DONTCOPY).toBe(0);
    expect(do_madvise(m, p, a + 8, PAGE, 'dontfork')).toBe(-EINVAL);
  });

  it('madvise_walk_vmas(): a hole does not stop the walk: every mapped VMA is advised, then -ENOMEM', () => {
    const m = new Machine({ memory: 64 << 20 });
    const p = m.spawn('app');
    const a = withHole(m, p);
    expect(do_madvise(m, p, a, 4 * PAGE, 'dontfork')).toBe(-ENOMEM);
    expect(p.mm.vma_lookup(a)!.flags & VM_DONTCOPY).toBe(VM_DONTCOPY);
    expect(p.mm.vma_lookup(a + 2 * PAGE)!.flags & VM_DONTCOPY).toBe(VM_DONTCOPY);
  });

  it('madvise_walk_vmas(): MADV_DONTNEED over a hole zaps both sides and returns -ENOMEM; the VMA is not split', () => {
    const m = new Machine({ memory: 64 << 20 });
    const p = m.spawn('app');
    const a = withHole(m, p);
    expect(do_madvise(m, p, a, 3 * PAGE, 'dontneed')).toBe(-ENOMEM);
    expect(pte_present(p.mm.pt.pte(a))).toBe(false);
    expect(pte_present(p.mm.pt.pte(a + 2 * PAGE))).toBe(false);
    expect(pte_present(p.mm.pt.pte(a + 3 * PAGE))).toBe(true);
    expect(p.mm.vma_lookup(a + 2 * PAGE)!.end).toBe(a + 4 * PAGE);
  });

  it('hugepage_madvise(): MADV_HUGEPAGE on hugetlb and on a PFN map is accepted (0), only the flag changes', () => {
    const m = new Machine({ memory: 64 << 20, hugetlb: { '2M': 1 } });
    const p = m.spawn('app');
    const h = do_mmap(m, p, { size: PMD_SIZE, type: 'hugetlb', hugeOrder: PMD_ORDER });
    expect(h).toBeGreaterThan(0);
    expect(do_madvise(m, p, h, PMD_SIZE, 'hugepage')).toBe(0);
    expect(p.mm.vma_lookup(h)!.flags & VM_HUGEPAGE).toBe(VM_HUGEPAGE);
    const d = do_mmap(m, p, { size: PAGE, type: 'pfnmap' });
    expect(do_madvise(m, p, d, PAGE, 'nohugepage')).toBe(0);
  });

  it('madvise_vma_behavior(): MADV_DOFORK on a VM_IO mapping is -EINVAL (MADV_DONTFORK is allowed)', () => {
    const m = new Machine({ memory: 64 << 20 });
    const p = m.spawn('app');
    const d = do_mmap(m, p, { size: PAGE, type: 'pfnmap' });
    expect(do_madvise(m, p, d, PAGE, 'dontfork')).toBe(0);
    expect(do_madvise(m, p, d, PAGE, 'dofork')).toBe(-EINVAL);
  });

  it(
    'madvise_dontneed_free_valid_vma(): hugetlb MADV_DONTNEED needs a huge-page aligned start; the end is rounded ' +
      'down to a huge page',
    () => {
      const m = new Machine({ memory: 64 << 20, hugetlb: { '2M': 2 } });
      const p = m.spawn('app');
      const h = do_mmap(m, p, { size: 2 * PMD_SIZE, type: 'hugetlb', hugeOrder: PMD_ORDER });
      expect(userAccess(m, p, h, 2 * PMD_SIZE, true)).toBe(0);
      expect(do_madvise(m, p, h + PAGE, PAGE, 'dontneed')).toBe(-EINVAL);
      // [h, h + 4 KiB) rounds down to nothing: no error, nothing zapped.
      expect(do_madvise(m, p, h, PAGE, 'dontneed')).toBe(0);
      expect(pte_present(p.mm.pt.pmdLeaf(h))).toBe(true);
      // [h, h + 2 MiB + 4 KiB) zaps the first huge page only.
      expect(do_madvise(m, p, h, PMD_SIZE + PAGE, 'dontneed')).toBe(0);
      expect(p.mm.pt.pmdLeaf(h)).toBeFalsy();
      expect(pte_present(p.mm.pt.pmdLeaf(h + PMD_SIZE))).toBe(true);
    },
  );

  it(
    'madvise_populate(): the pages before a hole are populated, then -ENOMEM; PROT_READ with MADV_POPULATE_WRITE ' +
      'is -EINVAL',
    () => {
      const m = new Machine({ memory: 64 << 20 });
      const p = m.spawn('app');
      const a = do_mmap(m, p, { size: 4 * PAGE, type: 'anon' });
      expect(do_munmap(m, p, a + 2 * PAGE, 2 * PAGE)).toBe(0);
      expect(do_madvise(m, p, a, 4 * PAGE, 'populate_write')).toBe(-ENOMEM);
      expect(pte_write(p.mm.pt.pte(a))).toBe(true);
      expect(pte_write(p.mm.pt.pte(a + PAGE))).toBe(true);
      const r = do_mmap(m, p, { size: PAGE, type: 'anon', prot: 'r' });
      expect(do_madvise(m, p, r, PAGE, 'populate_write')).toBe(-EINVAL);
      expect(do_madvise(m, p, r, PAGE, 'populate_read')).toBe(0);
    },
  );
});

describe('VMA merging (vma_merge_existing_range)', () => {
  it('mprotect of half a mapping splits it; giving the protection back merges it again', () => {
    const m = new Machine({ memory: 256 << 20 });
    const p = m.spawn('app');
    const a = do_mmap(m, p, { size: 16 * PAGE_SIZE, type: 'anon' });
    expect(userAccess(m, p, a, 16 * PAGE_SIZE, true)).toBe(0);
    expect(do_mprotect_pkey(m, p, a, 8 * PAGE_SIZE, 'r')).toBe(0);
    expect(p.mm.vmas.length).toBe(2);
    expect(do_mprotect_pkey(m, p, a, 8 * PAGE_SIZE, 'rw')).toBe(0);
    expect(p.mm.vmas.length).toBe(1);
    expect(p.mm.vmas[0]!.start).toBe(a);
    expect(p.mm.vmas[0]!.end).toBe(a + 16 * PAGE_SIZE);
    // The merged VMA still reaches its pages through the rmap (the anon_vma is shared).
    expect(userAccess(m, p, a, 16 * PAGE_SIZE, true)).toBe(0);
  });
  it('MADV_HUGEPAGE on both halves merges them, so a THP can span the old boundary', () => {
    const m = new Machine({ memory: 256 << 20, thp: 'madvise' });
    const p = m.spawn('app');
    const a = do_mmap(m, p, { size: PMD_SIZE, type: 'anon', align: PMD_SIZE });
    expect(do_madvise(m, p, a, PMD_SIZE / 2, 'hugepage')).toBe(0);
    expect(p.mm.vmas.length).toBe(2);
    expect(do_madvise(m, p, a + PMD_SIZE / 2, PMD_SIZE / 2, 'hugepage')).toBe(0);
    expect(p.mm.vmas.length).toBe(1);
    expect(p.mm.vmas[0]!.flags & VM_HUGEPAGE).toBeTruthy();
    expect(userAccess(m, p, a, 1, true)).toBe(0);
    expect(p.mm.pt.pmdLeaf(a)).not.toBe(0);
  });
  it('separate mmaps are placed apart and never merge, even with identical flags', () => {
    const m = new Machine({ memory: 256 << 20 });
    const p = m.spawn('app');
    const a = do_mmap(m, p, { size: 4 * PAGE_SIZE, type: 'anon' });
    const b = do_mmap(m, p, { size: 4 * PAGE_SIZE, type: 'anon' });
    expect(Math.abs(a - b)).toBeGreaterThan(4 * PAGE_SIZE);
    expect(do_mprotect_pkey(m, p, Math.min(a, b), 4 * PAGE_SIZE, 'rw')).toBe(0);
    expect(p.mm.vmas.length).toBe(2);
  });
});

describe('mmap(2) of hugetlb memory (ksys_mmap_pgoff)', () => {
  it('MAP_HUGETLB with a file not on hugetlbfs is -EINVAL, and maps nothing', () => {
    const m = new Machine({ memory: 16 << 20, hugetlb: { '2M': 2 } });
    const p = m.spawn('p');
    const f = m.newFile('disk', 'f', PMD_SIZE / PAGE);
    expect(do_mmap(m, p, { size: PMD_SIZE, type: 'hugetlb', hugeOrder: PMD_ORDER, file: f })).toBe(-EINVAL);
    expect(m.why?.fn).toBe('ksys_mmap_pgoff');
    expect(p.mm.vmas).toEqual([]);
    // Without a file: the anonymous hugetlbfs file of MAP_ANONYMOUS | MAP_HUGETLB.
    expect(do_mmap(m, p, { size: PMD_SIZE, type: 'hugetlb', hugeOrder: PMD_ORDER })).toBeGreaterThan(0);
  });
});
