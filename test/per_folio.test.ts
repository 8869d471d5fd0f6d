// The per-folio batches (mm/memory.c zap_present_ptes() and copy_present_ptes() with
// folio_pte_batch(); io_uring/rsrc.c io_check_coalesce_buffer() stepping by folio, and crossing the leaf
// runs GUP-fast records): what they leave is what page-by-page work leaves. Each case is checked against
// counts worked out from the kernel's rules.

import { describe, it, expect } from 'vitest';
import { Machine } from '../src/mm/machine.js';
import { PAGE_SIZE, PG_anon_exclusive, PMD_SIZE } from '../src/mm/memmap.js';
import type { Process } from '../src/mm/task.js';
import { do_mmap, do_munmap } from '../src/mm/mmap.js';
import { userAccess } from '../src/mm/user_access.js';
import { pte_pfn, pte_write, pte_young } from '../src/mm/pgtable.js';
import { io_check_coalesce_buffer } from '../src/consumers/io_uring.js';
import { pin_user_pages, pin_user_pages_fast, unpin_user_pages } from '../src/mm/gup.js';
import { PageRuns } from '../src/mm/page_runs.js';
import { FOLL_LONGTERM, FOLL_WRITE } from '../src/mm/foll_flags.js';
import { checkInvariants } from '../src/tools/invariants.js';
import { fork } from './support.js';

const KiB64 = 16; // pages of a 64 KiB mTHP

/** A machine whose private anon faults get 64 KiB folios, and a process with `pages` written. */
function mthpProcess(pages: number): { m: Machine; p: Process; addr: number } {
  const m = new Machine({ memory: 64 << 20, thp: 'never', mthp: { '64K': 'always' } });
  const p = m.spawn('parent');
  const addr = do_mmap(m, p, { size: pages * PAGE_SIZE, type: 'anon', align: 64 << 10 });
  expect(userAccess(m, p, addr, pages * PAGE_SIZE, true)).toBe(0);
  return { m, p, addr };
}

describe('fork copies the PTEs of a large folio as one batch', () => {
  it('every page shared: references, mapcounts, PageAnonExclusive, write-protection, young bits', () => {
    const { m, p, addr } = mthpProcess(4 * KiB64);
    const mem = m.mem;
    const folio = pte_pfn(p.mm.pt.pte(addr));
    expect(mem.folio_order(folio)).toBe(4);
    const c = fork(m, p);
    for (let i = 0; i < 4 * KiB64; i++) {
      const a = addr + i * PAGE_SIZE;
      const pe = p.mm.pt.pte(a);
      const ce = c.mm.pt.pte(a);
      expect(pte_pfn(ce)).toBe(pte_pfn(pe));
      expect(pte_write(pe) || pte_write(ce)).toBe(false); // COW: both write-protected
      expect(pte_young(ce)).toBe(false); // the child's PTEs start old
      const pfn = pte_pfn(pe);
      expect(mem.mapcount[pfn]).toBe(2);
      expect(mem.flags[pfn]! & PG_anon_exclusive).toBe(0);
    }
    // Each 64 KiB folio: 2 mappings of each of its 16 pages, one reference per mapping.
    expect(mem.folio_mapcount(folio)).toBe(2 * KiB64);
    expect(mem.refcount[folio]).toBe(2 * KiB64);
    expect(c.mm.rss_anon).toBe(4 * KiB64);
    expect(checkInvariants(m)).toEqual([]);
  });

  it('a folio that may be pinned is copied page by page where exclusive (fork after pin)', () => {
    const { m, p, addr } = mthpProcess(KiB64);
    const pages = new Int32Array(1);
    expect(pin_user_pages(m, p, addr, 1, FOLL_WRITE | FOLL_LONGTERM, pages)).toBe(1);
    const c = fork(m, p);
    // copy_present_page(): every exclusive page of the maybe-pinned folio gets its own copy.
    for (let i = 0; i < KiB64; i++) {
      const a = addr + i * PAGE_SIZE;
      expect(pte_pfn(c.mm.pt.pte(a))).not.toBe(pte_pfn(p.mm.pt.pte(a)));
    }
    unpin_user_pages(m, pages, 1);
    expect(checkInvariants(m)).toEqual([]);
  });
});

