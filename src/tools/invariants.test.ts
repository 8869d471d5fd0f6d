import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { Machine } from '../mm/machine.js';
import { checkInvariants } from './invariants.js';
import { kernel_clone } from '../kernel/fork.js';
import { do_exit } from '../kernel/exit.js';
import { do_mmap } from '../mm/mmap.js';
import { do_madvise } from '../mm/madvise.js';
import { userAccess } from '../mm/user_access.js';
import { pin_user_pages, unpin_user_pages, unpin_user_page } from '../mm/gup.js';
import { FOLL_WRITE } from '../mm/foll_flags.js';
import { PAGE_SIZE, PMD_SIZE } from '../mm/memmap.js';
import { hex } from '../mm/hex.js';
import { pte_pfn, pte_index } from '../mm/pgtable.js';

/** A machine with a small anon page, a PMD-mapped THP and a forked child sharing both. */
function setup(fork = true) {
  const m = new Machine({ memory: 64 << 20, hugetlb: { '2M': 2 } });
  const p = m.spawn('app');
  const small = do_mmap(m, p, { size: 16 << 10, type: 'anon' });
  expect(do_madvise(m, p, small, 16 << 10, 'nohugepage')).toBe(0);
  expect(userAccess(m, p, small, 16 << 10, true)).toBe(0);
  const huge = do_mmap(m, p, { size: PMD_SIZE, type: 'anon' });
  expect(do_madvise(m, p, huge, PMD_SIZE, 'hugepage')).toBe(0);
  expect(userAccess(m, p, huge, PMD_SIZE, true)).toBe(0);
  const shm = do_mmap(m, p, { size: 64 << 10, type: 'memfd' });
  expect(userAccess(m, p, shm, 64 << 10, false)).toBe(0);
  if (fork) expect(typeof kernel_clone(m, p, 'child')).toBe('object');
  return { m, p, small, huge, shm };
}

