// The race explorer's search (issue 14): the partial-order reduction loses nothing (the same end-state
// outcomes and the same violated properties, with violations as short, as the full search), the violation
// reported is the shortest of every interleaving (checked against a plain enumeration of all of them),
// and end states are outcomes a person can tell apart (not orders of allocation). Bounded runs.
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadScenario } from '../src/scenario/load.js';
import { RunContext } from '../src/scenario/context.js';
import { runScenarioStep } from '../src/scenario/run.js';
import type { Scenario, StepOf } from '../src/scenario/schema.js';
import { snapshotMachine, restoreMachine } from '../src/mm/snapshot.js';
import { explore, type ExploreResult } from '../src/tools/explore/explorer.js';
import { Locks } from '../src/tools/explore/locks.js';
import { World } from '../src/tools/explore/op.js';
import { makeOp } from '../src/tools/explore/threads.js';
import { ForkOp } from '../src/tools/explore/fork_op.js';
import type { Footprint } from '../src/tools/explore/footprint.js';
import type { ProtectionName } from '../src/mm/protections.js';

const load = (f: string) => loadScenario(readFileSync(join(import.meta.dirname, '..', 'examples', f), 'utf8'), f);
const MAX = 200_000;

/** An end state as compared across searches: everything but the example and the count. */
const outcome = (e: ExploreResult['ends'][number]): string =>
  JSON.stringify([e.counters, e.returns, e.pages, e.handles]).replace(/0x[0-9a-f]+/g, '#');
const outcomes = (r: ExploreResult): string[] => r.ends.map(outcome).sort();
const violated = (r: ExploreResult): string[] => r.violations.map((v) => `${v.property} in ${v.trace.length}`).sort();

/** Searches compared; `violates`: a property is broken (the shortest violation is checked too). */
const RUNS: Array<{ file: string; without: ProtectionName[]; violates?: boolean }> = [
  { file: 'race-fork-gup-fast.yaml', without: [] },
  { file: 'race-fork-gup-fast.yaml', without: ['writeProtectSeq'], violates: true },
  { file: 'race-fork-gup-fast.yaml', without: ['forkEarlyCow'], violates: true },
  { file: 'race-munmap-gup-fast.yaml', without: [] },
  { file: 'race-munmap-gup-fast.yaml', without: ['fastRecheck'], violates: true },
  { file: 'race-migrate-pin.yaml', without: [] },
  // The refcount check still refuses the move: protections overlap.
  { file: 'race-migrate-pin.yaml', without: ['tryShareAnon'] },
  { file: 'race-migrate-pin.yaml', without: ['fastRecheck'], violates: true },
  { file: 'race-fork-hugetlb.yaml', without: [] },
  { file: 'race-fork-hugetlb.yaml', without: ['writeProtectSeq'], violates: true },
  { file: 'race-fork-hugetlb.yaml', without: ['forkEarlyCow'], violates: true },
  { file: 'race-fork-thp.yaml', without: ['writeProtectSeq'] },
];

const label = (r: { file: string; without: ProtectionName[] }) =>
  `${r.file}${r.without.length ? ` without ${r.without}` : ''}`;

/**
 * Every interleaving of the block, enumerated without state hashing or reduction: the fewest points of
 * a thread that reach a violation of each property found on the way (a point's own, or an assert after
 * the block). Only for small blocks.
 */
function enumerateShortest(sc: Scenario, without: ProtectionName[]): Map<string, number> {
  const at = sc.steps.findIndex((s) => s.op === 'concurrent');
  const ctx = new RunContext(sc);
  for (const w of without) ctx.m.protections[w] = false;
  sc.steps.slice(0, at).forEach((s, i) => runScenarioStep(ctx, s, i, []));
  const block = sc.steps[at] as StepOf<'concurrent'>;
  const threads = Object.entries(block.threads).map(([name, steps]) => ({
    ops: steps.map((s) => makeOp(name, s)),
    pc: 0,
  }));
  const locks = new Locks();
  const world = new World(ctx, locks);
  const roots = [ctx, locks, threads];
  const best = new Map<string, number>();
  const found = (p: string, n: number) => best.set(p, Math.min(best.get(p) ?? Infinity, n));
  const walk = (depth: number): void => {
    const en = threads.map((t, i) => (t.ops[t.pc]?.enabled(world) ? i : -1)).filter((i) => i >= 0);
    if (en.length === 0) {
      const snap = snapshotMachine(ctx.m, roots);
      sc.steps.slice(at + 1).forEach((s, i) => {
        const res = runScenarioStep(ctx, s, at + 1 + i, []);
        if (res.failures?.length && s.op === 'assert') found(s.says ?? s.that, depth);
      });
      restoreMachine(ctx.m, snap);
      return;
    }
    const snap = snapshotMachine(ctx.m, roots);
    en.forEach((ti, k) => {
      if (k > 0) restoreMachine(ctx.m, snap);
      const t = threads[ti]!;
      const op = t.ops[t.pc]!;
      const rec = op.point(world);
      if (op.done) t.pc++;
      if (rec.violation) found(rec.violation.property, depth + 1);
      walk(depth + 1);
    });
  };
  walk(0);
  return best;
}

