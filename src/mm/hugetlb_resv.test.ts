// Unit tests for hugetlb reservations and the pool counters (mm/hugetlb_resv.ts, mm/hugetlb.ts): one
// `it` per kernel rule of mm/hugetlb.c (hugetlb_reserve_pages, alloc_hugetlb_folio,
// hugetlb_vm_op_close, hugetlb_dup_vma_private, __unmap_hugepage_range, hugetlb_acct_memory,
// gather_surplus_pages, return_unused_surplus_pages). The counter values are the ones measured on the
// 6.18 host (/sys/kernel/mm/hugepages/hugepages-2048kB/*, see docs/hugetlb.md).

import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { Machine, type MachineConfig } from './machine.js';
import { type Process } from './task.js';
import { do_exit } from '../kernel/exit.js';
import { EFAULT, ENOMEM } from '../uapi/errno.js';
import { do_mmap, do_munmap } from './mmap.js';
import { do_madvise } from './madvise.js';
import { userAccess } from './user_access.js';
import { PMD_SIZE, PMD_ORDER } from './memmap.js';
import { ResvMap } from './hugetlb_resv.js';
import { checkInvariants } from '../tools/invariants.js';
import { fork } from '../../test/support.js';

const HP = PMD_SIZE;

function pool(cfg: Partial<MachineConfig>): { m: Machine; p: Process } {
  const m = new Machine({ memory: 256 << 20, ...cfg });
  return { m, p: m.spawn('app') };
}

/** The 2M counters as [nr_hugepages, free_hugepages, resv_hugepages, surplus_hugepages]. */
function counters(m: Machine): [number, number, number, number] {
  const c = m.hugetlb.counters(PMD_ORDER);
  expect(checkInvariants(m)).toEqual([]);
  return [c.nr_hugepages, c.free_hugepages, c.resv_hugepages, c.surplus_hugepages];
}

const mapHuge = (m: Machine, p: Process, n: number, more: { shared?: boolean; noreserve?: boolean } = {}) =>
  do_mmap(m, p, { size: n * HP, type: 'hugetlb', shared: more.shared ?? false, noreserve: more.noreserve ?? false });

describe('resv_map (region_add, region_del, region_count, region_chg)', () => {
  it('a resv_map agrees with a set of covered huge page indices under any sequence of adds and deletes', () => {
    const op = fc.record({ add: fc.boolean(), f: fc.nat(40), len: fc.nat(12) });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
        const map = new ResvMap();
        const set = new Set<number>();
        for (const { add, f, len } of ops) {
          const t = f + len;
          const inRange = [...Array(len).keys()].map((i) => f + i);
          const covered = inRange.filter((i) => set.has(i)).length;
          expect(map.region_count(f, t)).toBe(covered);
          expect(map.region_chg(f, t)).toBe(len - covered);
          if (add) {
            expect(map.region_add(f, t)).toBe(len - covered);
            for (const i of inRange) set.add(i);
          } else {
            expect(map.region_del(f, t)).toBe(covered);
            for (const i of inRange) set.delete(i);
          }
          // Regions stay sorted and disjoint (region_del() may leave two touching, as the kernel's does).
          for (let k = 1; k < map.regions.length; k++)
            expect(map.regions[k]!.from).toBeGreaterThanOrEqual(map.regions[k - 1]!.to);
        }
        expect(map.region_count(0, 100)).toBe(set.size);
      }),
    );
  });
});

