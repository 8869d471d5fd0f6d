// Unit tests for src/mm/gup.ts: argument validation, the slow path's VMA and fault rules, the
// lockless fast path and its fallback, the zero page and MMF_HAS_PINNED.
// Each test is named after the kernel rule it checks; the rules come from mm/gup.c
// (Asphaltt/mm @ 2b4cbe0a, ≈6.18) and /work/shared/spec/gup-api.md.

import { describe, it, expect } from 'vitest';
import { Machine, type MachineConfig } from './machine.js';
import { ZERO_PFN, GUP_PIN_COUNTING_BIAS, PAGE_SIZE, PMD_SIZE, PG_referenced } from './memmap.js';
import type { Process } from './task.js';
import { EFAULT, EINTR, EINVAL, EOPNOTSUPP, EOVERFLOW } from '../uapi/errno.js';
import { do_mmap, do_munmap, type MmapArgs } from './mmap.js';
import { do_madvise } from './madvise.js';
import { do_mprotect_pkey } from './mprotect.js';
import { userAccess } from './user_access.js';
import {
  get_user_pages,
  get_user_pages_remote,
  get_user_pages_unlocked,
  get_user_pages_fast,
  get_user_pages_fast_only,
  pin_user_pages,
  pin_user_pages_remote,
  pin_user_pages_unlocked,
  pin_user_pages_fast,
  unpin_user_pages,
  unpin_user_pages_dirty_lock,
  put_page,
  folio_maybe_dma_pinned,
  TASK_SIZE_MAX,
} from './gup.js';
import {
  FOLL_WRITE,
  FOLL_GET,
  FOLL_DUMP,
  FOLL_FORCE,
  FOLL_NOWAIT,
  FOLL_NOFAULT,
  FOLL_HWPOISON,
  FOLL_ANON,
  FOLL_LONGTERM,
  FOLL_SPLIT_PMD,
  FOLL_PCI_P2PDMA,
  FOLL_INTERRUPTIBLE,
  FOLL_HONOR_NUMA_FAULT,
  FOLL_TOUCH,
  FOLL_TRIED,
  FOLL_REMOTE,
  FOLL_PIN,
  FOLL_FAST_ONLY,
  FOLL_UNLOCKABLE,
  FOLL_MADV_POPULATE,
} from './foll_flags.js';
import { pte_pfn, pte_write } from './pgtable.js';
import { lru_add_drain } from './swap.js';

// ---------------------------------------------------------------------------------------------
// Helpers

function world(cfg: Partial<MachineConfig> = {}): { m: Machine; p: Process } {
  const m = new Machine({ memory: 1 << 30, ...cfg });
  return { m, p: m.spawn('app') };
}

type Fault = 'write' | 'read' | 'none';

/**
 * mmap npages of small-page anonymous memory (no THP) and fault it in as asked; then the LRU batches
 * are drained (as long after the faults), so the counts a test sees are GUP's own, not the batch's.
 */
function anon(m: Machine, p: Process, npages: number, fault: Fault = 'write', extra: Partial<MmapArgs> = {}): number {
  const len = npages * PAGE_SIZE;
  const addr = do_mmap(m, p, { size: len, type: 'anon', ...extra });
  expect(addr).toBeGreaterThan(0);
  expect(do_madvise(m, p, addr, len, 'nohugepage')).toBe(0);
  if (fault !== 'none') expect(userAccess(m, p, addr, len, fault === 'write')).toBe(0);
  lru_add_drain(m);
  return addr;
}

/** The PFN mapped at addr (PTE or PMD leaf), 0 when nothing is mapped. */
function pfnAt(p: Process, addr: number): number {
  const pt = p.mm.pt;
  const leaf = pt.pmdLeaf(addr);
  if (leaf) return pte_pfn(leaf) + Math.floor((addr % PMD_SIZE) / PAGE_SIZE);
  return pte_pfn(pt.pte(addr));
}

function pagesBuf(n: number): Int32Array {
  return new Int32Array(n).fill(-1);
}

/** Refcounts of the pages mapped at [addr, addr + n pages). */
function refcounts(m: Machine, p: Process, addr: number, n: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(m.mem.refcount[m.mem.page_folio(pfnAt(p, addr + i * PAGE_SIZE))]!);
  return out;
}

function pinStats(m: Machine): { acquired: number; released: number } {
  return { acquired: m.vmstat.get('nr_foll_pin_acquired'), released: m.vmstat.get('nr_foll_pin_released') };
}

function lastWarn(m: Machine): { fn: string; condition: string; once: boolean } | undefined {
  const w = m.warns.records[m.warns.records.length - 1];
  return w && { fn: w.fn, condition: w.condition, once: w.once };
}

const INTERNAL = { FOLL_TOUCH, FOLL_TRIED, FOLL_REMOTE, FOLL_PIN, FOLL_FAST_ONLY, FOLL_UNLOCKABLE, FOLL_MADV_POPULATE };

// ---------------------------------------------------------------------------------------------

