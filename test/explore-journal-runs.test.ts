// The race explorer's journal logs the words a compare finds changed either one entry each or, when many
// change together (fork's copy of a batch of PTEs), as one run of words (journal.ts A_POOL_RUN, A_SLAB_RUN).
// Here points write struct-page words and PTE-table words straight into the machine, dense and sparse, in
// frame ranges with odd ends (the 16-bit flags and mapping arrays keep two pages a word, and a word may
// straddle two named ranges): in verify mode every commit compares the whole page state and the hash lanes
// with ones computed afresh, and every step back compares the machine with a snapshot taken before.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { loadScenario } from '../src/scenario/load.js';
import { RunContext } from '../src/scenario/context.js';
import { runScenarioStep } from '../src/scenario/run.js';
import { Journal } from '../src/tools/explore/journal.js';
import { Locks } from '../src/tools/explore/locks.js';
import { Footprint, MM_PT, R_FRAMES, mmRes } from '../src/tools/explore/footprint.js';
import { PG_buddy } from '../src/mm/memmap.js';

const SCENARIO = `
name: runs
machine: { memory: 8MiB, thp: always }
steps:
  - { op: mmap, proc: p, as: buf, size: 2MiB, type: anon, align: 2MiB }
  - { op: write, proc: p, region: buf }
  - { op: mmap, proc: p, as: small, size: 256KiB, type: anon }
  - { op: write, proc: p, region: small }
  - op: concurrent
    threads: { a: [{ op: write, proc: p, region: buf, pages: 1 }] }
`;

/** A machine with a THP in use, and a journal in verify mode over it. */
function setUp() {
  const sc = loadScenario(SCENARIO, 'runs.yaml');
  const ctx = new RunContext(sc);
  sc.steps.slice(0, 4).forEach((s, i) => runScenarioStep(ctx, s, i, []));
  const roots: object[] = [ctx];
  const journal = new Journal(ctx, new Locks(), [], roots, true);
  const mem = ctx.m.mem;
  // The THP's frames: in use from the start, so in the set the journal compares.
  let first = -1;
  for (let p = 0; p < mem.nr && first < 0; p++) if (mem.mapcount[p]! > 0 && !(mem.flags[p]! & PG_buddy)) first = p;
  // The small region's PTE table (the THP is a PMD leaf).
  const table = ctx.m.processes.get('p')!.mm.pt.pmdSlot(ctx.regions.get('small')!.addr);
  return { ctx, journal, mem, first, table };
}

/** One write: array (0 refcount, 1 mapcount, 2 index, 3 flags, 4 mapping, 5 a PTE-table word), page, value. */
const write = fc.tuple(
  fc.integer({ min: 0, max: 5 }),
  fc.integer({ min: 0, max: 63 }),
  fc.integer({ min: 1, max: 60 }),
);
/**
 * A point: the named frame ranges (offset, length, FRAME_* arrays; odd ends likely) and its writes, dense or
 * sparse.
 */
const point = fc.record({
  ranges: fc.array(
    fc.tuple(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 1, max: 24 }), fc.integer({ min: 1, max: 31 })),
    { minLength: 1, maxLength: 3 },
  ),
  writes: fc.array(write, { maxLength: 80 }),
  dense: fc.option(fc.tuple(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 8, max: 40 })), { nil: undefined }),
});

