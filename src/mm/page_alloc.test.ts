// Unit tests for the per-folio work of page_alloc.ts and memmap.ts: a freed block is left clear but for
// its buddy head (free_pages_prepare()), prepNewFolio() writes only the head and the tails' PG_tail and
// compound_head (prep_compound_page()), page_folio() resolves any tail in one step, and the pool and
// extra per-page arrays behave as one memory.

import { describe, it, expect } from 'vitest';
import { Machine } from './machine.js';
import { MemMap, PG_head, PG_tail, PG_buddy, PMD_ORDER, PUD_ORDER, NO_FOLIO } from './memmap.js';
import { folio_put_refs } from './swap.js';

/** [pfn, pfn + n) is free and clear: every field zero, but for the buddy fields of free block heads. */
function freeAndClear(mem: MemMap, pfn: number, n: number): boolean {
  for (let i = pfn; i < pfn + n; i++) {
    if (mem.refcount[i] || mem.mapping[i]) return false;
    if (mem.flags[i]! & PG_buddy) continue; // a free block's head: order and list links
    if (mem.flags[i] || mem.index[i] || mem.mapcount[i]) return false;
  }
  return true;
}

describe('per-folio allocation and freeing', () => {
  for (const order of [2, 4, PMD_ORDER]) {
    it(`an order-${order} folio: prepared head and tails, resolved in one step, cleared when freed`, () => {
      const m = new Machine({ memory: 64 << 20 });
      const mem = m.mem;
      const n = 1 << order;
      const f = m.folio_alloc(order);
      expect(f).not.toBe(NO_FOLIO);
      expect(mem.flags[f]).toBe(PG_head | order);
      expect(mem.refcount[f]).toBe(1);
      for (let i = 1; i < n; i++) {
        expect(mem.flags[f + i]).toBe(PG_tail);
        expect(mem.page_folio(f + i)).toBe(f);
      }
      // What a mapped, pinned, then released folio leaves behind in its tails.
      mem.setPincount(f, 3);
      mem.setEntireMapcount(f, 1);
      mem.addLargeMapcount(f, 5);
      mem.SetPageAnonExclusive(f + n - 1);
      mem.mapcount[f + n - 1] = 0;
      mem.setPincount(f, 0);
      mem.setEntireMapcount(f, 0);
      mem.addLargeMapcount(f, -5);
      folio_put_refs(m, f, 1);
      expect(freeAndClear(mem, f, n)).toBe(true);
      // The next folio of that order is prepared from a clear block: nothing of the last one shows.
      const g = m.folio_alloc(order);
      expect(mem.flags[g]).toBe(PG_head | order);
      for (let i = 1; i < n; i++) {
        expect(mem.flags[g + i]).toBe(PG_tail);
        expect(mem.mapping[g + i]).toBe(order);
        expect([mem.refcount[g + i], mem.mapcount[g + i], mem.index[g + i]]).toEqual([0, 0, 0]);
      }
    });
  }

  it('a 1 GiB hugetlb folio: its tails resolve to the head, also after going back to the pool', () => {
    const m = new Machine({ memory: 3 * 2 ** 30, hugetlb: { '1G': 1 } });
    const h = m.hugetlb.dequeue_hugetlb_folio(m.hugetlb.hstate(PUD_ORDER));
    expect(h).not.toBe(NO_FOLIO);
    expect(m.mem.page_folio(h + (1 << PUD_ORDER) - 1)).toBe(h);
    m.mem.refcount[h] = 0; // the last reference dropped: free_huge_folio() puts it back in the pool
    m.hugetlb.free_huge_folio(h);
    expect(m.mem.page_folio(h + 12345)).toBe(h);
  });

  it('the machine frees everything back to the buddy allocator as clear blocks', () => {
    const m = new Machine({ memory: 16 << 20 });
    const free0 = m.alloc.nr_free_pages();
    const folios = [0, 2, 3, 4, PMD_ORDER, 0, 2].map((o) => m.folio_alloc(o));
    for (const f of folios) folio_put_refs(m, f, 1);
    expect(m.alloc.nr_free_pages()).toBe(free0);
    const mem = m.mem;
    for (let pfn = 0; pfn < mem.nr; pfn++) {
      if (mem.flags[pfn]! & PG_buddy) continue;
      expect(mem.flags[pfn]! & (PG_head | PG_tail)).toBe(0);
      expect(mem.mapping[pfn]).toBe(0);
    }
  });
});

describe('the page pool', () => {
  it('every per-page array is a view of one buffer of BYTES_PER_PAGE per page', () => {
    const mem = new MemMap(1000);
    expect(mem.pool.byteLength).toBe(1000 * MemMap.BYTES_PER_PAGE);
    for (const a of [mem.flags, mem.mapping, mem.refcount, mem.mapcount, mem.index]) {
      expect(a.buffer).toBe(mem.pool);
      expect(a.length).toBe(1000);
    }
    // No two arrays overlap: writing all of one leaves the others zero.
    mem.refcount.fill(-1);
    expect(mem.flags.every((x) => x === 0) && mem.index.every((x) => x === 0)).toBe(true);
  });

  it('extra(): allocated zeroed on first use, the same array after', () => {
    const mem = new MemMap(64);
    const a = mem.extra('contents');
    expect(a).toHaveLength(64);
    expect(a.every((x) => x === 0)).toBe(true);
    a[3] = 9;
    expect(mem.extra('contents')[3]).toBe(9);
  });
});