describe('is_valid_gup_args (mm/gup.c)', () => {
  it(
    'is_valid_gup_args: every INTERNAL_GUP_FLAGS bit from a caller -> WARN_ON_ONCE, get_user_pages returns -EINVAL, ' +
      'nothing taken',
    () => {
      const { m, p } = world();
      const addr = anon(m, p, 2);
      const before = refcounts(m, p, addr, 2);
      for (const [name, flag] of Object.entries(INTERNAL)) {
        const pages = pagesBuf(2);
        const nwarn = m.warns.records.length;
        expect(get_user_pages(m, p, addr, 2, flag, pages), name).toBe(-EINVAL);
        expect(m.warns.records.length, name).toBe(nwarn + 1);
        expect(lastWarn(m)?.fn).toBe('is_valid_gup_args');
        expect(m.why).toMatchObject({ fn: 'is_valid_gup_args', errno: -EINVAL });
        expect([...pages]).toEqual([-1, -1]);
      }
      expect(refcounts(m, p, addr, 2)).toEqual(before);
      expect(pinStats(m)).toEqual({ acquired: 0, released: 0 });
    },
  );

  it(
    'is_valid_gup_args: internal flag (FOLL_PIN, FOLL_TOUCH) -> pin_user_pages returns 0, not an errno; ' +
      'pin_user_pages_fast -EINVAL',
    () => {
      const { m, p } = world();
      const addr = anon(m, p, 1);
      const pages = pagesBuf(1);
      expect(pin_user_pages(m, p, addr, 1, FOLL_PIN, pages)).toBe(0);
      expect(lastWarn(m)?.fn).toBe('is_valid_gup_args');
      expect(pin_user_pages(m, p, addr, 1, FOLL_TOUCH, pages)).toBe(0);
      expect(pin_user_pages_fast(m, p, addr, 1, FOLL_TOUCH, pages)).toBe(-EINVAL);
      expect(pages[0]).toBe(-1);
      expect(refcounts(m, p, addr, 1)).toEqual([1]);
    },
  );

  it(
    'is_valid_gup_args: *locked != 1 -> WARN, get_user_pages_remote -EINVAL, pin_user_pages_remote 0; *locked == ' +
      '1 accepted',
    () => {
      const { m, p } = world();
      const q = m.spawn('tracer');
      const addr = anon(m, p, 1);
      const pages = pagesBuf(1);
      expect(get_user_pages_remote(m, p, addr, 1, 0, pages, { value: 0 }, q)).toBe(-EINVAL);
      expect(lastWarn(m)?.fn).toBe('is_valid_gup_args');
      expect(pin_user_pages_remote(m, p, addr, 1, 0, pages, { value: 0 }, q)).toBe(0);
      expect(lastWarn(m)?.fn).toBe('is_valid_gup_args');
      expect(refcounts(m, p, addr, 1)).toEqual([1]);
      const nwarn = m.warns.records.length;
      expect(get_user_pages_remote(m, p, addr, 1, 0, pages, { value: 1 }, q)).toBe(1);
      put_page(m, pages[0]!);
      expect(pin_user_pages_remote(m, p, addr, 1, 0, pages, { value: 1 }, q)).toBe(1);
      unpin_user_pages(m, pages, 1);
      expect(m.warns.records.length).toBe(nwarn);
    },
  );

  it(
    'is_valid_gup_args: FOLL_PIN together with FOLL_GET -> WARN; pin_user_pages/_unlocked return 0, ' +
      'pin_user_pages_fast -EINVAL',
    () => {
      const { m, p } = world();
      const addr = anon(m, p, 1);
      const pages = pagesBuf(1);
      expect(pin_user_pages(m, p, addr, 1, FOLL_GET, pages)).toBe(0);
      expect(lastWarn(m)?.fn).toBe('is_valid_gup_args');
      expect(pin_user_pages_unlocked(m, p, addr, 1, pages, FOLL_GET)).toBe(0);
      expect(pin_user_pages_fast(m, p, addr, 1, FOLL_GET, pages)).toBe(-EINVAL);
      expect(refcounts(m, p, addr, 1)).toEqual([1]);
      expect(pinStats(m).acquired).toBe(0);
      // A caller may pass FOLL_GET to get_user_pages_fast: it is what the fast variants set anyway.
      expect(get_user_pages_fast(m, p, addr, 1, FOLL_GET, pages)).toBe(1);
      expect(refcounts(m, p, addr, 1)).toEqual([2]);
    },
  );

  it('is_valid_gup_args: FOLL_LONGTERM without FOLL_PIN -> WARN, get_user_pages* return -EINVAL', () => {
    const { m, p } = world();
    const q = m.spawn('tracer');
    const addr = anon(m, p, 1);
    const pages = pagesBuf(1);
    const calls: Array<[string, () => number]> = [
      ['get_user_pages', () => get_user_pages(m, p, addr, 1, FOLL_LONGTERM, pages)],
      ['get_user_pages_remote', () => get_user_pages_remote(m, p, addr, 1, FOLL_LONGTERM, pages, undefined, q)],
      ['get_user_pages_unlocked', () => get_user_pages_unlocked(m, p, addr, 1, pages, FOLL_LONGTERM)],
      ['get_user_pages_fast', () => get_user_pages_fast(m, p, addr, 1, FOLL_LONGTERM, pages)],
      ['get_user_pages_fast_only', () => get_user_pages_fast_only(m, p, addr, 1, FOLL_LONGTERM, pages)],
    ];
    for (const [name, call] of calls) {
      const nwarn = m.warns.records.length;
      expect(call(), name).toBe(-EINVAL);
      expect(m.warns.records.length, name).toBe(nwarn + 1);
      expect(lastWarn(m)?.fn).toBe('is_valid_gup_args');
    }
    expect(refcounts(m, p, addr, 1)).toEqual([1]);
    // With FOLL_PIN implied the same flag is fine.
    expect(pin_user_pages(m, p, addr, 1, FOLL_LONGTERM, pages)).toBe(1);
  });

  it(
    'is_valid_gup_args: FOLL_GET/FOLL_PIN with pages == NULL -> WARN; pin_user_pages 0, pin_user_pages_fast and ' +
      'get_user_pages_fast -EINVAL',
    () => {
      const { m, p } = world();
      const addr = anon(m, p, 1);
      expect(pin_user_pages(m, p, addr, 1, 0, null)).toBe(0);
      expect(lastWarn(m)?.fn).toBe('is_valid_gup_args');
      expect(pin_user_pages_unlocked(m, p, addr, 1, null, 0)).toBe(0);
      expect(pin_user_pages_fast(m, p, addr, 1, 0, null)).toBe(-EINVAL);
      // The fast GET variants always have FOLL_GET set, so they need pages[] too.
      expect(get_user_pages_fast(m, p, addr, 1, 0, null)).toBe(-EINVAL);
      expect(get_user_pages_fast_only(m, p, addr, 1, 0, null)).toBe(-EINVAL);
      // An explicit FOLL_GET with get_user_pages and no pages[] is the same mistake.
      expect(get_user_pages(m, p, addr, 1, FOLL_GET, null)).toBe(-EINVAL);
      expect(refcounts(m, p, addr, 1)).toEqual([1]);
    },
  );

  it(
    'is_valid_gup_args: FOLL_LONGTERM with FOLL_PCI_P2PDMA -> WARN; pin_user_pages 0, ' + 'pin_user_pages_fast -EINVAL',
    () => {
      const { m, p } = world();
      const addr = anon(m, p, 1);
      const pages = pagesBuf(1);
      expect(pin_user_pages(m, p, addr, 1, FOLL_LONGTERM | FOLL_PCI_P2PDMA, pages)).toBe(0);
      expect(lastWarn(m)?.fn).toBe('is_valid_gup_args');
      expect(pin_user_pages_fast(m, p, addr, 1, FOLL_LONGTERM | FOLL_PCI_P2PDMA, pages)).toBe(-EINVAL);
      expect(pages[0]).toBe(-1);
      // Each flag alone is accepted.
      expect(pin_user_pages(m, p, addr, 1, FOLL_PCI_P2PDMA, pages)).toBe(1);
    },
  );

  it(
    '__get_user_pages_locked: get_user_pages with pages == NULL is valid (no FOLL_GET added): faults pages in, ' +
      'takes no reference',
    () => {
      const { m, p } = world();
      const addr = anon(m, p, 4, 'none');
      const faults = m.vmstat.get('pgfault');
      expect(get_user_pages(m, p, addr, 4, FOLL_WRITE, null)).toBe(4);
      expect(m.vmstat.get('pgfault')).toBe(faults + 4);
      // The mapping's reference, and the lru_add batch's (the faults' new folios): none of GUP's.
      expect(refcounts(m, p, addr, 4)).toEqual([2, 2, 2, 2]);
      lru_add_drain(m);
      expect(refcounts(m, p, addr, 4)).toEqual([1, 1, 1, 1]);
      // With pages[] FOLL_GET is added: +1 per page.
      const pages = pagesBuf(4);
      expect(get_user_pages(m, p, addr, 4, FOLL_WRITE, pages)).toBe(4);
      // The second touch of a page activates it on the classic LRU (folio_mark_accessed()): the per-CPU
      // activate batch holds a reference until it is drained; these counts are GUP's own.
      lru_add_drain(m);
      expect(refcounts(m, p, addr, 4)).toEqual([2, 2, 2, 2]);
      expect(pinStats(m).acquired).toBe(0);
      expect(m.warns.records).toEqual([]);
    },
  );

  it(
    'is_valid_gup_args failure quirk: pin_user_pages/_remote/_unlocked return 0, every other entry ' + 'point -EINVAL',
    () => {
      const { m, p } = world();
      const q = m.spawn('tracer');
      const addr = anon(m, p, 1);
      const pages = pagesBuf(1);
      const bad = FOLL_PIN; // an internal flag: rejected by check 1 everywhere
      const expected: Array<[string, () => number, number]> = [
        ['get_user_pages', () => get_user_pages(m, p, addr, 1, bad, pages), -EINVAL],
        ['get_user_pages_remote', () => get_user_pages_remote(m, p, addr, 1, bad, pages, undefined, q), -EINVAL],
        ['get_user_pages_unlocked', () => get_user_pages_unlocked(m, p, addr, 1, pages, bad), -EINVAL],
        ['get_user_pages_fast', () => get_user_pages_fast(m, p, addr, 1, bad, pages), -EINVAL],
        ['get_user_pages_fast_only', () => get_user_pages_fast_only(m, p, addr, 1, bad, pages), -EINVAL],
        ['pin_user_pages_fast', () => pin_user_pages_fast(m, p, addr, 1, bad, pages), -EINVAL],
        ['pin_user_pages', () => pin_user_pages(m, p, addr, 1, bad, pages), 0],
        ['pin_user_pages_remote', () => pin_user_pages_remote(m, p, addr, 1, bad, pages, undefined, q), 0],
        ['pin_user_pages_unlocked', () => pin_user_pages_unlocked(m, p, addr, 1, pages, bad), 0],
      ];
      for (const [name, call, ret] of expected) {
        expect(call(), name).toBe(ret);
        expect(m.why, name).toMatchObject({ fn: 'is_valid_gup_args', errno: -EINVAL });
      }
      expect(m.warns.records.length).toBe(expected.length);
      expect(pages[0]).toBe(-1);
    },
  );

  it(
    'WARN_ON_ONCE: a repeated bad call is recorded again but marked once:false (the kernel prints the splat ' +
      'only once)',
    () => {
      const { m, p } = world();
      const addr = anon(m, p, 1);
      const pages = pagesBuf(1);
      expect(get_user_pages(m, p, addr, 1, FOLL_LONGTERM, pages)).toBe(-EINVAL);
      expect(get_user_pages(m, p, addr, 1, FOLL_LONGTERM, pages)).toBe(-EINVAL);
      expect(m.warns.records.map((w) => [w.fn, w.once])).toEqual([
        ['is_valid_gup_args', true],
        ['is_valid_gup_args', false],
      ]);
      expect(m.warns.records[0]!.condition).toBe(m.warns.records[1]!.condition);
    },
  );

  it('is_valid_gup_args runs before mm_set_has_pinned_flag: a rejected pin does not set MMF_HAS_PINNED', () => {
    const { m, p } = world();
    const addr = anon(m, p, 1);
    expect(pin_user_pages(m, p, addr, 1, FOLL_GET, pagesBuf(1))).toBe(0);
    expect(pin_user_pages_fast(m, p, addr, 1, FOLL_GET, pagesBuf(1))).toBe(-EINVAL);
    expect(p.mm.has_pinned).toBe(false);
  });
});