describe('per-mapping reservations (hugetlb_reserve_pages, hugetlb_vm_op_close)', () => {
  it('hugetlb_reserve_pages(): a private mapping reserves all its pages; each first fault consumes one', () => {
    const { m, p } = pool({ hugetlb: { '2M': 3 } });
    const a = mapHuge(m, p, 3);
    expect(counters(m)).toEqual([3, 3, 3, 0]);
    expect(userAccess(m, p, a, 1, true)).toBe(0);
    expect(counters(m)).toEqual([3, 2, 2, 0]);
    expect(do_munmap(m, p, a, 3 * HP)).toBe(0);
    expect(counters(m)).toEqual([3, 3, 0, 0]);
  });

  it(
    'hugetlb_vm_op_close(): unmapping a private mapping returns only the reservations its faults did not ' +
      "consume, never another mapping's",
    () => {
      const { m, p } = pool({ hugetlb: { '2M': 4 } });
      const a = mapHuge(m, p, 2);
      expect(userAccess(m, p, a, 1, true)).toBe(0);
      const b = mapHuge(m, p, 2);
      expect(b).toBeGreaterThan(0);
      expect(counters(m)).toEqual([4, 3, 3, 0]);
      expect(do_munmap(m, p, a, 2 * HP)).toBe(0);
      // b's two reservations stay.
      expect(counters(m)).toEqual([4, 4, 2, 0]);
      expect(userAccess(m, p, b, 2 * HP, true)).toBe(0);
      expect(counters(m)).toEqual([4, 2, 0, 0]);
    },
  );

  it(
    'hugetlb_reserve_pages(): a shared mapping reserves in its inode map; evicting the file returns what the page ' +
      'cache did not use (hugetlb_unreserve_pages)',
    () => {
      const { m, p } = pool({ hugetlb: { '2M': 4 } });
      const s = mapHuge(m, p, 2, { shared: true });
      expect(counters(m)).toEqual([4, 4, 2, 0]);
      expect(userAccess(m, p, s, 1, true)).toBe(0);
      expect(counters(m)).toEqual([4, 3, 1, 0]);
      const q = mapHuge(m, p, 1);
      expect(counters(m)).toEqual([4, 3, 2, 0]);
      expect(do_munmap(m, p, s, 2 * HP)).toBe(0);
      expect(counters(m)).toEqual([4, 4, 1, 0]);
      expect(do_munmap(m, p, q, HP)).toBe(0);
      expect(counters(m)).toEqual([4, 4, 0, 0]);
    },
  );

  it('hugetlb_reserve_pages(): mmap is -ENOMEM when the unreserved free pages cannot cover the mapping', () => {
    const { m, p } = pool({ hugetlb: { '2M': 2 } });
    expect(mapHuge(m, p, 1)).toBeGreaterThan(0);
    expect(mapHuge(m, p, 2)).toBe(-ENOMEM);
    expect(m.why?.fn).toBe('hugetlb_reserve_pages');
    expect(counters(m)).toEqual([2, 2, 1, 0]);
  });

  it(
    'MAP_NORESERVE (VM_NORESERVE): nothing reserved at mmap; a fault takes a free page nobody reserved, else ' +
      'SIGBUS',
    () => {
      const { m, p } = pool({ hugetlb: { '2M': 2 } });
      const r = mapHuge(m, p, 1);
      const n = mapHuge(m, p, 2, { noreserve: true });
      expect(n).toBeGreaterThan(0);
      expect(counters(m)).toEqual([2, 2, 1, 0]);
      expect(userAccess(m, p, n, 1, true)).toBe(0);
      expect(counters(m)).toEqual([2, 1, 1, 0]);
      // The last free page is r's.
      expect(userAccess(m, p, n + HP, 1, true)).toBe(-EFAULT);
      expect(userAccess(m, p, r, 1, true)).toBe(0);
      expect(counters(m)).toEqual([2, 0, 0, 0]);
    },
  );

  it(
    'hugetlb_vm_op_open()/close() on a split: both pieces share the owner map; unmapping the faulted piece gives ' +
      'its page and its reservation back, unmapping the other returns its unused one',
    () => {
      const { m, p } = pool({ hugetlb: { '2M': 2 } });
      const a = mapHuge(m, p, 2);
      expect(userAccess(m, p, a, 1, true)).toBe(0);
      expect(counters(m)).toEqual([2, 1, 1, 0]);
      expect(do_munmap(m, p, a, HP)).toBe(0);
      expect(counters(m)).toEqual([2, 2, 1, 0]);
      expect(do_munmap(m, p, a + HP, HP)).toBe(0);
      expect(counters(m)).toEqual([2, 2, 0, 0]);
    },
  );

  it(
    "__unmap_hugepage_range(): MADV_DONTNEED by the mapping's owner restores the page's reservation (the " +
      'page is freed with restore_reserve and its reserve-map entry removed)',
    () => {
      const { m, p } = pool({ hugetlb: { '2M': 2 } });
      const a = mapHuge(m, p, 1);
      expect(userAccess(m, p, a, 1, true)).toBe(0);
      expect(counters(m)).toEqual([2, 1, 0, 0]);
      expect(do_madvise(m, p, a, HP, 'dontneed')).toBe(0);
      expect(counters(m)).toEqual([2, 2, 1, 0]);
      expect(userAccess(m, p, a, 1, true)).toBe(0);
      expect(counters(m)).toEqual([2, 1, 0, 0]);
      expect(do_munmap(m, p, a, HP)).toBe(0);
      expect(counters(m)).toEqual([2, 2, 0, 0]);
    },
  );
});

