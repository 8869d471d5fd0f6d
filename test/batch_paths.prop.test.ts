// The batched paths of fork and zap against the model's page-at-a-time paths. kernel_clone() copies
// the PTEs of large folios batch after batch (copyCowLargeRun(): folio_pte_batch() and
// folio_try_dup_anon_rmap_ptes() per batch), while the step-by-step fork (copyPageRangeStep(), the race
// explorer's) decides and write-protects each batch in separate steps of its own code; zap takes a
// large folio's PTEs as one batch (zap_present_ptes()), while an munmap of one page at a time meets
// each PTE alone. On random layouts (base pages, THPs, 64 KiB mTHPs, shmem; partly written, forked,
// written again after the fork so that COW breaks large folios up, partly unmapped, mprotected, pinned),
// both ways must end in the same page state byte for byte, the same counters and the same RSS (and, for
// fork, the same page-table entries). A zap over a PMD leaf is left out: one page at a time splits it.

import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { Machine } from '../src/mm/machine.js';
import { PAGE_SIZE, PMD_SIZE } from '../src/mm/memmap.js';
import type { Process } from '../src/mm/task.js';
import { do_mmap, do_munmap } from '../src/mm/mmap.js';
import { do_madvise } from '../src/mm/madvise.js';
import { do_mprotect_pkey } from '../src/mm/mprotect.js';
import { userAccess } from '../src/mm/user_access.js';
import { pin_user_pages_fast } from '../src/mm/gup.js';
import { FOLL_LONGTERM, FOLL_WRITE } from '../src/mm/foll_flags.js';
import {
  copyPageRangeStep,
  forkBegin,
  forkCursor,
  forkEnd,
  kernel_clone,
  newForkStats,
  type ForkStats,
} from '../src/kernel/fork.js';
import { do_exit } from '../src/kernel/exit.js';
import { VMSTAT_ITEMS } from '../src/mm/vmstat.js';
import { pte_dirty, pte_index, pte_mkclean, pte_mkold, pte_pfn, pte_present } from '../src/mm/pgtable.js';

type Kind = 'base' | 'thp' | 'mthp' | 'shmem';
type Op =
  | { k: 'map'; kind: Kind; pages: number }
  | { k: 'touch'; r: number; off: number; n: number; write: boolean }
  | { k: 'fork' }
  | { k: 'childWrite'; r: number; off: number; n: number }
  | { k: 'munmap'; r: number; off: number; n: number }
  | { k: 'mprotect'; r: number; off: number; n: number; prot: 'r' | 'rw' | 'none' }
  | { k: 'pin'; r: number; off: number; n: number }
  | { k: 'pteBits'; r: number; off: number; clean: boolean };

// Maps and touches weigh more: most runs should reach large folios mapped by PTEs.
const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      k: fc.constant('map' as const),
      kind: fc.constantFrom<Kind>('base', 'thp', 'mthp', 'mthp', 'mthp', 'shmem'),
      pages: fc.integer({ min: 1, max: 1100 }),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      k: fc.constant('touch' as const),
      r: fc.nat(),
      off: fc.nat(),
      // A few pages (after a fork, a write breaks COW inside a large folio) or a whole region.
      n: fc.oneof(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 1, max: 1100 })),
      write: fc.boolean(),
    }),
  },
  fc.record({ k: fc.constant('fork' as const) }),
  fc.record({ k: fc.constant('childWrite' as const), r: fc.nat(), off: fc.nat(), n: fc.integer({ min: 1, max: 40 }) }),
  fc.record({ k: fc.constant('munmap' as const), r: fc.nat(), off: fc.nat(), n: fc.integer({ min: 1, max: 40 }) }),
  fc.record({
    k: fc.constant('mprotect' as const),
    r: fc.nat(),
    off: fc.nat(),
    n: fc.integer({ min: 1, max: 40 }),
    prot: fc.constantFrom('r' as const, 'rw' as const, 'none' as const),
  }),
  fc.record({ k: fc.constant('pin' as const), r: fc.nat(), off: fc.nat(), n: fc.integer({ min: 1, max: 40 }) }),
  {
    weight: 2,
    arbitrary: fc.record({ k: fc.constant('pteBits' as const), r: fc.nat(), off: fc.nat(), clean: fc.boolean() }),
  },
);

interface World {
  m: Machine;
  p: Process;
  regions: { addr: number; pages: number }[];
  children: Process[];
}

