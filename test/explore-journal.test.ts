// The race explorer's journal on the whole steps and structural points it takes back without a snapshot of
// the machine's object graph (issue 14's speed): fork's start, munmap's end (a split VMA included), a first
// fault's new anon_vma, a private hugetlb fault's reservation, loads, stores, asserts and unpins in a thread
// and after a block. Each search runs in verify mode, where every step back is compared with a full
// snapshot and every state hash part with one computed afresh: a miss throws.
import { describe, it, expect } from 'vitest';
import { loadScenario } from '../src/scenario/load.js';
import { RunContext } from '../src/scenario/context.js';
import { runScenarioStep } from '../src/scenario/run.js';
import type { Step } from '../src/scenario/schema.js';
import { explore } from '../src/tools/explore/explorer.js';
import { journalSafe } from '../src/tools/explore/op.js';

/** Search in verify mode and plainly: the same states and outcomes, nothing violated but `violated`. */
function verified(yaml: string, violated: string[] = []): void {
  const sc = loadScenario(yaml, 'journal.yaml');
  const checked = explore(sc, { verify: true, examples: 0 });
  const plain = explore(sc, { examples: 0 });
  expect(checked.truncated).toBe(false);
  expect(checked.states).toBe(plain.states);
  expect(checked.ends.map((e) => e.pages.join('|')).sort()).toEqual(plain.ends.map((e) => e.pages.join('|')).sort());
  expect(checked.violations.map((v) => v.property)).toEqual(violated);
}

