// The common-case shortcuts on the hot paths (GUP-fast's pin of a writable anon PTE, zap's free of a
// small anon folio and its quiet reference drop, the unpin of io_release_ubuf()) are taken only while no
// folio freed in use is on record (m.misuse.freedInUse is empty); with any record there, every entry
// goes the general way, with its checks. So a machine carrying one record of a frame that does not exist
// runs every path the general way, and must end exactly where the plain machine ends: the same page
// state (contents included) and page tables byte for byte, the same counters, results, WARNs and misuse
// records. Checked on every example scenario and on random sequences of faults, forks, pins, io_uring
// buffers, unmaps and exits.

import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadScenario } from '../src/scenario/load.js';
import { runScenarioStep } from '../src/scenario/run.js';
import { RunContext } from '../src/scenario/context.js';
import type { StepResult } from '../src/scenario/result.js';
import { Machine } from '../src/mm/machine.js';
import { PAGE_SIZE, PMD_SIZE } from '../src/mm/memmap.js';
import type { Process } from '../src/mm/task.js';
import { do_mmap, do_munmap } from '../src/mm/mmap.js';
import { do_madvise } from '../src/mm/madvise.js';
import { userAccess } from '../src/mm/user_access.js';
import { pin_user_pages_fast, unpin_user_pages } from '../src/mm/gup.js';
import { FOLL_LONGTERM, FOLL_WRITE } from '../src/mm/foll_flags.js';
import { kernel_clone } from '../src/kernel/fork.js';
import { do_exit } from '../src/kernel/exit.js';
import {
  io_uring_setup,
  io_sqe_buffers_register,
  io_sqe_buffers_unregister,
  type IoRing,
} from '../src/consumers/io_uring.js';
import { VMSTAT_ITEMS } from '../src/mm/vmstat.js';

/** A record of a frame past the end of memory: no path ever meets it, but every shortcut sees a record. */
function forceGeneralPaths(m: Machine): void {
  m.misuse.freedInUse.set(m.mem.nr + 1, { step: undefined, freedAgain: false });
}

/** Everything the paths change, in comparable form. */
function state(m: Machine): string {
  const s = m.snapshot();
  return JSON.stringify({
    pool: Buffer.from(s.pool).toString('base64'),
    slab: Buffer.from(s.slab.buffer, 0, s.slabWords * 4).toString('base64'),
    extras: [...s.extras].map(([name, a]) => [name, Buffer.from(a.buffer).toString('base64')]),
    vmstat: VMSTAT_ITEMS.map((i) => m.vmstat.get(i)),
    warns: m.warns.records,
    misuse: m.misuse.records,
  });
}

const dir = join(import.meta.dirname, '..', 'examples');
const examples = readdirSync(dir)
  .filter((f) => /\.ya?ml$/.test(f))
  .sort()
  .map((f) => ({ name: f, sc: loadScenario(readFileSync(join(dir, f), 'utf8'), f) }));

/** Run every step of a scenario; the step results and the final state. */
function run(sc: (typeof examples)[number]['sc'], general: boolean): { steps: string; state: string } {
  const ctx = new RunContext(sc);
  if (general) forceGeneralPaths(ctx.m);
  const steps: StepResult[] = [];
  sc.steps.forEach((step, i) => steps.push(runScenarioStep(ctx, step, i, steps)));
  return { steps: JSON.stringify(steps), state: state(ctx.m) };
}