describe('gupsim explore: the search', () => {
  for (const run of RUNS)
    it(`${label(run)}: the reduction finds the same outcomes`, () => {
      const sc = load(run.file);
      const reduced = explore(sc, { without: run.without, maxStates: MAX, examples: 0 });
      const full = explore(sc, { without: run.without, maxStates: MAX, examples: 0, reduction: false });
      expect(reduced.truncated || full.truncated).toBe(false);
      expect(outcomes(reduced)).toEqual(outcomes(full));
      expect(violated(reduced)).toEqual(violated(full));
      // It runs one interleaving per order of dependent points: fewer, never more.
      expect(reduced.interleavings).toBeLessThanOrEqual(full.interleavings);
    });

  for (const run of RUNS.filter((r) => r.violates))
    it(`${run.file} without ${run.without}: the violation reported is the shortest interleaving`, () => {
      const sc = load(run.file);
      const r = explore(sc, { without: run.without, examples: 0 });
      const shortest = enumerateShortest(sc, run.without);
      expect(r.violations.length).toBeGreaterThan(0);
      for (const v of r.violations) {
        const points = v.trace.filter((t) => t.thread !== '-').length;
        expect(points, v.property).toBe(shortest.get(v.property));
      }
    });

  for (const run of RUNS.filter((r) => r.file !== 'race-fork-thp.yaml'))
    it(`${label(run)}: the journal goes back exactly (every step back checked against a snapshot)`, () => {
      const sc = load(run.file);
      const checked = explore(sc, { without: run.without, verify: true, examples: 0 });
      const plain = explore(sc, { without: run.without, examples: 0 });
      expect(checked.states).toBe(plain.states);
      expect(outcomes(checked)).toEqual(outcomes(plain));
    });

  /** Run fn with fork's footprints changed by `patch` once computed (put back after). */
  function withForkFootprint(patch: (fp: Footprint) => void, fn: () => void): void {
    const original = ForkOp.prototype.footprint;
    ForkOp.prototype.footprint = function (w, fp) {
      original.call(this, w, fp);
      patch(fp);
    };
    try {
      fn();
    } finally {
      ForkOp.prototype.footprint = original;
    }
  }

  it('a point whose footprint names too few frames is caught by the journal in verify mode', () => {
    // fork's copy names the frames of the entry it copies (here a page of the split THP, once it is shared
    // rather than copied early); naming none must show as a missed change.
    const fewer = (fp: Footprint) => {
      if (fp.framesNamed) fp.namesFrames();
    };
    withForkFootprint(fewer, () =>
      expect(() => explore(load('race-fork-thp.yaml'), { verify: true, examples: 0 })).toThrow(
        /neither its footprint named nor the allocator touched/,
      ),
    );
    expect(explore(load('race-fork-thp.yaml'), { verify: true, examples: 0, maxStates: 800 }).states).toBe(800);
  });

  it('a point whose footprint names too few PTE tables is caught by the journal in verify mode', () => {
    // fork's copy names the child's table (and the parent's for a share's write-protect); naming none must
    // show as a missed change.
    const fewer = (fp: Footprint) => {
      if (fp.tablesNamed) fp.namesTables();
    };
    withForkFootprint(fewer, () =>
      expect(() => explore(load('race-fork-gup-fast.yaml'), { verify: true, examples: 0 })).toThrow(
        /in a table its footprint did not name/,
      ),
    );
    expect(explore(load('race-fork-gup-fast.yaml'), { verify: true, examples: 0 }).states).toBe(121);
  });

  it('race-fork-thp.yaml: the journal goes back exactly (bounded)', () => {
    const r = explore(load('race-fork-thp.yaml'), { verify: true, examples: 0, maxStates: 800 });
    expect(r.states).toBe(800);
  });

  it('three threads (pin then unpin, fork then the child exits, migration): exact steps back, no violation', () => {
    const sc = loadScenario(
      `
name: three
machine: { memory: 16MiB }
steps:
  - { op: mmap, proc: p, as: buf, size: 8KiB, type: anon }
  - { op: write, proc: p, region: buf }
  - op: concurrent
    threads:
      a:
        - { op: pin_user_pages_fast, proc: p, region: buf, flags: [FOLL_LONGTERM, FOLL_WRITE], as: pin }
        - { op: unpin_user_pages, pins: pin }
      b:
        - { op: fork, proc: p, child: c }
        - { op: exit, proc: c }
      d:
        - { op: migrate_pages, proc: p, region: buf }
  - { op: assert, that: vmstat_balanced }
`,
      'three.yaml',
    );
    const r = explore(sc, { verify: true, examples: 0 });
    expect(r.truncated).toBe(false);
    // Before putback_movable_pages() freed a folio whose mappings all went while it was isolated, the
    // model's invariants broke here (a leaked folio).
    expect(r.violations.map((v) => v.property)).toEqual([]);
    expect(r.ends.length).toBeGreaterThan(10);
  });

  it('an end state is an outcome: allocation order alone makes no distinct end state', () => {
    // Two processes each fault a page in: which gets the lower frame depends on the order, nothing else.
    const sc = loadScenario(
      `
name: two-faults
machine: { memory: 8MiB }
steps:
  - { op: mmap, proc: a, as: ra, size: 4KiB, type: anon }
  - { op: mmap, proc: b, as: rb, size: 4KiB, type: anon }
  - op: concurrent
    threads:
      one:
        - { op: write, proc: a, region: ra, value: 1 }
      two:
        - { op: write, proc: b, region: rb, value: 2 }
`,
      'two-faults.yaml',
    );
    const r = explore(sc, { reduction: false });
    expect(r.interleavings).toBe(2);
    expect(r.ends.length).toBe(1);
    expect(r.ends[0]!.interleavings).toBe(2);
  });

  it('distinct end states differ in what a person sees', () => {
    const r = explore(load('race-fork-thp.yaml'), { examples: 0 });
    const seen = new Set(outcomes(r));
    expect(seen.size).toBe(r.ends.length);
  });
});