// ---------------------------------------------------------------------------------------------

describe('check_vma_flags (mm/gup.c)', () => {
  it('check_vma_flags: VM_IO|VM_PFNMAP (remap_pfn_range mapping) -> -EFAULT for pin, get and the fast path', () => {
    const { m, p } = world();
    const addr = do_mmap(m, p, { size: 4 * PAGE_SIZE, type: 'pfnmap' });
    expect(addr).toBeGreaterThan(0);
    const pages = pagesBuf(4);
    expect(pin_user_pages(m, p, addr, 4, FOLL_WRITE, pages)).toBe(-EFAULT);
    expect(m.why).toMatchObject({ fn: 'check_vma_flags', errno: -EFAULT });
    expect(m.why?.rule).toMatch(/VM_IO|VM_PFNMAP/);
    expect(get_user_pages(m, p, addr, 4, 0, pages)).toBe(-EFAULT);
    // GUP-fast stops at the special PTEs; the slow path then refuses the VMA.
    expect(pin_user_pages_fast(m, p, addr, 4, 0, pages)).toBe(-EFAULT);
    expect(m.why).toMatchObject({ fn: 'check_vma_flags', errno: -EFAULT });
    expect([...pages]).toEqual([-1, -1, -1, -1]);
    expect(pinStats(m).acquired).toBe(0);
  });

  it(
    'check_vma_flags: FOLL_ANON on a mapping that is not anonymous (shmem) -> -EFAULT; on private anon it ' +
      'is accepted',
    () => {
      const { m, p } = world();
      const shm = do_mmap(m, p, { size: PAGE_SIZE, type: 'shmem' });
      expect(userAccess(m, p, shm, PAGE_SIZE, true)).toBe(0);
      const pages = pagesBuf(1);
      expect(pin_user_pages(m, p, shm, 1, FOLL_ANON, pages)).toBe(-EFAULT);
      expect(m.why).toMatchObject({ fn: 'check_vma_flags', errno: -EFAULT });
      expect(m.why?.rule).toMatch(/FOLL_ANON/);
      expect(get_user_pages(m, p, shm, 1, FOLL_ANON, pages)).toBe(-EFAULT);
      const a = anon(m, p, 1);
      expect(pin_user_pages(m, p, a, 1, FOLL_ANON, pages)).toBe(1);
      expect(pages[0]).toBe(pfnAt(p, a));
    },
  );

  it(
    'check_vma_flags: FOLL_LONGTERM on an fsdax mapping -> -EOPNOTSUPP (vma_is_fsdax); a short-term pin ' +
      'is allowed',
    () => {
      const { m, p } = world({ memory: 1 << 30, pmem: 64 << 20 });
      const addr = do_mmap(m, p, { size: 2 * PAGE_SIZE, type: 'fsdax' });
      expect(addr).toBeGreaterThan(0);
      expect(userAccess(m, p, addr, 2 * PAGE_SIZE, true)).toBe(0);
      const pages = pagesBuf(2);
      expect(pin_user_pages(m, p, addr, 2, FOLL_WRITE | FOLL_LONGTERM, pages)).toBe(-EOPNOTSUPP);
      expect(m.why).toMatchObject({ fn: 'check_vma_flags', errno: -EOPNOTSUPP });
      expect(pin_user_pages(m, p, addr, 2, FOLL_LONGTERM, pages)).toBe(-EOPNOTSUPP);
      // GUP-fast refuses the unpinnable ZONE_DEVICE folio itself and falls back to the slow path.
      expect(pin_user_pages_fast(m, p, addr, 2, FOLL_WRITE | FOLL_LONGTERM, pages)).toBe(-EOPNOTSUPP);
      expect([...pages]).toEqual([-1, -1]);
      expect(pinStats(m).acquired).toBe(0);
      expect(pin_user_pages(m, p, addr, 2, FOLL_WRITE, pages)).toBe(2);
      expect(m.alloc.zoneOf(pages[0]!)).toBe('DEVICE');
      expect(pinStats(m).acquired).toBe(2);
    },
  );

  it('check_vma_flags: FOLL_WRITE on a read-only private mapping without FOLL_FORCE -> -EFAULT', () => {
    const { m, p } = world();
    const addr = anon(m, p, 1, 'read', { prot: 'r' });
    const pages = pagesBuf(1);
    expect(pin_user_pages(m, p, addr, 1, FOLL_WRITE, pages)).toBe(-EFAULT);
    expect(m.why).toMatchObject({ fn: 'check_vma_flags', errno: -EFAULT });
    expect(m.why?.rule).toMatch(/VM_WRITE/);
    expect(get_user_pages(m, p, addr, 1, FOLL_WRITE, pages)).toBe(-EFAULT);
    expect(pin_user_pages_fast(m, p, addr, 1, FOLL_WRITE, pages)).toBe(-EFAULT);
    // A read pin of the same mapping is fine.
    expect(pin_user_pages(m, p, addr, 1, 0, pages)).toBe(1);
  });

  it(
    'check_vma_flags + can_follow_write_pte: FOLL_WRITE|FOLL_FORCE on a read-only private (COW) mapping breaks COW ' +
      'into an exclusive anon page, PTE stays read-only',
    () => {
      const { m, p } = world();
      const addr = anon(m, p, 1, 'read', { prot: 'r' });
      expect(pfnAt(p, addr)).toBe(ZERO_PFN);
      const pages = pagesBuf(1);
      expect(pin_user_pages(m, p, addr, 1, FOLL_WRITE | FOLL_FORCE, pages)).toBe(1);
      const pfn = pages[0]!;
      expect(pfn).not.toBe(ZERO_PFN);
      expect(pfnAt(p, addr)).toBe(pfn);
      expect(m.mem.folio_test_anon(pfn)).toBe(true);
      expect(m.mem.PageAnonExclusive(pfn)).toBe(true);
      // maybe_mkwrite(): without VM_WRITE the new PTE is not writable; user stores still fault.
      expect(pte_write(p.mm.pt.pte(addr))).toBe(false);
      expect(userAccess(m, p, addr, PAGE_SIZE, true)).toBe(-EFAULT);
      expect(m.mem.refcount[pfn]).toBe(1 + GUP_PIN_COUNTING_BIAS + 1); // + the lru_add batch's: a new folio
      // get_user_pages with FOLL_FORCE follows the same rule (ptrace's access_process_vm).
      expect(get_user_pages(m, p, addr, 1, FOLL_WRITE | FOLL_FORCE, pages)).toBe(1);
      expect(pages[0]).toBe(pfn);
    },
  );

  it('check_vma_flags: FOLL_WRITE|FOLL_FORCE on a shared read-only mapping -> -EFAULT (not is_cow_mapping)', () => {
    const { m, p } = world();
    const addr = do_mmap(m, p, { size: PAGE_SIZE, type: 'shmem', prot: 'r' });
    expect(userAccess(m, p, addr, PAGE_SIZE, false)).toBe(0);
    const pages = pagesBuf(1);
    expect(pin_user_pages(m, p, addr, 1, FOLL_WRITE | FOLL_FORCE, pages)).toBe(-EFAULT);
    expect(m.why).toMatchObject({ fn: 'check_vma_flags', errno: -EFAULT });
    expect(m.why?.rule).toMatch(/FOLL_FORCE/);
    expect(get_user_pages(m, p, addr, 1, FOLL_WRITE | FOLL_FORCE, pages)).toBe(-EFAULT);
    expect(pages[0]).toBe(-1);
  });

  it('check_vma_flags: FOLL_SPLIT_PMD on a hugetlb mapping -> -EOPNOTSUPP', () => {
    const { m, p } = world({ memory: 1 << 30, hugetlb: { '2M': 2 } });
    const addr = do_mmap(m, p, { size: PMD_SIZE, type: 'hugetlb' });
    expect(addr).toBeGreaterThan(0);
    expect(userAccess(m, p, addr, PAGE_SIZE, true)).toBe(0);
    const pages = pagesBuf(1);
    expect(pin_user_pages(m, p, addr, 1, FOLL_SPLIT_PMD, pages)).toBe(-EOPNOTSUPP);
    expect(m.why).toMatchObject({ fn: 'check_vma_flags', errno: -EOPNOTSUPP });
    expect(pin_user_pages(m, p, addr, 1, 0, pages)).toBe(1);
  });

  it(
    'check_vma_flags/writable_file_mapping_allowed: FOLL_LONGTERM write pin of a shared file mapping needing dirty ' +
      'tracking -> -EFAULT; short-term or read pins allowed',
    () => {
      const { m, p } = world();
      const file = m.newFile('disk', 'data', 4);
      file.users++;
      const addr = do_mmap(m, p, { size: 4 * PAGE_SIZE, type: 'file', file, shared: true });
      expect(addr).toBeGreaterThan(0);
      expect(userAccess(m, p, addr, 4 * PAGE_SIZE, true)).toBe(0);
      const pages = pagesBuf(4);
      expect(pin_user_pages(m, p, addr, 4, FOLL_WRITE | FOLL_LONGTERM, pages)).toBe(-EFAULT);
      expect(m.why).toMatchObject({ fn: 'check_vma_flags', errno: -EFAULT });
      expect(m.why?.rule).toMatch(/writable_file_mapping_allowed/);
      expect(pin_user_pages(m, p, addr, 4, FOLL_WRITE, pages)).toBe(4);
      unpin_user_pages(m, pages, 4);
      expect(pin_user_pages(m, p, addr, 4, FOLL_LONGTERM, pages)).toBe(4);
      unpin_user_pages(m, pages, 4);
      expect(m.warns.records).toEqual([]);
    },
  );
});

