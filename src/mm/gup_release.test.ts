// unpinUserFolioEach() (io_release_ubuf()'s loop, with its shortcut for small anon folios) leaves the
// machine exactly as unpin_user_folio(page_folio(p), 1) per entry does: page state byte for byte,
// every vmstat counter, and the same WARN and misuse records, for arrays of pinned, unpinned, doubly
// released, file, THP, mTHP and zero pages.

import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { Machine } from './machine.js';
import { do_mmap } from './mmap.js';
import { do_madvise } from './madvise.js';
import { userAccess } from './user_access.js';
import { pin_user_pages_fast, unpin_user_folio, unpinUserFolioEach } from './gup.js';
import { FOLL_LONGTERM, FOLL_WRITE } from './foll_flags.js';
import { PAGE_SIZE, PMD_SIZE, ZERO_PFN } from './memmap.js';
import { VMSTAT_ITEMS } from './vmstat.js';

/** A machine with pinned pages of every kind; the PFNs pinned (once each) and some mapped but not pinned. */
function world(): { m: Machine; pinned: number[]; unpinned: number[] } {
  const m = new Machine({ memory: 256 << 20, thp: 'madvise', mthp: { '64K': 'always' } });
  const p = m.spawn('app');
  const pinned: number[] = [];
  const unpinned: number[] = [];
  const region = (size: number, type: 'anon' | 'shmem', advice?: 'hugepage' | 'nohugepage', write = true) => {
    const addr = do_mmap(m, p, { size, type, align: advice === 'hugepage' ? PMD_SIZE : PAGE_SIZE });
    if (addr < 0) throw new Error(`mmap: ${addr}`);
    if (advice) do_madvise(m, p, addr, size, advice);
    if (userAccess(m, p, addr, size, write) !== 0) throw new Error('fault');
    return addr;
  };
  const pin = (addr: number, pages: number, flags: number, keep: number) => {
    const out = new Int32Array(pages);
    if (pin_user_pages_fast(m, p, addr, pages, flags, out) !== pages) throw new Error('pin');
    pinned.push(...out.subarray(0, keep));
    // Pages pinned but not listed stay pinned; the array may still name them (a release of another's pin).
    unpinned.push(...out.subarray(keep));
  };
  pin(region(16 * PAGE_SIZE, 'anon', 'nohugepage'), 16, FOLL_WRITE | FOLL_LONGTERM, 12);
  pin(region(PMD_SIZE, 'anon', 'hugepage'), 8, FOLL_WRITE, 8);
  pin(region(4 * 16 * PAGE_SIZE, 'anon'), 40, FOLL_WRITE, 40);
  pin(region(8 * PAGE_SIZE, 'shmem'), 8, FOLL_WRITE, 6);
  pin(region(4 * PAGE_SIZE, 'anon', 'nohugepage', false), 4, 0, 4); // the zero page
  // Pinned and released once already: releasing it again is misuse the model records.
  const free = region(4 * PAGE_SIZE, 'anon', 'nohugepage');
  const look = new Int32Array(4);
  pin_user_pages_fast(m, p, free, 4, FOLL_WRITE, look);
  unpin_user_folio(m, m.mem.page_folio(look[0]!), 1);
  unpinned.push(look[0]!);
  return { m, pinned, unpinned };
}

/** Everything an unpin can change, in comparable form. */
function state(m: Machine): { pool: string; vmstat: number[]; misuse: string; warns: string } {
  const s = m.snapshot();
  return {
    pool: Buffer.from(s.pool).toString('base64'),
    vmstat: VMSTAT_ITEMS.map((i) => m.vmstat.get(i)),
    misuse: JSON.stringify(m.misuse.records),
    warns: JSON.stringify(m.warns.records),
  };
}

describe('unpinUserFolioEach', () => {
  const { m, pinned, unpinned } = world();
  const start = m.snapshot();
  const all = [...pinned, ...unpinned, ZERO_PFN];

  it('has pages of every kind to release', () => {
    expect(pinned.some((p) => p === ZERO_PFN)).toBe(true);
    expect(pinned.some((p) => m.mem.folio_test_large(m.mem.page_folio(p)))).toBe(true);
    expect(pinned.some((p) => !m.mem.folio_test_anon(m.mem.page_folio(p)))).toBe(true);
  });

  it('releases each entry as unpin_user_folio(page_folio(entry), 1) does, misuse included', () => {
    fc.assert(
      fc.property(fc.array(fc.nat(all.length - 1), { maxLength: 120 }), fc.boolean(), (idx, healthy) => {
        // healthy: each pinned page once, in a shuffled order; else any entries, repeats included.
        const entries = healthy ? [...new Set(idx.map((i) => pinned[i % pinned.length]!))] : idx.map((i) => all[i]!);
        const pages = Int32Array.from(entries);
        m.restore(start);
        unpinUserFolioEach(m, pages);
        const batched = state(m);
        m.restore(start);
        for (const p of pages) unpin_user_folio(m, m.mem.page_folio(p), 1);
        const each = state(m);
        m.restore(start);
        return JSON.stringify(batched) === JSON.stringify(each);
      }),
      { numRuns: 80 },
    );
  });

  it('counts every released pin (a healthy release of every pinned page)', () => {
    m.restore(start);
    const released0 = m.vmstat.get('nr_foll_pin_released');
    unpinUserFolioEach(m, Int32Array.from(pinned.filter((p) => p !== ZERO_PFN)));
    expect(m.vmstat.get('nr_foll_pin_released') - released0).toBe(pinned.filter((p) => p !== ZERO_PFN).length);
    expect(m.misuse.records).toEqual([]);
    m.restore(start);
  });
});