/** A fresh machine with the ops applied (deterministic: the same ops build the same machine). */
function build(ops: Op[]): World {
  const m = new Machine({ memory: 64 << 20, thp: 'madvise', mthp: { '64K': 'always' } });
  const p = m.spawn('app');
  p.capIpcLock = true;
  const w: World = { m, p, regions: [], children: [] };
  for (const o of ops) {
    const region = 'r' in o && w.regions.length ? w.regions[o.r % w.regions.length]! : undefined;
    const range = (off: number, n: number) => {
      const first = off % region!.pages;
      return { addr: region!.addr + first * PAGE_SIZE, len: Math.min(n, region!.pages - first) * PAGE_SIZE };
    };
    switch (o.k) {
      case 'map': {
        const size = o.pages * PAGE_SIZE;
        const type = o.kind === 'shmem' ? 'shmem' : 'anon';
        const addr = do_mmap(m, p, { size, type, align: o.kind === 'thp' ? PMD_SIZE : PAGE_SIZE });
        if (addr < 0) break;
        if (o.kind === 'thp') do_madvise(m, p, addr, size, 'hugepage');
        if (o.kind === 'base') do_madvise(m, p, addr, size, 'nohugepage');
        w.regions.push({ addr, pages: o.pages });
        break;
      }
      case 'touch':
        if (region) {
          const r = range(o.off, o.n);
          userAccess(m, p, r.addr, r.len, o.write);
        }
        break;
      case 'fork': {
        const c = kernel_clone(m, p, `c${w.children.length}`);
        if (typeof c !== 'number') w.children.push(c);
        break;
      }
      case 'childWrite': {
        const c = w.children[w.children.length - 1];
        if (region && c) {
          const r = range(o.off, o.n);
          userAccess(m, c, r.addr, r.len, true);
        }
        break;
      }
      case 'munmap':
        if (region) {
          const r = range(o.off, o.n);
          do_munmap(m, p, r.addr, r.len);
        }
        break;
      case 'mprotect':
        if (region) {
          const r = range(o.off, o.n);
          do_mprotect_pkey(m, p, r.addr, r.len, o.prot);
        }
        break;
      case 'pteBits': {
        // One PTE made clean (what MADV_FREE does to a lazily freed anon page; the model has no
        // MADV_FREE) or old (what reclaim's young test does): a batch must stop at a PTE whose bits
        // differ, dirty included, and cross one that is only old.
        if (!region) break;
        const addr = region.addr + (o.off % region.pages) * PAGE_SIZE;
        const t = p.mm.pt.pteTable(addr);
        const e = p.mm.pt.pte(addr);
        if (t && pte_present(e)) t[pte_index(addr)] = o.clean ? pte_mkclean(e) : pte_mkold(e);
        break;
      }
      case 'pin':
        if (region) {
          const r = range(o.off, o.n);
          const n = r.len / PAGE_SIZE;
          pin_user_pages_fast(m, p, r.addr, n, FOLL_WRITE | FOLL_LONGTERM, new Int32Array(n));
        }
        break;
    }
  }
  return w;
}

/** The page state (every per-page array), the counters and every process's RSS, in comparable form. */
function pageState(m: Machine): string {
  const s = m.snapshot();
  return JSON.stringify({
    pool: Buffer.from(s.pool).toString('base64'),
    vmstat: VMSTAT_ITEMS.map((i) => m.vmstat.get(i)),
    rss: [...m.processes.values()].map((q) => [q.name, q.mm.rss_anon, q.mm.rss_file]),
    warns: m.warns.records,
    misuse: m.misuse.records,
  });
}

/**
 * The page state and every process's page-table entries (PMD leaves, and the non-zero PTEs of each
 * table by slot). By content, not by slab words: the step-by-step fork allocates a child's PTE table
 * when it meets a present entry, kernel_clone() for every table of the parent, so an empty table may
 * exist on one side only.
 */
function fullState(m: Machine): string {
  const tables = [...m.processes.values()].map((q) => {
    const out: number[] = [];
    for (const [k, slot] of [...q.mm.pt.pmds].sort((x, y) => x[0] - y[0])) {
      if (typeof slot === 'number') out.push(k, -1, slot);
      else slot.forEach((e, i) => e && out.push(k, i, e));
    }
    return [q.name, out];
  });
  return pageState(m) + JSON.stringify(tables);
}

/** fork() one copy step at a time (copyPageRangeStep(), as the race explorer runs it). */
function forkByStep(m: Machine, parent: Process, name: string, stats: ForkStats): Process | number {
  const { child, pairs } = forkBegin(m, parent, name);
  let err = 0;
  for (const [cv, vma] of pairs) {
    const c = forkCursor(vma, stats);
    for (;;) {
      const r = copyPageRangeStep(m, cv, vma, c);
      if (r === undefined) break;
      if (typeof r === 'number') {
        err = r;
        break;
      }
    }
    if (err) break;
  }
  return forkEnd(m, parent, child, err);
}

/** Large folios the parent maps by PTEs when the fork starts (the test must reach the batched path). */
let batchedForks = 0;
let batchedZaps = 0;

function ptesOfLargeFolios(w: World): number {
  const { m, p } = w;
  let n = 0;
  for (const r of w.regions)
    for (let i = 0; i < r.pages; i++) {
      const e = p.mm.pt.pte(r.addr + i * PAGE_SIZE);
      if (pte_present(e) && m.mem.folio_test_large(m.mem.page_folio(pte_pfn(e)))) n++;
    }
  return n;
}