describe('gupsim explore: the journal takes back whole steps exactly', () => {
  it('fork with a shared file mapping and anon memory, racing a pin and a store into fresh anon memory', () => {
    verified(`
name: fork-file
machine: { memory: 8MiB }
steps:
  - { op: create_file, as: f, size: 8KiB, fs: disk }
  - { op: mmap, proc: p, as: map, size: 8KiB, type: file, file: f, shared: true }
  - { op: mmap, proc: p, as: buf, size: 8KiB, type: anon }
  - { op: mmap, proc: p, as: fresh, size: 4KiB, type: anon }
  - { op: write, proc: p, region: buf }
  - op: concurrent
    threads:
      dma:
        - { op: pin_user_pages_fast, proc: p, region: buf, pages: 1, flags: [FOLL_WRITE], as: pin }
      fork:
        - { op: fork, proc: p, child: c }
      store:
        - { op: write, proc: p, region: fresh }
  - { op: unpin_user_pages, pins: pin }
  - { op: assert, that: vmstat_balanced }
`);
  });

  it('munmap of half a VMA (a split) racing a pin of the other half and a load', () => {
    verified(`
name: munmap-split
machine: { memory: 8MiB }
steps:
  - { op: mmap, proc: p, as: buf, size: 16KiB, type: anon }
  - { op: write, proc: p, region: buf }
  - op: concurrent
    threads:
      dma:
        - { op: pin_user_pages, proc: p, region: buf, offset: 8KiB, pages: 1, flags: [FOLL_WRITE], as: pin }
      unmap:
        - { op: munmap, proc: p, region: buf, length: 8KiB }
      load:
        - { op: read, proc: p, region: buf, offset: 12KiB }
  - { op: write, proc: p, region: buf, offset: 8KiB, pages: 1 }
  - { op: assert, that: pins_mapped, handle: pin, proc: p }
`);
  });

  it('a slow pin faulting a fresh private hugetlb page (its reservation) while the process forks', () => {
    verified(`
name: hugetlb-fresh
machine: { memory: 16MiB, hugetlb: { 2M: 3 } }
steps:
  - { op: mmap, proc: p, as: buf, size: 2MiB, type: hugetlb, hugepage: 2M, shared: false }
  - op: concurrent
    threads:
      dma:
        - { op: pin_user_pages, proc: p, region: buf, pages: 1, flags: [FOLL_WRITE], as: pin }
      fork:
        - { op: fork, proc: p, child: c }
  - { op: write, proc: p, region: buf, pages: 1 }
  - { op: assert, that: pins_mapped, handle: pin, proc: p }
`);
  });

  it('which steps it journals: asserts, accesses to anon and private hugetlb memory, unpins of held pins', () => {
    const sc = loadScenario(
      `
name: classify
machine: { memory: 16MiB, hugetlb: { 2M: 1 } }
steps:
  - { op: create_file, as: f, size: 4KiB, fs: disk }
  - { op: mmap, proc: p, as: anon, size: 4KiB, type: anon }
  - { op: mmap, proc: p, as: file, size: 4KiB, type: file, file: f, shared: true }
  - { op: mmap, proc: p, as: huge, size: 2MiB, type: hugetlb, hugepage: 2M, shared: false }
  - { op: mmap, proc: p, as: shuge, size: 2MiB, type: hugetlb, hugepage: 2M, shared: true }
  - { op: pin_user_pages, proc: p, region: anon, flags: [FOLL_WRITE], as: pin }
`,
      'classify.yaml',
    );
    const ctx = new RunContext(sc);
    sc.steps.forEach((s, i) => runScenarioStep(ctx, s, i, []));
    const safe = (s: object) => journalSafe(ctx, s as Step);
    expect(safe({ op: 'assert', that: 'vmstat_balanced' })).toBe(true);
    expect(safe({ op: 'write', proc: 'p', region: 'anon' })).toBe(true);
    expect(safe({ op: 'read', proc: 'p', region: 'huge' })).toBe(true);
    // A shared mapping's pages are the file's page cache, which the journal does not keep.
    expect(safe({ op: 'write', proc: 'p', region: 'file' })).toBe(false);
    expect(safe({ op: 'write', proc: 'p', region: 'shuge' })).toBe(false);
    // A process not yet made would be made by the step.
    expect(safe({ op: 'write', proc: 'q', region: 'anon' })).toBe(false);
    expect(safe({ op: 'unpin_user_pages', pins: 'pin' })).toBe(true);
    expect(safe({ op: 'unpin_user_pages', pins: 'none' })).toBe(true);
    expect(safe({ op: 'unpin_user_pages', pins: 'pin', count: -22 })).toBe(false);
    expect(safe({ op: 'munmap', proc: 'p', region: 'anon' })).toBe(false);
    // A released entry: a second unpin is misuse, which gupsim records outside the journal's state.
    runScenarioStep(ctx, { op: 'unpin_user_pages', pins: 'pin' } as Step, sc.steps.length, []);
    expect(safe({ op: 'unpin_user_pages', pins: 'pin' })).toBe(false);
    // An MMU notifier may do anything.
    ctx.m.notifiers.add(() => undefined);
    expect(safe({ op: 'write', proc: 'p', region: 'anon' })).toBe(false);
  });

  it('fault injection (fail_alloc) counting the allocations of faults in threads and after the block', () => {
    verified(`
name: fail-alloc
machine: { memory: 16MiB, thp: never }
steps:
  - { op: mmap, proc: p, as: buf, size: 16KiB, type: anon }
  - { op: fail_alloc, after: 2, times: 1 }
  - op: concurrent
    threads:
      a:
        - { op: write, proc: p, region: buf, pages: 1 }
      b:
        - { op: write, proc: p, region: buf, offset: 4KiB, pages: 1 }
      c:
        - { op: pin_user_pages, proc: p, region: buf, offset: 8KiB, pages: 1, flags: [FOLL_WRITE], as: pin }
  - { op: write, proc: p, region: buf, offset: 12KiB, pages: 1 }
`);
  });

  it('mTHP faults of two orders (the per-order counters, an order counted for the first time)', () => {
    verified(`
name: mthp
machine: { memory: 32MiB, thp: never, mthp: { 64K: always, 16K: always } }
steps:
  - { op: mmap, proc: p, as: buf, size: 128KiB, type: anon }
  - op: concurrent
    threads:
      a:
        - { op: write, proc: p, region: buf, pages: 1 }
      b:
        - { op: read, proc: p, region: buf, offset: 64KiB, pages: 1 }
      c:
        - { op: pin_user_pages, proc: p, region: buf, offset: 16KiB, pages: 1, flags: [FOLL_WRITE], as: pin }
  - { op: unpin_user_pages, pins: pin }
  - { op: write, proc: p, region: buf, offset: 96KiB, pages: 1 }
`);
  });

  it("munmap's end with an HMM mirror registered (its MMU notifier's invalidation) racing a pin", () => {
    verified(`
name: hmm-munmap
machine: { memory: 16MiB, thp: never }
steps:
  - { op: mmap, proc: p, as: buf, size: 16KiB, type: anon }
  - { op: write, proc: p, region: buf }
  - { op: hmm_range_fault, proc: p, region: buf, as: mir }
  - op: concurrent
    threads:
      m:
        - { op: munmap, proc: p, region: buf, offset: 8KiB }
      g:
        - { op: pin_user_pages, proc: p, region: buf, pages: 1, flags: [FOLL_WRITE], as: pin }
  - { op: unpin_user_pages, pins: pin }
`);
  });

  it('a munmap by a fork child racing the fork: the munmap may make the process first (ctx.proc())', () => {
    verified(`
name: munmap-unborn
machine: { memory: 16MiB, thp: never }
steps:
  - { op: mmap, proc: p, as: buf, size: 16KiB, type: anon }
  - op: concurrent
    threads:
      fork:
        - { op: fork, proc: p, child: c }
      t:
        - { op: write, proc: p, region: buf, offset: 8KiB, pages: 1 }
        - { op: munmap, proc: c, region: buf, length: 8KiB }
  - { op: pin_user_pages, proc: c, region: buf, offset: 8KiB, pages: 1, flags: [FOLL_WRITE], as: pin }
`);
  });

  it('migrate_pages by a fork child racing the fork: its first point may make the process', () => {
    verified(`
name: migrate-unborn
machine: { memory: 16MiB, thp: never }
steps:
  - { op: mmap, proc: p, as: buf, size: 8KiB, type: anon }
  - { op: write, proc: p, region: buf }
  - op: concurrent
    threads:
      fork:
        - { op: fork, proc: p, child: c }
      move:
        - { op: migrate_pages, proc: c, region: buf }
      store:
        - { op: write, proc: p, region: buf, pages: 1 }
  - { op: write, proc: c, region: buf }
`);
  });

  it("a snapshot reused at a depth after the allocator cached a zone list (a cache: verify's compare skips it)", () => {
    verified(`
name: zonelist-cache
machine: { memory: 32MiB, thp: never }
steps:
  - { op: mmap, proc: p, as: r0, size: 16KiB, type: anon }
  - { op: mmap, proc: p, as: r1, size: 16KiB, type: anon }
  - { op: write, proc: p, region: r0, pages: 2 }
  - { op: fork, proc: p, child: k }
  - { op: pin_user_pages, proc: p, region: r0, pages: 1, flags: [FOLL_WRITE], as: pre }
  - op: concurrent
    threads:
      t0:
        - { op: write, proc: c, region: r0, pages: 2 }
      t1:
        - { op: pin_user_pages, proc: k, region: r1, offset: 4KiB, pages: 1, flags: [FOLL_WRITE, FOLL_LONGTERM], as: pin }
      t2:
        - { op: read, proc: c, region: r1, offset: 8KiB, pages: 1 }
        - { op: munmap, proc: p, region: r1, offset: 4KiB, length: 4KiB }
`);
  });

  it("the child's own access waits for fork's copy (dup_mmap() holds the new mm's mmap_lock for write)", () => {
    // Before, the child's read ran between copy points: a huge zero PMD in the child where the copy of a
    // split pinned THP wanted a PTE table (a TypeError in copy_present_ptes()).
    verified(`
name: child-reads-mid-fork
machine: { memory: 32MiB, thp: always }
steps:
  - { op: mmap, proc: p, as: buf, size: 2MiB, type: anon }
  - { op: write, proc: p, region: buf, pages: 2 }
  - { op: pin_user_pages, proc: p, region: buf, pages: 1, flags: [FOLL_WRITE], as: pin }
  - op: concurrent
    threads:
      child:
        - { op: read, proc: c, region: buf, pages: 1 }
      fork:
        - { op: fork, proc: p, child: c }
  - { op: unpin_user_pages, pins: pin }
  - { op: write, proc: c, region: buf, offset: 8KiB, pages: 1 }
`);
  });
});
