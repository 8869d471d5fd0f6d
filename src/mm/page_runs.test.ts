// PageRuns: a pages[] array whose leaf entries are runs reads, entry by entry, as the array the kernel's
// record_subpages() writes; fill() writes exactly that array; sequenceEnd() finds where consecutive
// PFNs stop as a scan of the filled array does.

import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { PageRuns } from './page_runs.js';

/** Segments of a pages[] array: single entries, or runs of consecutive PFNs a leaf would give. */
const layout = fc.array(
  fc.oneof(
    fc.record({ run: fc.constant(false), pfn: fc.nat(5000) }),
    fc.record({ run: fc.constant(true), pfn: fc.nat(5000), count: fc.integer({ min: 1, max: 40 }) }),
  ),
  { minLength: 1, maxLength: 30 },
);

/** The array with runs left out (stale values there), its runs, and the kernel's full array. */
function build(segs: { run: boolean; pfn: number; count?: number }[]) {
  const full: number[] = [];
  const runs = new PageRuns();
  for (const s of segs) {
    if (s.run) {
      runs.push(full.length, s.pfn, s.count!);
      for (let k = 0; k < s.count!; k++) full.push(s.pfn + k);
    } else full.push(s.pfn);
  }
  const pages = Int32Array.from(full);
  // GUP leaves a run's entries unwritten: stale values there.
  const sparse = pages.slice();
  let at = 0;
  for (const s of segs) {
    if (s.run) sparse.fill(-7, at, at + s.count!);
    at += s.run ? s.count! : 1;
  }
  return { full: pages, sparse, runs };
}

describe('PageRuns', () => {
  it('reads and fills the kernel array', () => {
    fc.assert(
      fc.property(layout, (segs) => {
        const { full, sparse, runs } = build(segs);
        const r = runs.reader(sparse);
        for (let i = 0; i < full.length; i++) if (r.read(i) !== full[i]) return false;
        const filled = sparse.slice();
        runs.fill(filled);
        return filled.every((v, i) => v === full[i]);
      }),
    );
  });

  it('sequenceEnd(): where consecutive PFNs stop, as a scan of the full array finds', () => {
    fc.assert(
      fc.property(layout, fc.nat(), fc.nat(), fc.integer({ min: -3, max: 3 }), (segs, a, b, shift) => {
        const { full, sparse, runs } = build(segs);
        const n = full.length;
        const i = a % n;
        const stop = i + (b % (n - i + 1));
        // A sequence that the entry at i continues (or, shifted, does not).
        const expect0 = full[i]! - i + shift;
        let naive = i;
        while (naive < stop && full[naive] === expect0 + naive) naive++;
        return runs.reader(sparse).sequenceEnd(i, stop, expect0) === naive;
      }),
    );
  });

  it('grows past its first capacity and clears', () => {
    const runs = new PageRuns();
    for (let k = 0; k < 100; k++) runs.push(k * 2, 1000 + k * 10, 2);
    expect(runs.n).toBe(100);
    const pages = new Int32Array(200);
    runs.fill(pages);
    expect([pages[0], pages[1], pages[198], pages[199]]).toEqual([1000, 1001, 1990, 1991]);
    runs.clear();
    expect(runs.n).toBe(0);
  });
});