describe('batched fork and zap end where the page-at-a-time paths end', () => {
  // Two 64 KiB mTHPs written, forked; then the parent writes page 3 (COW gives it a small folio there),
  // and page 9's PTE is made clean: the first folio's batches stop at page 3, the second's at page 9.
  const cowBroken: Op[] = [
    { k: 'map', kind: 'mthp', pages: 32 },
    { k: 'touch', r: 0, off: 0, n: 32, write: true },
    { k: 'fork' },
    { k: 'touch', r: 0, off: 3, n: 1, write: true },
    { k: 'pteBits', r: 0, off: 9, clean: true },
  ];

  it('fork: a batch stops at a page of another folio and at a PTE whose bits differ', () => {
    const a = build(cowBroken);
    const b = build(cowBroken);
    const sa = newForkStats();
    const sb = newForkStats();
    const ca = kernel_clone(a.m, a.p, 'forked', sa) as Process;
    forkByStep(b.m, b.p, 'forked', sb);
    expect(sa).toEqual(sb);
    expect(sa.shared).toBe(32);
    expect(fullState(a.m) === fullState(b.m)).toBe(true);
    const addr = a.regions[0]!.addr;
    const dirty = (q: Process, i: number) => pte_dirty(q.mm.pt.pte(addr + i * PAGE_SIZE));
    expect([8, 9, 10].map((i) => dirty(ca, i))).toEqual([true, false, true]);
  });

  it('zap: a batch stops at a page of another folio', () => {
    const a = build(cowBroken);
    const b = build(cowBroken);
    const addr = a.regions[0]!.addr;
    const free0 = a.m.vmstat.get('nr_free_pages');
    expect(do_munmap(a.m, a.p, addr, 32 * PAGE_SIZE)).toBe(0);
    for (let i = 0; i < 32; i++) expect(do_munmap(b.m, b.p, addr + i * PAGE_SIZE, PAGE_SIZE)).toBe(0);
    expect(pageState(a.m) === pageState(b.m)).toBe(true);
    // The parent's own page 3 is freed; the two mTHPs stay, mapped by the child.
    expect(a.m.vmstat.get('nr_free_pages')).toBe(free0 + 1);
  });

  it('fork: kernel_clone() and the step-by-step copy give the same pages, tables, counters and stats', () => {
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 25 }), (ops) => {
        const a = build(ops);
        const b = build(ops);
        if (ptesOfLargeFolios(a) > 0) batchedForks++;
        const sa = newForkStats();
        const sb = newForkStats();
        const ca = kernel_clone(a.m, a.p, 'forked', sa);
        const cb = forkByStep(b.m, b.p, 'forked', sb);
        expect(typeof ca).toBe(typeof cb);
        expect(sa).toEqual(sb);
        expect(fullState(a.m) === fullState(b.m)).toBe(true);
      }),
      { numRuns: 250 },
    );
    expect(batchedForks).toBeGreaterThan(20);
  });

  it('zap: munmap of a range in one call and one page at a time give the same pages and counters', () => {
    fc.assert(
      fc.property(
        fc.array(op, { minLength: 1, maxLength: 25 }),
        fc.nat(),
        fc.nat(),
        fc.integer({ min: 1, max: 1100 }),
        (ops, r, off, n) => {
          const a = build(ops);
          const b = build(ops);
          if (a.regions.length === 0) return;
          const region = a.regions[r % a.regions.length]!;
          const first = off % region.pages;
          const pages = Math.min(n, region.pages - first);
          const addr = region.addr + first * PAGE_SIZE;
          // A PMD leaf the range covers in part is split first, one page at a time or not (THP split
          // counters): only ranges without one compare the PTE paths.
          for (let x = addr - (addr % PMD_SIZE); x < addr + pages * PAGE_SIZE; x += PMD_SIZE)
            if (a.p.mm.pt.pmdLeaf(x)) return;
          if (ptesOfLargeFolios(a) > 0) batchedZaps++;
          expect(do_munmap(a.m, a.p, addr, pages * PAGE_SIZE)).toBe(0);
          for (let i = 0; i < pages; i++) expect(do_munmap(b.m, b.p, addr + i * PAGE_SIZE, PAGE_SIZE)).toBe(0);
          expect(pageState(a.m) === pageState(b.m)).toBe(true);
          // And the exit of everything: the children's batches, then the parent's.
          for (const w of [a, b]) {
            for (const c of w.children) do_exit(w.m, c);
            do_exit(w.m, w.p);
          }
          expect(pageState(a.m) === pageState(b.m)).toBe(true);
        },
      ),
      { numRuns: 250 },
    );
    expect(batchedZaps).toBeGreaterThan(20);
  });
});