describe('the hot paths take their shortcuts only where the general path does the same', () => {
  it('every example scenario: the same step results and the same final state', () => {
    expect(examples.length).toBeGreaterThan(10);
    for (const { name, sc } of examples) {
      const plain = run(sc, false);
      const general = run(sc, true);
      expect(plain.steps, name).toBe(general.steps);
      expect(plain.state === general.state, name).toBe(true);
    }
  });

  type Op =
    | { k: 'map'; kind: 'base' | 'thp' | 'mthp' | 'shmem'; pages: number }
    | { k: 'touch'; r: number; write: boolean }
    | { k: 'fork' }
    | { k: 'pin'; r: number; off: number; n: number; longterm: boolean }
    | { k: 'unpin'; h: number }
    | { k: 'register'; r: number }
    | { k: 'unregister' }
    | { k: 'munmap'; r: number; off: number; n: number }
    | { k: 'exit'; child: boolean };

  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({
      k: fc.constant('map' as const),
      kind: fc.constantFrom('base' as const, 'thp' as const, 'mthp' as const, 'shmem' as const),
      pages: fc.integer({ min: 1, max: 1200 }),
    }),
    fc.record({ k: fc.constant('touch' as const), r: fc.nat(), write: fc.boolean() }),
    fc.record({ k: fc.constant('fork' as const) }),
    fc.record({
      k: fc.constant('pin' as const),
      r: fc.nat(),
      off: fc.nat(),
      n: fc.integer({ min: 1, max: 600 }),
      longterm: fc.boolean(),
    }),
    fc.record({ k: fc.constant('unpin' as const), h: fc.nat() }),
    fc.record({ k: fc.constant('register' as const), r: fc.nat() }),
    fc.record({ k: fc.constant('unregister' as const) }),
    fc.record({ k: fc.constant('munmap' as const), r: fc.nat(), off: fc.nat(), n: fc.integer({ min: 1, max: 700 }) }),
    fc.record({ k: fc.constant('exit' as const), child: fc.boolean() }),
  );

  /** Successful registrations and pins across the runs (the test must reach those paths). */
  const reached = { register: 0, pin: 0 };

  /** Apply ops to a fresh machine; its final state and every return value. */
  function apply(ops: Op[], general: boolean): string {
    const m = new Machine({ memory: 96 << 20, thp: 'madvise', mthp: { '64K': 'always' } });
    if (general) forceGeneralPaths(m);
    const p = m.spawn('app');
    p.capIpcLock = true; // no RLIMIT_MEMLOCK on the buffers
    const ring = io_uring_setup(m, 'ring', p) as IoRing;
    const regions: { addr: number; pages: number }[] = [];
    const pins: Int32Array[] = [];
    const children: Process[] = [];
    let forks = 0;
    const rets: number[] = [];
    for (const o of ops) {
      const region = 'r' in o && regions.length ? regions[o.r % regions.length]! : undefined;
      switch (o.k) {
        case 'map': {
          const size = o.pages * PAGE_SIZE;
          const type = o.kind === 'shmem' ? 'shmem' : 'anon';
          const addr = do_mmap(m, p, { size, type, align: o.kind === 'thp' ? PMD_SIZE : PAGE_SIZE });
          rets.push(addr < 0 ? addr : 0);
          if (addr < 0) break;
          if (o.kind === 'thp') do_madvise(m, p, addr, size, 'hugepage');
          if (o.kind === 'base') do_madvise(m, p, addr, size, 'nohugepage');
          regions.push({ addr, pages: o.pages });
          break;
        }
        case 'touch':
          if (region) rets.push(userAccess(m, p, region.addr, region.pages * PAGE_SIZE, o.write));
          break;
        case 'fork': {
          const c = kernel_clone(m, p, `c${forks++}`);
          if (typeof c !== 'number') children.push(c);
          break;
        }
        case 'pin': {
          if (!region) break;
          const off = o.off % region.pages;
          const n = Math.min(o.n, region.pages - off);
          const pages = new Int32Array(n);
          const flags = FOLL_WRITE | (o.longterm ? FOLL_LONGTERM : 0);
          const r = pin_user_pages_fast(m, p, region.addr + off * PAGE_SIZE, n, flags, pages);
          rets.push(r);
          if (r > 0) {
            pins.push(pages.subarray(0, r));
            reached.pin++;
          }
          break;
        }
        case 'unpin': {
          if (!pins.length) break;
          const [pages] = pins.splice(o.h % pins.length, 1);
          unpin_user_pages(m, pages!, pages!.length);
          break;
        }
        case 'register': {
          if (!region) break;
          if (ring.slots) io_sqe_buffers_unregister(m, ring);
          const r = io_sqe_buffers_register(m, ring, [{ base: region.addr, len: region.pages * PAGE_SIZE }]);
          rets.push(r);
          if (r === 0) reached.register++;
          break;
        }
        case 'unregister':
          rets.push(io_sqe_buffers_unregister(m, ring));
          break;
        case 'munmap': {
          if (!region) break;
          const off = o.off % region.pages;
          rets.push(do_munmap(m, p, region.addr + off * PAGE_SIZE, Math.min(o.n, region.pages - off) * PAGE_SIZE));
          break;
        }
        case 'exit': {
          const c = o.child ? children.shift() : undefined;
          if (c) do_exit(m, c);
          break;
        }
      }
    }
    io_sqe_buffers_unregister(m, ring);
    for (const pages of pins) unpin_user_pages(m, pages, pages.length);
    for (const c of children) do_exit(m, c);
    do_exit(m, p);
    return JSON.stringify(rets) + state(m);
  }

  it('random faults, forks, pins, io_uring buffers, unmaps and exits: the same final state', () => {
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 30 }), (ops) => apply(ops, false) === apply(ops, true)),
      { numRuns: 100 },
    );
    expect(reached.register).toBeGreaterThan(5);
    expect(reached.pin).toBeGreaterThan(5);
  });
});