describe('gupsim explore: the journal logs runs of changed words', () => {
  it('goes back exactly and keeps the hash lanes, with runs and single entries, across odd range ends', () => {
    const { journal, mem, first, table } = setUp();
    expect(first).toBeGreaterThanOrEqual(0);
    expect(typeof table).toBe('object');
    const pte = table as Uint32Array;
    const arrays = [mem.refcount, mem.mapcount, mem.index, mem.flags, mem.mapping] as const;
    fc.assert(
      fc.property(fc.array(point, { minLength: 1, maxLength: 4 }), (points) => {
        const fps: Footprint[] = [];
        for (const pt of points) {
          const fp = new Footprint();
          fp.forJournal = true;
          fp.set(0, R_FRAMES | mmRes(0, MM_PT));
          fp.namesFrames();
          fp.namesTables();
          fp.table(pte, 0, 64);
          // Each range in some of the arrays (FRAME_* bits: refcount, mapcount, index, flags, mapping).
          for (const [off, len, arrays] of pt.ranges) fp.frames(first + off, len, arrays);
          const named = (a: number, p: number) =>
            pt.ranges.some(([off, len, arrays]) => p >= off && p < off + len && arrays & (1 << a));
          journal.begin(false, fp);
          const put = (a: number, page: number, v: number) => {
            if (a === 5) pte[page] = (pte[page]! + v) >>> 0;
            else if (named(a, page)) arrays[a]![first + page] = (arrays[a]![first + page]! + v) & 0x7fff;
          };
          for (const [a, page, v] of pt.writes) put(a, page, v);
          // A dense run: every page of a stretch (fork's copy of a batch changes each page's mapcount and flags).
          if (pt.dense) for (let k = 0; k < pt.dense[1]; k++) put(pt.dense[0], k, 1 + (k % 3));
          journal.commit(fp);
          fps.push(fp);
        }
        for (let k = points.length - 1; k >= 0; k--) journal.undo();
      }),
      { numRuns: 150, seed: 20261201 },
    );
  });

  it("takes a repeated point's lanes from its memo, and only when every word of each range is as recorded", () => {
    const { journal, mem, first, table } = setUp();
    const pte = table as Uint32Array;
    const fp = new Footprint();
    fp.forJournal = true;
    fp.set(0, R_FRAMES | mmRes(0, MM_PT));
    fp.namesFrames();
    fp.namesTables();
    fp.table(pte, 0, 256);
    fp.frames(first, 200);
    // fork's share of a batch, roughly: every page's mapcount up, its flags changed, every entry rewritten.
    const share = (odd: number) => {
      journal.begin(false, fp);
      for (let k = 0; k < 200; k++) {
        mem.mapcount[first + k] = mem.mapcount[first + k]! + 1;
        mem.flags[first + k] = mem.flags[first + k]! ^ 0x100;
      }
      for (let k = 0; k < 256; k++) pte[k] = (pte[k]! + 1 + (k === odd ? 1 : 0)) >>> 0;
      journal.commit(fp);
    };
    // In verify mode every commit checks the hash lanes against ones computed afresh.
    share(-1);
    journal.undo();
    const hits = journal.memo.hits;
    share(-1);
    journal.undo();
    // The mapcount words, the flags words and the PTE table's: each range found as recorded.
    expect(journal.memo.hits - hits).toBe(3);
    // One entry written otherwise: the table's range is compared afresh, the pages' ranges still match.
    share(77);
    journal.undo();
    expect(journal.memo.hits - hits).toBe(5);
    share(77);
    journal.undo();
    expect(journal.memo.hits - hits).toBe(8);
  });

  it('fails in verify mode on a write just outside the frames a point named, at either end, either parity', () => {
    // Flags keep two pages a word: a named range whose end splits a word must not take in the other page.
    for (const start of [1, 2])
      for (const outside of [start - 1, start + 3]) {
        const { journal, mem, first } = setUp();
        const fp = new Footprint();
        fp.forJournal = true;
        fp.set(0, R_FRAMES);
        fp.namesFrames();
        fp.frames(first + start, 3);
        journal.begin(false, fp);
        for (let k = start; k < start + 3; k++) mem.flags[first + k] = mem.flags[first + k]! ^ 0x100;
        mem.flags[first + outside] = mem.flags[first + outside]! ^ 0x100;
        expect(() => journal.commit(fp), `range [${start}, ${start + 3}), write at ${outside}`).toThrow(
          /which neither its footprint named nor the allocator touched/,
        );
      }
  });
});
