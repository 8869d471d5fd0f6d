// inspect: the refcount breakdown adds up, and with no misuse every reference has an owner; a
// handle's frames say whether the process still maps them.
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { loadScenario } from './load.js';
import { executeScenario } from './run.js';
import { folioHolds, inspectPage } from './inspect.js';
import { PAGE_SIZE } from '../mm/memmap.js';
import type { Step } from './schema.js';

const REGIONS = ['a', 'b'];
const step = fc.oneof(
  fc.record({ op: fc.constantFrom('write', 'read'), region: fc.constantFrom(...REGIONS) }),
  fc.record({
    op: fc.constantFrom('pin_user_pages', 'get_user_pages', 'pin_user_pages_fast'),
    region: fc.constantFrom(...REGIONS),
    offset: fc.integer({ min: 0, max: 15 }).map((p) => p * PAGE_SIZE),
    pages: fc.integer({ min: 1, max: 4 }),
    longterm: fc.boolean(),
  }),
  fc.record({ op: fc.constant('io_uring_register_buffers'), region: fc.constantFrom(...REGIONS) }),
  fc.record({
    op: fc.constant('vmsplice'),
    region: fc.constantFrom(...REGIONS),
    pages: fc.integer({ min: 1, max: 3 }),
  }),
  fc.record({ op: fc.constant('rdma_reg_mr'), region: fc.constantFrom(...REGIONS) }),
  fc.record({ op: fc.constant('fork') }),
  fc.record({ op: fc.constant('madvise'), region: fc.constantFrom(...REGIONS), advice: fc.constantFrom('dontneed') }),
);

/** A scenario of random steps without misuse: every handle name is fresh. */
function scenario(thp: boolean, shared: boolean, steps: Array<Record<string, unknown>>): string {
  const out: Step[] = [];
  out.push({ op: 'mmap', proc: 'app', as: 'a', size: 64 * PAGE_SIZE, type: 'anon', align: 2 << 20 } as Step);
  out.push({ op: 'mmap', proc: 'app', as: 'b', size: 16 * PAGE_SIZE, type: shared ? 'shmem' : 'anon' } as Step);
  if (thp) out.push({ op: 'madvise', proc: 'app', region: 'a', advice: 'hugepage' } as Step);
  let n = 0;
  let forks = 0;
  for (const s of steps) {
    const name = `h${n++}`;
    if (s.op === 'fork') out.push({ op: 'fork', proc: 'app', child: `kid${forks++}` } as Step);
    else if (s.op === 'read' || s.op === 'write' || s.op === 'madvise') out.push({ proc: 'app', ...s } as Step);
    else if (s.op === 'io_uring_register_buffers' || s.op === 'rdma_reg_mr' || s.op === 'vmsplice')
      out.push({ proc: 'app', as: name, ...s } as Step);
    else {
      const { longterm, ...rest } = s;
      out.push({ proc: 'app', as: name, flags: longterm ? ['FOLL_LONGTERM'] : [], ...rest } as Step);
    }
  }
  return JSON.stringify({ machine: { memory: 256 << 20, thp: 'madvise' }, steps: out });
}

describe('inspect: the refcount breakdown', () => {
  it('parts sum to the refcount, and nothing is unattributed when no step misuses an API', () => {
    fc.assert(
      fc.property(fc.boolean(), fc.boolean(), fc.array(step, { maxLength: 12 }), (thp, shared, steps) => {
        const { ctx } = executeScenario(loadScenario(scenario(thp, shared, steps)));
        const holds = folioHolds(ctx.m, ctx.holders.values());
        for (const p of ctx.m.processes.values()) {
          if (!p.alive) continue;
          for (const r of ctx.regions.values())
            for (let i = 0; i < r.len / PAGE_SIZE; i++) {
              const info = inspectPage(ctx.m, p, r.addr + i * PAGE_SIZE, i, holds);
              if (!info.present || info.zero_page) continue;
              const parts = info.refcount_parts!;
              const sum =
                parts.mappings +
                parts.page_cache +
                parts.holders.reduce((t, h) => t + h.refcount, 0) +
                parts.buffers +
                parts.lru_batch +
                parts.unattributed;
              expect(sum).toBe(info.refcount);
              expect(parts.unattributed, `${p.name} ${r.name} page ${i}: ${JSON.stringify(parts)}`).toBe(0);
            }
        }
      }),
      { numRuns: 60 },
    );
  });
  it('a small folio has no _pincount: null, and a refcount of 1024 references is a false positive', () => {
    const { result } = executeScenario(
      loadScenario(`
steps:
  - { op: mmap, proc: app, as: buf, size: 4K, type: anon }
  - { op: madvise, proc: app, region: buf, advice: populate_write }
  - { op: get_user_pages, proc: app, region: buf, pages: 1, as: refs, repeat: 1023 }
  - { op: inspect, proc: app, region: buf, page: 0 }
  - { op: put_page, pins: refs, index: 0 }
  - { op: pin_user_pages, proc: app, region: buf, pages: 1, as: pin }
  - { op: inspect, proc: app, region: buf, page: 0 }
`),
    );
    const [fp] = result.steps[3]!.pages as Array<Record<string, unknown>>;
    expect(fp).toMatchObject({ refcount: 1024, pincount: null, maybe_dma_pinned: true, false_positive: true });
    const [pinned] = result.steps[6]!.pages as Array<Record<string, unknown>>;
    expect(pinned).toMatchObject({ refcount: 2047, maybe_dma_pinned: true, false_positive: false });
    expect(pinned!.refcount_parts).toEqual({
      mappings: 1,
      page_cache: 0,
      buffers: 0,
      holders: [
        { handle: 'refs', type: 'handle', refs: 1022, pins: 0, refcount: 1022 },
        { handle: 'pin', type: 'handle', refs: 0, pins: 1, refcount: 1024 },
      ],
      lru_batch: 0,
      unattributed: 0,
    });
  });
});

describe('inspect handle:', () => {
  it('after a COW the pinned frame is no longer the one the process maps', () => {
    const { result } = executeScenario(
      loadScenario(`
steps:
  - { op: mmap, proc: app, as: buf, size: 8K, type: anon }
  - { op: write, proc: app, region: buf }
  - { op: get_user_pages, proc: app, region: buf, as: h }
  - { op: fork, proc: app, child: kid }
  - { op: write, proc: app, region: buf, length: 4K }
  - { op: inspect, handle: h }
`),
    );
    const s = result.steps[5]!;
    expect(s.handle).toMatchObject({ name: 'h', type: 'handle', refs: 2, pins: 0 });
    const frames = s.frames as Array<Record<string, unknown>>;
    expect(frames.map((f) => f.still_mapped)).toEqual([false, true]);
    expect(frames[0]!.mapped_pfn).not.toBe(frames[0]!.pfn);
  });
  it('an io_uring buffer of a THP is one frame of 512 pages, still mapped', () => {
    const { result } = executeScenario(
      loadScenario(`
machine: { memory: 256MiB, thp: always }
steps:
  - { op: mmap, proc: app, as: buf, size: 2MiB, type: anon, align: 2MiB }
  - { op: write, proc: app, region: buf }
  - { op: io_uring_register_buffers, proc: app, region: buf, as: ring }
  - { op: inspect, handle: ring }
`),
    );
    expect(result.steps[3]!.frames).toMatchObject([{ pages: 512, pins: 1, refs: 0, still_mapped: true }]);
  });
});
