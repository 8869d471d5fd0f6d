// Order-1 folios: the page cache makes them (__filemap_get_folio() since 6.8: an 8 KiB write to a file with
// large folios gets one), and all their folio-wide fields live in their one tail page, as the kernel keeps
// _large_mapcount and (64-bit) _pincount in page[1]. The page after the folio is another allocation's:
// mapping, pinning and unmapping the folio must leave it alone.

import { describe, it, expect } from 'vitest';
import { loadScenario } from '../scenario/load.js';
import { RunContext } from '../scenario/context.js';
import { runScenarioStep } from '../scenario/run.js';
import { checkInvariants } from '../tools/invariants.js';
import { pte_index, pte_pfn } from './pgtable.js';

const SC = `
name: order1
machine: { memory: 8MiB }
steps:
  - { op: create_file, as: f, size: 8KiB, fs: disk }
  - { op: mmap, proc: p, as: map, size: 8KiB, type: file, file: f, shared: true }
  - { op: mmap, proc: p, as: buf, size: 4KiB, type: anon }
  - { op: write, proc: p, region: buf }
  - { op: read, proc: p, region: map }
  - { op: pin_user_pages, proc: p, region: map, flags: [FOLL_WRITE], as: pin }
`;

describe('order-1 folios (page cache)', () => {
  it('keep _large_mapcount and _pincount in their tail page, leaving the next page alone', () => {
    const sc = loadScenario(SC, 'order1.yaml');
    const ctx = new RunContext(sc);
    const m = ctx.m;
    const mem = m.mem;
    const at = (i: number) => runScenarioStep(ctx, sc.steps[i]!, i, []);
    at(0);
    const folio = ctx.files.get('f')!.pages[0]!;
    expect(mem.folio_order(folio)).toBe(1);
    expect(ctx.files.get('f')!.pages[1]).toBe(folio + 1);
    for (let i = 1; i <= 3; i++) expect(at(i).ret, sc.steps[i]!.op).toBe(0);
    // The anon page written got the frame right after the folio (the allocator hands out the next free one).
    const buf = ctx.regions.get('buf')!;
    const e = m.process('p')!.mm.pt.pteTable(buf.addr)![pte_index(buf.addr)]!;
    expect(pte_pfn(e)).toBe(folio + 2);
    const counts = () => [mem.refcount[folio + 2], mem.mapcount[folio + 2], mem.index[folio + 2]];
    const before = counts();
    for (let i = 4; i < sc.steps.length; i++) expect(at(i).ret, sc.steps[i]!.op).toBeGreaterThanOrEqual(0);
    // Both pages mapped once, both pinned (one pin each: _pincount 2, _refcount + 2).
    expect(mem.folio_mapcount(folio)).toBe(2);
    expect(mem.folio_entire_mapcount(folio)).toBe(0);
    expect(mem.folioPincount(folio)).toBe(2);
    // Mapping and pinning the folio left that page's counts alone (before, its _large_mapcount was there).
    expect(counts()).toEqual(before);
    expect(checkInvariants(m)).toEqual([]);
    runScenarioStep(ctx, { op: 'unpin_user_pages', pins: 'pin' }, 6, []);
    runScenarioStep(ctx, { op: 'munmap', proc: 'p', region: 'map' }, 7, []);
    expect(mem.folio_mapcount(folio)).toBe(0);
    expect(mem.folioPincount(folio)).toBe(0);
    expect(checkInvariants(m)).toEqual([]);
  });
});