describe('munmap drops the PTEs of a large folio as one batch', () => {
  it('partial and whole unmaps of shared 64 KiB folios leave the counts of page-by-page zapping', () => {
    const { m, p, addr } = mthpProcess(2 * KiB64);
    const mem = m.mem;
    const folio = pte_pfn(p.mm.pt.pte(addr));
    const c = fork(m, p);
    const free0 = m.vmstat.get('nr_free_pages');
    // Unmap pages 4..11 of the first folio in the child: a batch that starts and ends mid-folio.
    expect(do_munmap(m, c, addr + 4 * PAGE_SIZE, 8 * PAGE_SIZE)).toBe(0);
    for (let i = 0; i < KiB64; i++) expect(mem.mapcount[folio + i]).toBe(i >= 4 && i < 12 ? 1 : 2);
    expect(mem.folio_mapcount(folio)).toBe(2 * KiB64 - 8);
    expect(mem.refcount[folio]).toBe(2 * KiB64 - 8);
    expect(c.mm.rss_anon).toBe(2 * KiB64 - 8);
    // The parent unmaps everything: the first folio lives on in the child, the second too.
    expect(do_munmap(m, p, addr, 2 * KiB64 * PAGE_SIZE)).toBe(0);
    expect(m.vmstat.get('nr_free_pages')).toBe(free0);
    expect(mem.refcount[folio]).toBe(KiB64 - 8);
    // The child's last mappings go: both folios are freed.
    expect(do_munmap(m, c, addr, PMD_SIZE)).toBe(0);
    expect(m.vmstat.get('nr_free_pages')).toBe(free0 + 2 * KiB64);
    expect(checkInvariants(m)).toEqual([]);
  });
});

describe('io_check_coalesce_buffer() stepping by folio', () => {
  const { m, p, addr } = mthpProcess(4 * KiB64);
  const first = pte_pfn(p.mm.pt.pte(addr));
  const folios = [0, 1, 2, 3].map((k) => pte_pfn(p.mm.pt.pte(addr + k * KiB64 * PAGE_SIZE)));
  const run = (f: number, from: number, to: number) => Array.from({ length: to - from }, (_, i) => f + from + i);

  it('whole folios: one run each', () => {
    const pages = Int32Array.from(folios.flatMap((f) => run(f, 0, KiB64)));
    expect(io_check_coalesce_buffer(m, pages)).toEqual({
      nr_pages_head: KiB64,
      nr_pages_mid: KiB64,
      folio_shift: 16,
      nr_folios: 4,
      first_folio_page_idx: 0,
    });
  });

  it('a head run from mid-folio to its end, and a short last run', () => {
    const pages = Int32Array.from([
      ...run(folios[0]!, 5, KiB64),
      ...run(folios[1]!, 0, KiB64),
      ...run(folios[2]!, 0, 3),
    ]);
    expect(io_check_coalesce_buffer(m, pages)).toMatchObject({
      nr_pages_head: KiB64 - 5,
      nr_folios: 3,
      first_folio_page_idx: 5,
    });
  });

  it('refused: a head run that stops before its folio ends, a gap, a repeated page, a later run mid-folio', () => {
    const bad = [
      [...run(folios[0]!, 0, 10), ...run(folios[1]!, 0, KiB64)],
      [...run(folios[0]!, 0, 7), ...run(folios[0]!, 8, KiB64)],
      [...run(folios[0]!, 0, KiB64), folios[0]! + KiB64 - 1, ...run(folios[1]!, 0, 4)],
      [...run(folios[0]!, 0, KiB64), ...run(folios[1]!, 1, KiB64)],
    ];
    for (const b of bad) expect(io_check_coalesce_buffer(m, Int32Array.from(b))).toBeUndefined();
  });

  it('small folios: every page one run; a large folio among them fails the check', () => {
    const s = new Machine({ memory: 64 << 20 });
    const q = s.spawn('q');
    const a = do_mmap(s, q, { size: 8 * PAGE_SIZE, type: 'anon' });
    expect(userAccess(s, q, a, 8 * PAGE_SIZE, true)).toBe(0);
    const small = Int32Array.from({ length: 8 }, (_, i) => pte_pfn(q.mm.pt.pte(a + i * PAGE_SIZE)));
    expect(io_check_coalesce_buffer(s, small)).toMatchObject({ nr_pages_mid: 1, nr_folios: 8 });
    // A large folio after small ones has another size: the check fails (one bvec per page is kept).
    const large = s.folio_alloc(4);
    expect(io_check_coalesce_buffer(s, Int32Array.from([small[0]!, small[1]!, large]))).toBeUndefined();
    // A large folio's head alone first, then a small page: the head run is one page of 16.
    expect(io_check_coalesce_buffer(m, Int32Array.from([first, small[0]!]))).toBeUndefined();
  });
});