describe('checkInvariants', () => {
  it('finds nothing wrong in a sound machine, with pins tracked', () => {
    const { m, p, small, huge } = setup(false);
    expect(checkInvariants(m)).toEqual([]);
    const pages = new Int32Array(4);
    expect(pin_user_pages(m, p, small, 4, FOLL_WRITE, pages)).toBe(4);
    const hp = new Int32Array(8);
    expect(pin_user_pages(m, p, huge + 8 * 4096, 8, FOLL_WRITE, hp)).toBe(8);
    expect(m.mem.folio_order(m.mem.page_folio(hp[0]!))).toBe(9);
    const pins = new Map<number, number>();
    for (const pfn of [...pages, ...hp]) {
      const f = m.mem.page_folio(pfn);
      pins.set(f, (pins.get(f) ?? 0) + 1);
    }
    expect(checkInvariants(m, pins, new Map())).toEqual([]);
    // Fork copies the pinned pages for the child; the parent keeps its pinned THP.
    expect(typeof kernel_clone(m, p, 'child')).toBe('object');
    expect(checkInvariants(m, pins, new Map())).toEqual([]);
    // The caller claims one more pin than the folio has.
    const thp = m.mem.page_folio(hp[0]!);
    pins.set(thp, 9);
    expect(checkInvariants(m, pins).join('\n')).toMatch(/_pincount 8, the caller holds 9/);
    pins.set(thp, 8);
    unpin_user_pages(m, pages, 4);
    unpin_user_pages(m, hp, 8);
    expect(checkInvariants(m, new Map(), new Map())).toEqual([]);
    expect(m.warns.records).toEqual([]);
  });

  it('catches a poked refcount', () => {
    const { m, p, small } = setup();
    const pfn = pte_pfn(p.mm.pt.pte(small));
    m.mem.refcount[pfn] = 1; // mapped by parent and child: needs 2
    expect(checkInvariants(m).join('\n')).toMatch(/_refcount 1 < mapcount 2/);
    m.mem.refcount[pfn] = -5;
    expect(checkInvariants(m).join('\n')).toMatch(/_refcount -5 \(negative\)/);
    m.mem.refcount[pfn] = 3; // an extra reference nobody holds
    expect(checkInvariants(m)).toEqual([]); // only a lower bound without the caller's counts...
    // ...exact with them
    expect(checkInvariants(m, new Map(), new Map()).join('\n')).toMatch(/_refcount 3 != mapcount 2/);
  });

  it('catches a wrong mapcount, a stale PTE and a broken large mapcount', () => {
    const { m, p, small, huge } = setup();
    const pfn = pte_pfn(p.mm.pt.pte(small));
    m.mem.mapcount[pfn] = m.mem.mapcount[pfn]! + 1;
    expect(checkInvariants(m).join('\n')).toMatch(/has mapcount 3 but 2 PTE\(s\) map it/);
    m.mem.mapcount[pfn] = m.mem.mapcount[pfn]! - 1;
    const thp = pte_pfn(p.mm.pt.pmdLeaf(huge));
    m.mem.addLargeMapcount(thp, 1);
    expect(checkInvariants(m).join('\n')).toMatch(/_large_mapcount\+1 = 3 != entire 2/);
    m.mem.addLargeMapcount(thp, -1);
    expect(checkInvariants(m)).toEqual([]);
    // A PTE left behind after its page went back to the buddy allocator.
    const free = m.alloc.areas.find((a) => a.free > 0 && a.zone !== 'DEVICE')!;
    const freePfn = free.heads.find((h) => h >= 0)!;
    p.mm.pt.pte_alloc(small)![pte_index(small)] = freePfn * 32 + 1;
    expect(checkInvariants(m).join('\n')).toMatch(/not allocated|free page/);
  });

  it('catches broken buddy accounting and a leaked page', () => {
    const { m } = setup();
    const area = m.alloc.areas.find((a) => a.free > 0)!;
    area.free += 1;
    expect(checkInvariants(m).join('\n')).toMatch(/area.free says/);
    area.free -= 1;
    const leaked = m.alloc.allocBlock(0, { movable: true }); // never prepped, never freed
    expect(checkInvariants(m).join('\n')).toMatch(
      new RegExp(`0x${leaked.toString(16)}: allocated \\(order 0\\) with refcount 0`),
    );
  });

  it('fsdax pages freed at exit do not count as free RAM', () => {
    const m = new Machine({ memory: 64 << 20, pmem: 16 << 20 });
    const p = m.spawn('dax');
    const a = do_mmap(m, p, { size: 64 << 10, type: 'fsdax' });
    expect(userAccess(m, p, a, 64 << 10, true)).toBe(0);
    expect(checkInvariants(m)).toEqual([]);
    do_exit(m, p); // the unlinked pmem file is truncated: its pages go back to the pgmap
    expect(checkInvariants(m)).toEqual([]);
  });

  it(
    'after misuse (like the kernel taint) relaxes only the counts of the folios misuse touched, and keeps ' +
      'checking everything else',
    () => {
      const { m, p, small, huge } = setup(false);
      const pages = new Int32Array(2);
      expect(pin_user_pages(m, p, small, 2, FOLL_WRITE, pages)).toBe(2);
      const [a, b] = [pages[0]!, pages[1]!];
      const hp = new Int32Array(1);
      expect(pin_user_pages(m, p, huge, 1, FOLL_WRITE, hp)).toBe(1);
      const thp = m.mem.page_folio(hp[0]!);
      const pins = new Map([
        [a, 1],
        [b, 1],
        [thp, 1],
      ]);
      // A double unpin of page a: its refcount goes below zero, nr_foll_pin_released passes acquired.
      unpin_user_page(m, a);
      unpin_user_page(m, a);
      unpin_user_page(m, hp[0]!);
      unpin_user_page(m, hp[0]!);
      expect(m.mem.refcount[a]).toBe(1 - 1024);
      expect(m.misuse.tainted).toBe(true);
      pins.delete(a);
      pins.delete(thp);
      expect(checkInvariants(m, pins, new Map())).toEqual([]);
      // Not tainted: page b's count is still checked exactly, and so are a's mappings.
      m.mem.refcount[b] = m.mem.refcount[b]! - 1;
      m.mem.mapcount[a] = 2;
      const out = checkInvariants(m, pins, new Map()).join('\n');
      expect(out).toMatch(new RegExp(`folio 0x${b.toString(16)}: _refcount 1024 != mapcount 1`));
      expect(out).toMatch(new RegExp(`page 0x${a.toString(16)} has mapcount 2 but 1 PTE\\(s\\) map it`));
      expect(out).not.toMatch(new RegExp(`folio 0x${a.toString(16)}: _refcount`));
      expect(out).not.toMatch(/_pincount -1/);
      // Without misuse the same negative count is a violation.
      const clean = new Machine({ memory: 64 << 20 });
      const q = clean.spawn('app');
      const addr = do_mmap(clean, q, { size: 4096, type: 'anon' });
      expect(userAccess(clean, q, addr, 4096, true)).toBe(0);
      const pfn = pte_pfn(q.mm.pt.pte(addr));
      clean.mem.refcount[pfn] = -1023;
      expect(checkInvariants(clean).join('\n')).toMatch(/_refcount -1023 \(negative\)/);
    },
  );

  it('reports a broken PTE among sound ones of the same table as it reports it alone', () => {
    const { m, p, small } = setup();
    const table = p.mm.pt.pte_alloc(small)!;
    const slot = (k: number) => pte_index(small + k * PAGE_SIZE);
    const pfns = [0, 1, 2, 3].map((k) => pte_pfn(table[slot(k)]!));
    expect(checkInvariants(m)).toEqual([]);
    // A page parent and child share, marked PageAnonExclusive: the second mm to map it is reported.
    m.mem.SetPageAnonExclusive(pfns[2]!);
    expect(checkInvariants(m)).toEqual([
      `child: PTE at ${hex(small + 2 * PAGE_SIZE)}: PageAnonExclusive page ${hex(pfns[2]!)} ` +
        'is also mapped by another mm',
    ]);
    m.mem.ClearPageAnonExclusive(pfns[2]!);
    // The parent's PTEs of pages 2 and 3 swapped: each maps a page whose folio->index is not the VMA's there.
    const [e2, e3] = [table[slot(2)]!, table[slot(3)]!];
    table[slot(2)] = e3;
    table[slot(3)] = e2;
    const wrong = (k: number, have: number, want: number) =>
      `app: PTE at ${hex(small + k * PAGE_SIZE)}: page index ${m.mem.index[have]} but the VMA maps index ` +
      `${m.mem.index[want]} there`;
    expect(checkInvariants(m)).toEqual([wrong(2, pfns[3]!, pfns[2]!), wrong(3, pfns[2]!, pfns[3]!)]);
  });

  it('reports a broken PTE inside a run of PTEs mapping one THP as it reports it alone', () => {
    const { m, p, huge } = setup(false);
    // MADV_DONTNEED of the first page splits the PMD: the other 511 pages stay mapped by PTEs, then shared.
    expect(do_madvise(m, p, huge, PAGE_SIZE, 'dontneed')).toBe(0);
    expect(typeof kernel_clone(m, p, 'child')).toBe('object');
    const table = p.mm.pt.pte_alloc(huge)!;
    const slot = (k: number) => pte_index(huge + k * PAGE_SIZE);
    const pfn = (k: number) => pte_pfn(table[slot(k)]!);
    expect(m.mem.folio_order(m.mem.page_folio(pfn(1)))).toBe(9);
    expect(checkInvariants(m)).toEqual([]);
    m.mem.SetPageAnonExclusive(pfn(200));
    expect(checkInvariants(m)).toEqual([
      `child: PTE at ${hex(huge + 200 * PAGE_SIZE)}: PageAnonExclusive page ${hex(pfn(200))} ` +
        'is also mapped by another mm',
    ]);
    m.mem.ClearPageAnonExclusive(pfn(200));
    const [e100, e101] = [table[slot(100)]!, table[slot(101)]!];
    table[slot(100)] = e101;
    table[slot(101)] = e100;
    const index = (k: number) => m.mem.index[m.mem.page_folio(pfn(1))]! + k;
    const wrong = (k: number, have: number) =>
      `app: PTE at ${hex(huge + k * PAGE_SIZE)}: page index ${index(have)} but the VMA maps index ${index(k)} there`;
    expect(checkInvariants(m)).toEqual([wrong(100, 101), wrong(101, 100)]);
  });

  it("reports a poked small anon page as the full check does (the zone scan's fast look hides nothing)", () => {
    // With the caller's pins given (none here), every folio gets checkFolio()'s full look; without, an order-0
    // anon folio that looks sound is passed over. Both must report the same for any poke of its struct page.
    const pokes = fc.record({
      page: fc.nat(3),
      field: fc.constantFrom('refcount', 'mapcount', 'mapping', 'flags'),
      value: fc.integer({ min: -3, max: 3 }),
      bit: fc.nat(15),
    });
    fc.assert(
      fc.property(fc.array(pokes, { minLength: 1, maxLength: 3 }), fc.boolean(), (list, forked) => {
        // No hugetlb pool (the fast look serves only a machine without one).
        const m = new Machine({ memory: 16 << 20 });
        const p = m.spawn('app');
        const small = do_mmap(m, p, { size: 16 << 10, type: 'anon' });
        expect(do_madvise(m, p, small, 16 << 10, 'nohugepage')).toBe(0);
        expect(userAccess(m, p, small, 16 << 10, true)).toBe(0);
        if (forked) expect(typeof kernel_clone(m, p, 'child')).toBe('object');
        for (const { page, field, value, bit } of list) {
          const pfn = pte_pfn(p.mm.pt.pte(small + page * PAGE_SIZE));
          if (field === 'flags') m.mem.flags[pfn] = m.mem.flags[pfn]! ^ (1 << bit);
          else m.mem[field][pfn] = m.mem[field][pfn]! + value;
        }
        expect(checkInvariants(m)).toEqual(checkInvariants(m, new Map()));
      }),
      { numRuns: 150, seed: 20261130 },
    );
  });
});
