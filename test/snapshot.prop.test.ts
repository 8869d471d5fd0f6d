// Machine and run snapshots (src/mm/snapshot.ts, src/scenario/snapshot.ts): run, snapshot, run more,
// restore, rerun gives the same results, any number of times, for every example scenario split at a
// random step (io_uring rings, RDMA MRs, VFIO containers, HMM mirrors, pipes, hugetlb pools, forks and
// exits included); a restored machine's page state and page tables are byte-identical to the
// snapshot's; and per-page arrays allocated on first use are part of it.

import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadScenario } from '../src/scenario/load.js';
import { executeScenario, runScenarioStep } from '../src/scenario/run.js';
import { RunContext } from '../src/scenario/context.js';
import { restoreRun, snapshotRun } from '../src/scenario/snapshot.js';
import type { StepResult } from '../src/scenario/result.js';
import type { Scenario } from '../src/scenario/schema.js';
import { Machine } from '../src/mm/machine.js';
import { do_mmap, do_munmap } from '../src/mm/mmap.js';
import { userAccess } from '../src/mm/user_access.js';
import { kernel_clone } from '../src/kernel/fork.js';
import { do_exit } from '../src/kernel/exit.js';
import { PAGE_SIZE } from '../src/mm/memmap.js';
import { checkInvariants } from '../src/tools/invariants.js';

const dir = join(import.meta.dirname, '..', 'examples');
const scenarios: { name: string; sc: Scenario }[] = readdirSync(dir)
  .filter((f) => /\.ya?ml$/.test(f))
  .sort()
  .map((f) => ({ name: f, sc: loadScenario(readFileSync(join(dir, f), 'utf8'), f) }));

/** Run steps [from, to) of sc on ctx, after `done`. */
function runRange(ctx: RunContext, sc: Scenario, from: number, to: number, done: StepResult[]): StepResult[] {
  const out = [...done];
  for (let i = from; i < to; i++) out.push(runScenarioStep(ctx, sc.steps[i]!, i, out));
  ctx.m.warns.step = undefined;
  return out.slice(done.length);
}

/** What a restored machine must match byte for byte: page state and page tables. */
function stateBytes(m: Machine): { pool: Uint8Array; slab: Uint32Array } {
  const s = m.snapshot();
  return { pool: s.pool, slab: s.slab.slice(0, s.slabWords) };
}

/** Byte equality of two typed arrays (a deep toEqual of megabytes is far too slow). */
function sameBytes(a: ArrayBufferView, b: ArrayBufferView): boolean {
  return (
    Buffer.compare(
      Buffer.from(a.buffer, a.byteOffset, a.byteLength),
      Buffer.from(b.buffer, b.byteOffset, b.byteLength),
    ) === 0
  );
}