describe('io_check_coalesce_buffer() crossing leaf runs (page_runs.ts)', () => {
  /** A THP buffer of `pmds` PMD-mapped folios, pinned with the leaves as runs; and a copy written out. */
  function thpPinned(pmds: number, skip: number) {
    const m = new Machine({ memory: 64 << 20, thp: 'always' });
    const p = m.spawn('app');
    const addr = do_mmap(m, p, { size: pmds * PMD_SIZE, type: 'anon', align: PMD_SIZE });
    expect(userAccess(m, p, addr, pmds * PMD_SIZE, true)).toBe(0);
    const n = pmds * (PMD_SIZE / PAGE_SIZE) - skip;
    const pages = new Int32Array(n).fill(-1);
    const runs = new PageRuns();
    expect(pin_user_pages_fast(m, p, addr + skip * PAGE_SIZE, n, FOLL_WRITE | FOLL_LONGTERM, pages, runs)).toBe(n);
    const filled = pages.slice();
    runs.fill(filled);
    return { m, pages, runs, filled };
  }

  it('gives the answer of the filled array, one run per PMD, pages[] left unwritten', () => {
    for (const skip of [0, 5]) {
      const { m, pages, runs, filled } = thpPinned(3, skip);
      expect(runs.n).toBe(3);
      expect(pages.every((v) => v === -1)).toBe(true);
      const viaRuns = io_check_coalesce_buffer(m, pages, runs);
      expect(viaRuns).toEqual(io_check_coalesce_buffer(m, filled));
      expect(viaRuns).toMatchObject({ nr_folios: 3, folio_shift: 21, first_folio_page_idx: skip });
      unpin_user_pages(m, filled, filled.length);
      expect(checkInvariants(m)).toEqual([]);
    }
  });

  it('a run that does not continue the sequence fails the check as the filled array does', () => {
    const { m, pages, runs, filled } = thpPinned(2, 0);
    // The second leaf's run moved one page on: its first entry is no longer its folio's head.
    const shifted = new PageRuns();
    shifted.push(0, filled[0]!, 512);
    shifted.push(512, filled[512]! + 1, 511);
    pages[1023] = filled[1023]!;
    const moved = filled.slice();
    for (let i = 512; i < 1023; i++) moved[i] = filled[i]! + 1;
    expect(io_check_coalesce_buffer(m, pages, shifted)).toBeUndefined();
    expect(io_check_coalesce_buffer(m, moved)).toBeUndefined();
    expect(runs.n).toBe(2);
    unpin_user_pages(m, filled, filled.length);
  });
});