// ---------------------------------------------------------------------------------------------

describe('__get_user_pages / __get_user_pages_locked (mm/gup.c)', () => {
  it(
    'gup_vma_lookup: no VMA at start -> -EFAULT, nothing held; MMF_HAS_PINNED was already set by ' +
      '__get_user_pages_locked',
    () => {
      const { m, p } = world();
      const addr = anon(m, p, 1);
      expect(do_munmap(m, p, addr, PAGE_SIZE)).toBe(0);
      const pages = pagesBuf(2);
      expect(pin_user_pages(m, p, addr, 2, FOLL_WRITE, pages)).toBe(-EFAULT);
      expect(m.why).toMatchObject({ fn: 'gup_vma_lookup', errno: -EFAULT });
      expect([...pages]).toEqual([-1, -1]);
      expect(p.mm.has_pinned).toBe(true);
      expect(get_user_pages(m, p, addr, 2, 0, pages)).toBe(-EFAULT);
      expect(pin_user_pages_fast(m, p, addr, 2, 0, pages)).toBe(-EFAULT);
      expect(pinStats(m).acquired).toBe(0);
    },
  );

  it(
    '__get_user_pages partial success: a range running off the end of its VMA returns the count pinned so far; only ' +
      'those pages are held',
    () => {
      const { m, p } = world();
      const addr = anon(m, p, 8);
      expect(do_munmap(m, p, addr + 4 * PAGE_SIZE, 4 * PAGE_SIZE)).toBe(0);
      const pages = pagesBuf(8);
      expect(pin_user_pages(m, p, addr, 8, FOLL_WRITE, pages)).toBe(4);
      for (let i = 0; i < 4; i++) expect(pages[i]).toBe(pfnAt(p, addr + i * PAGE_SIZE));
      expect([...pages.subarray(4)]).toEqual([-1, -1, -1, -1]);
      expect(refcounts(m, p, addr, 4)).toEqual(Array(4).fill(1 + GUP_PIN_COUNTING_BIAS));
      expect(pinStats(m).acquired).toBe(4);
      unpin_user_pages(m, pages, 4);
      expect(refcounts(m, p, addr, 4)).toEqual([1, 1, 1, 1]);
      // FOLL_GET: same rule.
      const got = pagesBuf(8);
      expect(get_user_pages(m, p, addr, 8, 0, got)).toBe(4);
      expect(refcounts(m, p, addr, 4)).toEqual([2, 2, 2, 2]);
      for (let i = 0; i < 4; i++) put_page(m, got[i]!);
      // gup_fast_fallback: the fast walk took 4, the slow path's -EFAULT is masked by that count.
      const fast = pagesBuf(8);
      expect(pin_user_pages_fast(m, p, addr, 8, FOLL_WRITE, fast)).toBe(4);
      expect([...fast.subarray(4)]).toEqual([-1, -1, -1, -1]);
      unpin_user_pages(m, fast, 4);
      expect(pinStats(m)).toEqual({ acquired: 8, released: 8 });
      expect(m.warns.records).toEqual([]);
    },
  );

  it(
    '__get_user_pages partial success: check_vma_flags runs again on crossing into the next VMA (read-only half ' +
      'refuses FOLL_WRITE)',
    () => {
      const { m, p } = world();
      const addr = anon(m, p, 8);
      expect(do_mprotect_pkey(m, p, addr + 4 * PAGE_SIZE, 4 * PAGE_SIZE, 'r')).toBe(0);
      const pages = pagesBuf(8);
      expect(pin_user_pages(m, p, addr, 8, FOLL_WRITE, pages)).toBe(4);
      expect(m.why).toMatchObject({ fn: 'check_vma_flags', errno: -EFAULT });
      expect([...pages.subarray(4)]).toEqual([-1, -1, -1, -1]);
      unpin_user_pages(m, pages, 4);
      // Reads are allowed on both halves.
      expect(pin_user_pages(m, p, addr, 8, 0, pages)).toBe(8);
    },
  );

  it(
    'faultin_page: FOLL_NOFAULT on unfaulted memory -> -EFAULT without faulting; present pages are ' + 'still taken',
    () => {
      const { m, p } = world();
      const addr = anon(m, p, 4, 'none');
      const faults = m.vmstat.get('pgfault');
      const pages = pagesBuf(4);
      expect(pin_user_pages(m, p, addr, 4, FOLL_NOFAULT, pages)).toBe(-EFAULT);
      expect(m.why).toMatchObject({ fn: 'faultin_page', errno: -EFAULT });
      expect(m.vmstat.get('pgfault')).toBe(faults);
      expect(pfnAt(p, addr)).toBe(0);
      // The fast API accepts FOLL_NOFAULT too; its slow part refuses the same way.
      expect(pin_user_pages_fast(m, p, addr, 4, FOLL_NOFAULT | FOLL_WRITE, pages)).toBe(-EFAULT);
      // Two pages present: those are returned, the walk stops at the first missing one.
      expect(userAccess(m, p, addr, 2 * PAGE_SIZE, true)).toBe(0);
      expect(pin_user_pages(m, p, addr, 4, FOLL_NOFAULT | FOLL_WRITE, pages)).toBe(2);
      expect([...pages.subarray(2)]).toEqual([-1, -1]);
      expect(pfnAt(p, addr + 2 * PAGE_SIZE)).toBe(0);
    },
  );

  it(
    'follow_page_pte/no_page_table: FOLL_DUMP reports the zero page and an anon hole as -EFAULT instead of ' +
      'returning or faulting it',
    () => {
      const { m, p } = world();
      const zero = anon(m, p, 1, 'read');
      const hole = anon(m, p, 1, 'none');
      const faults = m.vmstat.get('pgfault');
      const pages = pagesBuf(1);
      expect(get_user_pages(m, p, zero, 1, FOLL_DUMP | FOLL_FORCE, pages)).toBe(-EFAULT);
      expect(get_user_pages(m, p, hole, 1, FOLL_DUMP | FOLL_FORCE, pages)).toBe(-EFAULT);
      expect(m.vmstat.get('pgfault')).toBe(faults);
      expect(pages[0]).toBe(-1);
      // A real anon page is returned (get_dump_page).
      const data = anon(m, p, 1);
      expect(get_user_pages(m, p, data, 1, FOLL_DUMP | FOLL_FORCE, pages)).toBe(1);
      expect(pages[0]).toBe(pfnAt(p, data));
    },
  );

  it(
    'pin_user_pages implies no FOLL_TOUCH (get_user_pages does): a write pin leaves a clean shared page clean and ' +
      'unreferenced',
    () => {
      const { m, p } = world();
      const addr = do_mmap(m, p, { size: 2 * PAGE_SIZE, type: 'shmem' });
      expect(userAccess(m, p, addr, 2 * PAGE_SIZE, false)).toBe(0); // read fault: writable PTE, clean
      expect(pte_write(p.mm.pt.pte(addr))).toBe(true);
      const [a, b] = [pfnAt(p, addr), pfnAt(p, addr + PAGE_SIZE)];
      for (const f of [a, b]) {
        m.mem.clearFlag(f, PG_referenced);
        expect(m.mem.folio_test_dirty(f)).toBe(false);
      }
      const pages = pagesBuf(1);
      expect(pin_user_pages(m, p, addr, 1, FOLL_WRITE, pages)).toBe(1);
      expect(m.mem.folio_test_dirty(a)).toBe(false);
      expect(m.mem.testFlag(a, PG_referenced)).toBe(false);
      // FOLL_TOUCH: folio_mark_dirty() for a write through a clean PTE, folio_mark_accessed().
      expect(get_user_pages(m, p, addr + PAGE_SIZE, 1, FOLL_WRITE, pages)).toBe(1);
      expect(m.mem.folio_test_dirty(b)).toBe(true);
      expect(m.mem.testFlag(b, PG_referenced)).toBe(true);
    },
  );

  it('__get_user_pages: fatal_signal_pending -> -EINTR before any page is taken', () => {
    const { m, p } = world();
    const addr = anon(m, p, 2);
    p.fatalSignalPending = true;
    const pages = pagesBuf(2);
    expect(pin_user_pages(m, p, addr, 2, FOLL_WRITE, pages)).toBe(-EINTR);
    expect(m.why).toMatchObject({ fn: '__get_user_pages', errno: -EINTR });
    expect(get_user_pages(m, p, addr, 2, 0, pages)).toBe(-EINTR);
    expect(pin_user_pages_unlocked(m, p, addr, 2, pages, 0)).toBe(-EINTR);
    expect([...pages]).toEqual([-1, -1]);
    expect(refcounts(m, p, addr, 2)).toEqual([1, 1]);
    expect(pinStats(m).acquired).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------

describe('gup_fast_fallback / gup_fast (mm/gup.c)', () => {
  it(
    'gup_fast: present writable PTEs are all taken by the lockless walk, no fallback (a pending fatal signal is ' +
      'never seen); folio_set_referenced',
    () => {
      const { m, p } = world();
      const addr = anon(m, p, 4);
      for (let i = 0; i < 4; i++) m.mem.clearFlag(pfnAt(p, addr + i * PAGE_SIZE), PG_referenced);
      p.fatalSignalPending = true; // the slow path would return -EINTR
      const faults = m.vmstat.get('pgfault');
      const pages = pagesBuf(4);
      expect(pin_user_pages_fast(m, p, addr, 4, FOLL_WRITE, pages)).toBe(4);
      expect(m.vmstat.get('pgfault')).toBe(faults);
      for (let i = 0; i < 4; i++) {
        expect(pages[i]).toBe(pfnAt(p, addr + i * PAGE_SIZE));
        expect(m.mem.testFlag(pages[i]!, PG_referenced)).toBe(true);
      }
      // try_grab_folio_fast on a small folio: +1 (try_get_folio) + 1023 = one BIAS per pin.
      expect(refcounts(m, p, addr, 4)).toEqual(Array(4).fill(1 + GUP_PIN_COUNTING_BIAS));
      expect(pinStats(m).acquired).toBe(4);
      // FOLL_GET flavour: +1 each.
      const got = pagesBuf(4);
      expect(get_user_pages_fast(m, p, addr, 4, 0, got)).toBe(4);
      expect(refcounts(m, p, addr, 4)).toEqual(Array(4).fill(2 + GUP_PIN_COUNTING_BIAS));
    },
  );

  it(
    'gup_fast_fallback: pages the lockless walk cannot take go to the slow path (faulted in there), and the ' +
      'counts add up',
    () => {
      const { m, p } = world();
      const addr = anon(m, p, 4, 'none');
      expect(userAccess(m, p, addr, 2 * PAGE_SIZE, true)).toBe(0);
      const faults = m.vmstat.get('pgfault');
      const pages = pagesBuf(4);
      expect(pin_user_pages_fast(m, p, addr, 4, FOLL_WRITE, pages)).toBe(4);
      expect(m.vmstat.get('pgfault')).toBe(faults + 2);
      for (let i = 0; i < 4; i++) expect(pages[i]).toBe(pfnAt(p, addr + i * PAGE_SIZE));
      // Every page was faulted in after anon()'s drain: the lru_add batch holds each (+1).
      expect(refcounts(m, p, addr, 4)).toEqual(Array(4).fill(1 + GUP_PIN_COUNTING_BIAS + 1));
      expect(pinStats(m).acquired).toBe(4);
    },
  );

  it('gup_fast_fallback: a slow-path error is returned only if the fast walk took nothing, else the fast count', () => {
    const { m, p } = world();
    const addr = anon(m, p, 4, 'none');
    expect(userAccess(m, p, addr, 2 * PAGE_SIZE, true)).toBe(0);
    p.fatalSignalPending = true;
    const pages = pagesBuf(4);
    // fast: 2 pages; slow: -EINTR at page 3 -> 2.
    expect(pin_user_pages_fast(m, p, addr, 4, FOLL_WRITE, pages)).toBe(2);
    expect([...pages.subarray(2)]).toEqual([-1, -1]);
    unpin_user_pages(m, pages, 2);
    // fast: nothing (first page missing); slow: -EINTR -> -EINTR.
    const pages2 = pagesBuf(2);
    expect(pin_user_pages_fast(m, p, addr + 2 * PAGE_SIZE, 2, FOLL_WRITE, pages2)).toBe(-EINTR);
    expect(get_user_pages_fast(m, p, addr + 2 * PAGE_SIZE, 2, FOLL_WRITE, pages2)).toBe(-EINTR);
    expect([...pages2]).toEqual([-1, -1]);
    expect(pinStats(m)).toEqual({ acquired: 2, released: 2 });
  });

  it(
    'get_user_pages_fast_only (FOLL_FAST_ONLY): returns what the lockless walk got, possibly 0; never faults, never ' +
      'falls back',
    () => {
      const { m, p } = world();
      const addr = anon(m, p, 4, 'none');
      const faults = m.vmstat.get('pgfault');
      const pages = pagesBuf(4);
      expect(get_user_pages_fast_only(m, p, addr, 4, FOLL_WRITE, pages)).toBe(0);
      expect(m.vmstat.get('pgfault')).toBe(faults);
      expect(m.warns.records).toEqual([]); // no __get_user_pages_locked "nothing pinned" WARN
      expect(userAccess(m, p, addr, 2 * PAGE_SIZE, true)).toBe(0);
      expect(get_user_pages_fast_only(m, p, addr, 4, FOLL_WRITE, pages)).toBe(2);
      expect(pages[0]).toBe(pfnAt(p, addr));
      expect(pages[1]).toBe(pfnAt(p, addr + PAGE_SIZE));
      expect([...pages.subarray(2)]).toEqual([-1, -1]);
      expect(refcounts(m, p, addr, 2)).toEqual([3, 3]); // FOLL_GET: +1 each (+1: the lru_add batch)
      expect(pfnAt(p, addr + 2 * PAGE_SIZE)).toBe(0);
      // Zero page (pte_special) and a write to a read-only PTE both stop the walk at once.
      const ro = anon(m, p, 1, 'read');
      expect(get_user_pages_fast_only(m, p, ro, 1, 0, pagesBuf(1))).toBe(0);
      expect(get_user_pages_fast_only(m, p, ro, 1, FOLL_WRITE, pagesBuf(1))).toBe(0);
      expect(m.vmstat.get('pgfault')).toBe(faults + 3);
    },
  );

  it(
    'gup_fast_fallback: flags outside WRITE|LONGTERM|FORCE|PIN|GET|FAST_ONLY|NOFAULT|PCI_P2PDMA|HONOR_NUMA_FAULT -> ' +
      'WARN_ON_ONCE, -EINVAL, before MMF_HAS_PINNED is set',
    () => {
      const { m, p } = world();
      const addr = anon(m, p, 1);
      const pages = pagesBuf(1);
      for (const [name, flag] of Object.entries({
        FOLL_DUMP,
        FOLL_NOWAIT,
        FOLL_HWPOISON,
        FOLL_ANON,
        FOLL_SPLIT_PMD,
        FOLL_INTERRUPTIBLE,
      })) {
        const nwarn = m.warns.records.length;
        expect(pin_user_pages_fast(m, p, addr, 1, flag, pages), name).toBe(-EINVAL);
        expect(m.warns.records.length, name).toBe(nwarn + 1);
        expect(lastWarn(m)?.fn, name).toBe('gup_fast_fallback');
        expect(get_user_pages_fast(m, p, addr, 1, flag, pages), name).toBe(-EINVAL);
      }
      expect(m.why).toMatchObject({ fn: 'gup_fast_fallback', errno: -EINVAL });
      expect(p.mm.has_pinned).toBe(false);
      expect(pages[0]).toBe(-1);
      expect(refcounts(m, p, addr, 1)).toEqual([1]);
      // Every allowed flag passes.
      expect(
        pin_user_pages_fast(
          m,
          p,
          addr,
          1,
          FOLL_WRITE | FOLL_FORCE | FOLL_NOFAULT | FOLL_HONOR_NUMA_FAULT | FOLL_LONGTERM,
          pages,
        ),
      ).toBe(1);
      expect(p.mm.has_pinned).toBe(true);
    },
  );

  it(
    'gup_fast_fallback: negative nr_pages -> -EOVERFLOW (len from the unsigned conversion makes start + len wrap); ' +
      'MMF_HAS_PINNED already set',
    () => {
      const { m, p } = world();
      const addr = anon(m, p, 1);
      const pages = pagesBuf(1);
      expect(pin_user_pages_fast(m, p, addr, -1, 0, pages)).toBe(-EOVERFLOW);
      expect(m.why).toMatchObject({ fn: 'gup_fast_fallback', errno: -EOVERFLOW });
      expect(p.mm.has_pinned).toBe(true);
      expect(get_user_pages_fast(m, p, addr, -5, 0, pages)).toBe(-EOVERFLOW);
      expect(get_user_pages_fast_only(m, p, addr, -1, 0, pages)).toBe(-EOVERFLOW);
      expect(pages[0]).toBe(-1);
      expect(m.warns.records).toEqual([]);
    },
  );

  it('gup_fast_fallback: end beyond TASK_SIZE_MAX -> -EFAULT', () => {
    const { m, p } = world();
    const pages = pagesBuf(2);
    expect(pin_user_pages_fast(m, p, TASK_SIZE_MAX - PAGE_SIZE, 2, 0, pages)).toBe(-EFAULT);
    expect(m.why).toMatchObject({ fn: 'gup_fast_fallback', errno: -EFAULT });
    expect(get_user_pages_fast(m, p, TASK_SIZE_MAX, 1, 0, pages)).toBe(-EFAULT);
  });

  it(
    'nr_pages == 0 -> 0 without a WARN: gup_fast_fallback sets MMF_HAS_PINNED first, __get_user_pages_locked ' +
      'returns before setting it',
    () => {
      const { m, p } = world();
      const addr = anon(m, p, 1);
      const pages = pagesBuf(1);
      expect(pin_user_pages(m, p, addr, 0, 0, pages)).toBe(0);
      expect(get_user_pages(m, p, addr, 0, 0, pages)).toBe(0);
      expect(p.mm.has_pinned).toBe(false);
      expect(pin_user_pages_fast(m, p, addr, 0, 0, pages)).toBe(0);
      expect(p.mm.has_pinned).toBe(true);
      expect(m.warns.records).toEqual([]);
      expect(refcounts(m, p, addr, 1)).toEqual([1]);
    },
  );

  it(
    'gup_fast_fallback: start is rounded down to its page (untagged_addr(start) & PAGE_MASK); the slow path pins ' +
      'the same page',
    () => {
      const { m, p } = world();
      const addr = anon(m, p, 3);
      const pages = pagesBuf(2);
      expect(pin_user_pages_fast(m, p, addr + 123, 1, 0, pages)).toBe(1);
      expect(pages[0]).toBe(pfnAt(p, addr));
      expect(pin_user_pages_fast(m, p, addr + PAGE_SIZE - 1, 2, 0, pages)).toBe(2);
      expect([pages[0], pages[1]]).toEqual([pfnAt(p, addr), pfnAt(p, addr + PAGE_SIZE)]);
      const slow = pagesBuf(2);
      expect(pin_user_pages(m, p, addr + PAGE_SIZE + 5, 2, 0, slow)).toBe(2);
      expect([slow[0], slow[1]]).toEqual([pfnAt(p, addr + PAGE_SIZE), pfnAt(p, addr + 2 * PAGE_SIZE)]);
    },
  );

  it(
    'gup_fast: with FOLL_PIN and an odd mm->write_protect_seq (fork write-protecting) the lockless walk pins ' +
      'nothing; FOLL_GET is not affected',
    () => {
      const { m, p } = world();
      const addr = anon(m, p, 2);
      p.fatalSignalPending = true; // makes a fallback to the slow path visible as -EINTR
      p.mm.write_protect_seq = 1;
      const pages = pagesBuf(2);
      expect(pin_user_pages_fast(m, p, addr, 2, FOLL_WRITE, pages)).toBe(-EINTR);
      expect(pinStats(m).acquired).toBe(0);
      expect(get_user_pages_fast(m, p, addr, 2, FOLL_WRITE, pages)).toBe(2);
      put_page(m, pages[0]!);
      put_page(m, pages[1]!);
      p.mm.write_protect_seq = 2;
      expect(pin_user_pages_fast(m, p, addr, 2, FOLL_WRITE, pages)).toBe(2);
    },
  );
});

// ---------------------------------------------------------------------------------------------

describe('zero page (try_grab_folio, gup_put_folio, gup_must_unshare)', () => {
  it(
    'try_grab_folio: R/O FOLL_PIN of read-faulted anon memory returns the shared zero page with no refcount change ' +
      'and no vmstat; unpin is a no-op',
    () => {
      const { m, p } = world();
      const addr = anon(m, p, 2, 'read');
      const rc = m.mem.refcount[ZERO_PFN]!;
      const pages = pagesBuf(2);
      expect(pin_user_pages(m, p, addr, 2, 0, pages)).toBe(2);
      expect([...pages]).toEqual([ZERO_PFN, ZERO_PFN]);
      expect(m.mem.refcount[ZERO_PFN]).toBe(rc);
      expect(pinStats(m)).toEqual({ acquired: 0, released: 0 });
      expect(folio_maybe_dma_pinned(m, ZERO_PFN)).toBe(false);
      unpin_user_pages(m, pages, 2);
      expect(m.mem.refcount[ZERO_PFN]).toBe(rc);
      expect(pinStats(m)).toEqual({ acquired: 0, released: 0 });
      expect(m.warns.records).toEqual([]);
    },
  );

  it(
    'unpin_user_pages_dirty_lock(make_dirty) on the zero page: no unpin, no vmstat, but folio_mark_dirty() sets ' +
      'PG_dirty on it (no mapping: noop_dirty_folio)',
    () => {
      const { m, p } = world();
      const addr = anon(m, p, 1, 'read');
      const pages = pagesBuf(1);
      expect(pin_user_pages(m, p, addr, 1, 0, pages)).toBe(1);
      expect(pages[0]).toBe(ZERO_PFN);
      expect(m.mem.folio_test_dirty(ZERO_PFN)).toBe(false);
      const dirty = m.vmstat.get('nr_dirty');
      unpin_user_pages_dirty_lock(m, pages, 1, true);
      expect(m.mem.folio_test_dirty(ZERO_PFN)).toBe(true);
      expect(m.vmstat.get('nr_dirty')).toBe(dirty);
      expect(pinStats(m)).toEqual({ acquired: 0, released: 0 });
      expect(m.warns.records).toEqual([]);
    },
  );

  it(
    'zero page via pin_user_pages_fast: GUP-fast stops at the special PTE, the slow path returns the zero ' +
      'page unpinned',
    () => {
      const { m, p } = world();
      const addr = anon(m, p, 1, 'read');
      const rc = m.mem.refcount[ZERO_PFN]!;
      const pages = pagesBuf(1);
      expect(pin_user_pages_fast(m, p, addr, 1, 0, pages)).toBe(1);
      expect(pages[0]).toBe(ZERO_PFN);
      expect(m.mem.refcount[ZERO_PFN]).toBe(rc);
      expect(pinStats(m).acquired).toBe(0);
    },
  );

  it(
    'try_grab_folio: FOLL_GET of the zero page takes a normal +1 reference (FOLL_GET is not special-cased); ' +
      'put_page drops it',
    () => {
      const { m, p } = world();
      const addr = anon(m, p, 1, 'read');
      const rc = m.mem.refcount[ZERO_PFN]!;
      const pages = pagesBuf(1);
      expect(get_user_pages(m, p, addr, 1, 0, pages)).toBe(1);
      expect(pages[0]).toBe(ZERO_PFN);
      expect(m.mem.refcount[ZERO_PFN]).toBe(rc + 1);
      expect(get_user_pages_fast(m, p, addr, 1, 0, pages)).toBe(1);
      expect(m.mem.refcount[ZERO_PFN]).toBe(rc + 2);
      put_page(m, ZERO_PFN);
      put_page(m, ZERO_PFN);
      expect(m.mem.refcount[ZERO_PFN]).toBe(rc);
      expect(pinStats(m).acquired).toBe(0);
    },
  );

  it(
    'gup_must_unshare: a R/O FOLL_LONGTERM pin in a private mapping never returns the zero page (unshare fault maps ' +
      'a fresh exclusive anon page)',
    () => {
      const { m, p } = world();
      const addr = anon(m, p, 1, 'read');
      const rc = m.mem.refcount[ZERO_PFN]!;
      const pages = pagesBuf(1);
      expect(pin_user_pages(m, p, addr, 1, FOLL_LONGTERM, pages)).toBe(1);
      const pfn = pages[0]!;
      expect(pfn).not.toBe(ZERO_PFN);
      expect(pfnAt(p, addr)).toBe(pfn);
      expect(m.mem.folio_test_anon(pfn)).toBe(true);
      expect(m.mem.PageAnonExclusive(pfn)).toBe(true);
      expect(pte_write(p.mm.pt.pte(addr))).toBe(false); // unshare never maps writable
      expect(m.mem.refcount[pfn]).toBe(1 + GUP_PIN_COUNTING_BIAS + 1); // + the lru_add batch's
      expect(m.mem.refcount[ZERO_PFN]).toBe(rc);
      expect(pinStats(m).acquired).toBe(1);
    },
  );
});

// ---------------------------------------------------------------------------------------------

describe('MMF_HAS_PINNED (mm_set_has_pinned_flag)', () => {
  it(
    'MMF_HAS_PINNED: set by FOLL_PIN (pin_user_pages, pin_user_pages_fast), never by FOLL_GET; stays set ' +
      'after unpin',
    () => {
      const a = world();
      const addr = anon(a.m, a.p, 1);
      const pages = pagesBuf(1);
      expect(get_user_pages(a.m, a.p, addr, 1, 0, pages)).toBe(1);
      expect(get_user_pages_fast(a.m, a.p, addr, 1, 0, pages)).toBe(1);
      expect(get_user_pages_unlocked(a.m, a.p, addr, 1, pages, 0)).toBe(1);
      expect(a.p.mm.has_pinned).toBe(false);
      expect(pin_user_pages(a.m, a.p, addr, 1, 0, pages)).toBe(1);
      expect(a.p.mm.has_pinned).toBe(true);
      unpin_user_pages(a.m, pages, 1);
      expect(a.p.mm.has_pinned).toBe(true);

      const b = world();
      const baddr = anon(b.m, b.p, 1);
      expect(pin_user_pages_fast(b.m, b.p, baddr, 1, 0, pages)).toBe(1);
      expect(b.p.mm.has_pinned).toBe(true);

      const c = world();
      const caddr = anon(c.m, c.p, 1);
      expect(pin_user_pages_unlocked(c.m, c.p, caddr, 1, pages, 0)).toBe(1);
      expect(c.p.mm.has_pinned).toBe(true);
    },
  );

  it(
    'pin_user_pages_remote: FOLL_PIN on another process sets MMF_HAS_PINNED on the target mm, not the caller; ' +
      'get_user_pages_remote sets nothing',
    () => {
      const { m, p: target } = world();
      const tracer = m.spawn('tracer');
      const addr = anon(m, target, 2, 'none');
      const pages = pagesBuf(2);
      expect(get_user_pages_remote(m, target, addr, 2, FOLL_WRITE, pages, undefined, tracer)).toBe(2);
      expect(target.mm.has_pinned).toBe(false);
      put_page(m, pages[0]!);
      put_page(m, pages[1]!);
      expect(pin_user_pages_remote(m, target, addr, 2, FOLL_WRITE, pages, undefined, tracer)).toBe(2);
      expect(target.mm.has_pinned).toBe(true);
      expect(tracer.mm.has_pinned).toBe(false);
      expect(pages[0]).toBe(pfnAt(target, addr));
      // The second touch of a page activates it on the classic LRU (folio_mark_accessed()): the per-CPU
      // activate batch holds a reference until it is drained; these counts are GUP's own.
      lru_add_drain(m);
      expect(refcounts(m, target, addr, 2)).toEqual([1 + GUP_PIN_COUNTING_BIAS, 1 + GUP_PIN_COUNTING_BIAS]);
      expect(pinStats(m).acquired).toBe(2);
    },
  );
});

// ---------------------------------------------------------------------------------------------

describe('refusal records (m.why)', () => {
  it('m.why names the kernel function and rule of each refusal; a successful call clears it', () => {
    const { m, p } = world({ memory: 1 << 30, pmem: 16 << 20 });
    const ok = anon(m, p, 1);
    const pfnmap = do_mmap(m, p, { size: PAGE_SIZE, type: 'pfnmap' });
    const dax = do_mmap(m, p, { size: PAGE_SIZE, type: 'fsdax' });
    const unfaulted = anon(m, p, 1, 'none');
    const hole = anon(m, p, 1);
    expect(do_munmap(m, p, hole, PAGE_SIZE)).toBe(0); // last, so no later mmap reuses the gap
    const pages = pagesBuf(1);
    const cases: Array<[string, () => number, number, string]> = [
      ['internal flag', () => pin_user_pages(m, p, ok, 1, FOLL_PIN, pages), 0, 'is_valid_gup_args'],
      ['fast mask', () => pin_user_pages_fast(m, p, ok, 1, FOLL_DUMP, pages), -EINVAL, 'gup_fast_fallback'],
      ['overflow', () => pin_user_pages_fast(m, p, ok, -1, 0, pages), -EOVERFLOW, 'gup_fast_fallback'],
      ['no vma', () => pin_user_pages(m, p, hole, 1, 0, pages), -EFAULT, 'gup_vma_lookup'],
      ['pfnmap', () => pin_user_pages(m, p, pfnmap, 1, 0, pages), -EFAULT, 'check_vma_flags'],
      ['fsdax longterm', () => pin_user_pages(m, p, dax, 1, FOLL_LONGTERM, pages), -EOPNOTSUPP, 'check_vma_flags'],
      ['nofault', () => pin_user_pages(m, p, unfaulted, 1, FOLL_NOFAULT, pages), -EFAULT, 'faultin_page'],
    ];
    for (const [name, call, ret, fn] of cases) {
      expect(call(), name).toBe(ret);
      expect(m.why?.fn, name).toBe(fn);
      expect(m.why?.rule, name).toMatch(/\S/);
      if (ret < 0) expect(m.why?.errno, name).toBe(ret);
      expect(pin_user_pages(m, p, ok, 1, 0, pages), name).toBe(1);
      expect(m.why, name).toBeUndefined();
      unpin_user_pages(m, pages, 1);
    }
  });
});