describe('fork (hugetlb_dup_vma_private)', () => {
  it(
    "hugetlb_dup_vma_private(): a fork child's private mapping has no reservation: its fault cannot take the " +
      "parent's reserved page (SIGBUS); the parent's later fault succeeds",
    () => {
      const { m, p } = pool({ hugetlb: { '2M': 2 } });
      const a = mapHuge(m, p, 2);
      expect(userAccess(m, p, a, 1, true)).toBe(0);
      const c = fork(m, p);
      expect(counters(m)).toEqual([2, 1, 1, 0]);
      expect(userAccess(m, c, a + HP, 1, true)).toBe(-EFAULT);
      expect(counters(m)).toEqual([2, 1, 1, 0]);
      // The page the parent wrote before fork is shared: reading it works.
      expect(userAccess(m, c, a, 1, false)).toBe(0);
      do_exit(m, c);
      expect(userAccess(m, p, a + HP, 1, true)).toBe(0);
      expect(counters(m)).toEqual([2, 0, 0, 0]);
    },
  );

  it('alloc_hugetlb_folio(): even with every pool page free, a child cannot fault while they are all reserved', () => {
    const { m, p } = pool({ hugetlb: { '2M': 2 } });
    const a = mapHuge(m, p, 2);
    const c = fork(m, p);
    expect(userAccess(m, c, a, 1, true)).toBe(-EFAULT);
    expect(userAccess(m, c, a, 1, false)).toBe(-EFAULT);
    expect(counters(m)).toEqual([2, 2, 2, 0]);
    expect(userAccess(m, p, a, 1, true)).toBe(0);
  });

  it(
    '__unmap_hugepage_range() + hugetlb_vm_op_close(): the owner unmapping a page its fork child still maps ' +
      'makes HugePages_Rsvd wrap below zero until the child lets the page go (measured: 18446744073709551615)',
    () => {
      const { m, p } = pool({ hugetlb: { '2M': 2 } });
      const a = mapHuge(m, p, 1);
      expect(userAccess(m, p, a, 1, true)).toBe(0);
      const c = fork(m, p);
      expect(do_munmap(m, p, a, HP)).toBe(0);
      expect(counters(m)).toEqual([2, 1, -1, 0]);
      do_exit(m, c);
      expect(counters(m)).toEqual([2, 2, 0, 0]);
    },
  );
});

describe('surplus pages (nr_overcommit_hugepages)', () => {
  it(
    'gather_surplus_pages(): a reservation beyond the pool allocates surplus pages up to nr_overcommit_hugepages; ' +
      'return_unused_surplus_pages() frees them at unmap; beyond the overcommit, mmap is -ENOMEM',
    () => {
      const { m, p } = pool({ hugetlb: { '2M': 1 }, hugetlb_overcommit: { '2M': 2 } });
      const a = mapHuge(m, p, 3);
      expect(a).toBeGreaterThan(0);
      expect(counters(m)).toEqual([3, 3, 3, 2]);
      expect(userAccess(m, p, a, 1, true)).toBe(0);
      expect(counters(m)).toEqual([3, 2, 2, 2]);
      const free = m.alloc.nr_free_pages();
      expect(do_munmap(m, p, a, 3 * HP)).toBe(0);
      expect(counters(m)).toEqual([1, 1, 0, 0]);
      expect(m.alloc.nr_free_pages()).toBe(free + 2 * 512);
      expect(mapHuge(m, p, 4)).toBe(-ENOMEM);
      expect(counters(m)).toEqual([1, 1, 0, 0]);
    },
  );

  it('alloc_buddy_hugetlb_folio_with_mpol(): a MAP_NORESERVE fault with an empty pool takes a surplus page', () => {
    const { m, p } = pool({ hugetlb_overcommit: { '2M': 1 } });
    const a = mapHuge(m, p, 2, { noreserve: true });
    expect(counters(m)).toEqual([0, 0, 0, 0]);
    expect(userAccess(m, p, a, 1, true)).toBe(0);
    expect(counters(m)).toEqual([1, 0, 0, 1]);
    expect(userAccess(m, p, a + HP, 1, true)).toBe(-EFAULT);
    expect(do_munmap(m, p, a, 2 * HP)).toBe(0);
    expect(counters(m)).toEqual([0, 0, 0, 0]);
  });
});