describe('run snapshots', () => {
  it('has example scenarios to split', () => expect(scenarios.length).toBeGreaterThan(10));

  it('run, snapshot, run more, restore, rerun: the same results as a straight run, every time', () => {
    fc.assert(
      fc.property(
        fc.nat({ max: scenarios.length - 1 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.integer({ min: 1, max: 3 }),
        (which, at, reruns) => {
          const { sc } = scenarios[which]!;
          const n = sc.steps.length;
          const k = Math.min(n, Math.floor(at * (n + 1)));
          const straight = executeScenario(sc).result.steps;
          const ctx = new RunContext(sc);
          const before = runRange(ctx, sc, 0, k, []);
          expect(before).toEqual(straight.slice(0, k));
          const snap = snapshotRun(ctx);
          const atSnap = stateBytes(ctx.m);
          for (let r = 0; r < reruns; r++) {
            const after = runRange(ctx, sc, k, n, before);
            expect(after).toEqual(straight.slice(k));
            restoreRun(ctx, snap);
            const now = stateBytes(ctx.m);
            expect(sameBytes(now.pool, atSnap.pool)).toBe(true);
            expect(sameBytes(now.slab, atSnap.slab)).toBe(true);
            expect(checkInvariants(ctx.m)).toEqual([]);
          }
        },
      ),
      { numRuns: 40 },
    );
  });

  // The consumers whose state lives in module side tables (memlock charges, VFIO containers, HMM
  // mirrors) or in closures (fd release, MMU notifiers), and MemMap's own sets (ext4's buffer heads:
  // folio_attach_private(), which once were not restored, so a second run kept a page cache folio that
  // drop_caches dropped in the first): every split point.
  for (const name of [
    'io_uring_memlock.yaml',
    'vfio_dma.yaml',
    'hmm_mirror.yaml',
    'rdma_mr.yaml',
    'vmsplice.yaml',
    'data-case5-put-page-lost.yaml',
  ])
    it(`${name}: snapshot at every step, run on, restore, run on again`, () => {
      const sc = scenarios.find((x) => x.name === name)!.sc;
      const straight = executeScenario(sc).result.steps;
      for (let k = 0; k <= sc.steps.length; k++) {
        const ctx = new RunContext(sc);
        const before = runRange(ctx, sc, 0, k, []);
        const snap = snapshotRun(ctx);
        for (let r = 0; r < 2; r++) {
          expect(runRange(ctx, sc, k, sc.steps.length, before)).toEqual(straight.slice(k));
          restoreRun(ctx, snap);
        }
      }
    });

  it('handles, regions and files made after the snapshot are gone after restore', () => {
    const sc = scenarios.find((s) => s.name === 'io-uring-thp-coalesce.yaml')!.sc;
    const ctx = new RunContext(sc);
    runRange(ctx, sc, 0, 1, []);
    const snap = snapshotRun(ctx);
    const regions = [...ctx.regions.keys()];
    runRange(ctx, sc, 1, sc.steps.length, []);
    expect(ctx.holders.size).toBeGreaterThan(0);
    restoreRun(ctx, snap);
    expect(ctx.holders.size).toBe(0);
    expect([...ctx.regions.keys()]).toEqual(regions);
  });
});

describe('machine snapshots', () => {
  it('fork, pins and exits undone; a snapshot can be reused as the buffer of the next', () => {
    const m = new Machine({ memory: 64 << 20, thp: 'madvise' });
    const p = m.spawn('a');
    const addr = do_mmap(m, p, { size: 4 << 20, type: 'anon' });
    expect(userAccess(m, p, addr, 1 << 20, true)).toBe(0);
    const free0 = m.vmstat.get('nr_free_pages');
    const s = m.snapshot();
    const c = kernel_clone(m, p, 'b');
    expect(typeof c).not.toBe('number');
    expect(userAccess(m, p, addr, 4 << 20, true)).toBe(0);
    do_exit(m, c as never);
    expect(do_munmap(m, p, addr, PAGE_SIZE)).toBe(0);
    m.restore(s);
    expect(m.vmstat.get('nr_free_pages')).toBe(free0);
    expect(m.process('b')).toBeUndefined();
    expect(p.mm.rss_anon).toBe(256);
    expect(checkInvariants(m)).toEqual([]);
    // The same run again gives the same pages.
    const again = kernel_clone(m, p, 'b');
    expect(typeof again).not.toBe('number');
    const s2 = m.snapshot(s);
    expect(s2).toBe(s);
    m.restore(s2);
    expect(m.process('b')!.alive).toBe(true);
  });

  it('extra per-page arrays: restored when they existed, cleared when allocated after the snapshot', () => {
    const m = new Machine({ memory: 16 << 20 });
    const a = m.mem.extra('contents');
    a[100] = 7;
    const s = m.snapshot();
    a[100] = 8;
    const b = m.mem.extra('other');
    b[5] = 1;
    m.restore(s);
    expect(a[100]).toBe(7);
    expect(b[5]).toBe(0);
    expect(s.bytes).toBe(m.mem.pool.byteLength + a.byteLength);
  });

  it('a snapshot belongs to its machine', () => {
    const m1 = new Machine({ memory: 16 << 20 });
    const m2 = new Machine({ memory: 16 << 20 });
    expect(() => m2.restore(m1.snapshot())).toThrow(/another machine/);
  });
});
