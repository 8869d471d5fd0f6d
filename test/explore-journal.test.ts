// The race explorer's journal on the whole steps and structural points it takes back without a snapshot of
// the machine's object graph (issue 14's speed): fork's start, munmap's end (a split VMA included), a first
// fault's new anon_vma, a private hugetlb fault's reservation, loads, stores, asserts and unpins in a thread
// and after a block; and the edge cases around them (mlock, THP and huge zero PMDs, hugetlb COW and surplus
// pages, migration, fault injection, mTHP counters, MMU notifiers, processes a step makes on first use).
// Each search runs in verify mode, where every step back is compared with a full snapshot and every state
// hash part with one computed afresh: a miss throws.
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
    // A released entry: a second unpin is misuse, whose account gupsim builds from the handle's history: it
    // runs under a snapshot.
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
        - op: pin_user_pages
          proc: k
          region: r1
          offset: 4KiB
          pages: 1
          flags: [FOLL_WRITE, FOLL_LONGTERM]
          as: pin
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

  it("munmap's end of an mlocked (VM_LOCKED) VMA racing a slow pin of it", () => {
    verified(`
name: mlock-munmap
machine: { memory: 16MiB, thp: never }
steps:
  - { op: mmap, proc: p, as: buf, size: 16KiB, type: anon }
  - { op: mlock, proc: p, region: buf }
  - op: concurrent
    threads:
      dma:
        - { op: pin_user_pages, proc: p, region: buf, pages: 2, flags: [FOLL_WRITE], as: pin }
      unmap:
        - { op: munmap, proc: p, region: buf }
  - { op: unpin_user_pages, pins: pin }
  - { op: assert, that: vmstat_balanced }
`);
  });

  it('munmap of the middle of a VMA (two splits) racing GUP-fast and a store', () => {
    verified(`
name: mid-split
machine: { memory: 16MiB, thp: never }
steps:
  - { op: mmap, proc: p, as: buf, size: 16KiB, type: anon }
  - { op: write, proc: p, region: buf }
  - op: concurrent
    threads:
      dma:
        - { op: pin_user_pages_fast, proc: p, region: buf, offset: 4KiB, pages: 2, flags: [FOLL_WRITE], as: pin }
      unmap:
        - { op: munmap, proc: p, region: buf, offset: 4KiB, length: 8KiB }
      store:
        - { op: write, proc: p, region: buf, offset: 12KiB, pages: 1 }
  - { op: unpin_user_pages, pins: pin }
  - { op: write, proc: p, region: buf, pages: 1 }
`);
  });

  it('munmap of the middle of an mlocked VMA racing get_user_pages across the hole', () => {
    verified(`
name: mlock-mid
machine: { memory: 16MiB, thp: never }
steps:
  - { op: mmap, proc: p, as: buf, size: 16KiB, type: anon }
  - { op: mlock, proc: p, region: buf }
  - op: concurrent
    threads:
      unmap:
        - { op: munmap, proc: p, region: buf, offset: 4KiB, length: 4KiB }
      dma:
        - { op: get_user_pages, proc: p, region: buf, offset: 4KiB, pages: 2, as: g }
  - { op: put_page, pins: g }
  - { op: assert, that: vmstat_balanced }
`);
  });

  it('munmap of a private hugetlb VMA (structural) racing a pin that faults it', () => {
    verified(`
name: hugetlb-munmap
machine: { memory: 16MiB, hugetlb: { 2M: 2 } }
steps:
  - { op: mmap, proc: p, as: buf, size: 2MiB, type: hugetlb, hugepage: 2M, shared: false }
  - op: concurrent
    threads:
      dma:
        - { op: pin_user_pages, proc: p, region: buf, pages: 1, flags: [FOLL_WRITE], as: pin }
      unmap:
        - { op: munmap, proc: p, region: buf }
  - { op: unpin_user_pages, pins: pin }
`);
  });

  it('fork of mlocked memory, an unfaulted anon VMA and a private hugetlb page, racing a store and GUP-fast', () => {
    verified(`
name: fork-mix
machine: { memory: 16MiB, hugetlb: { 2M: 2 } }
steps:
  - { op: mmap, proc: p, as: lk, size: 8KiB, type: anon }
  - { op: mlock, proc: p, region: lk }
  - { op: mmap, proc: p, as: bare, size: 8KiB, type: anon }
  - { op: mmap, proc: p, as: h, size: 2MiB, type: hugetlb, hugepage: 2M, shared: false }
  - { op: write, proc: p, region: h, pages: 1 }
  - op: concurrent
    threads:
      fork:
        - { op: fork, proc: p, child: c }
      store:
        - { op: write, proc: p, region: bare, pages: 1 }
      dma:
        - { op: pin_user_pages_fast, proc: p, region: lk, pages: 1, flags: [FOLL_WRITE], as: pin }
  - { op: write, proc: c, region: bare }
  - { op: write, proc: c, region: h, pages: 1 }
  - { op: write, proc: p, region: h, pages: 1 }
  - { op: unpin_user_pages, pins: pin }
`);
  });

  it('fork of a private file mapping with COWed anon pages racing a pin', () => {
    verified(`
name: fork-fileprivate
machine: { memory: 16MiB, thp: never }
steps:
  - { op: create_file, as: f, size: 16KiB, fs: disk }
  - { op: mmap, proc: p, as: map, size: 16KiB, type: file, file: f, shared: false }
  - { op: read, proc: p, region: map }
  - { op: write, proc: p, region: map, pages: 2 }
  - op: concurrent
    threads:
      fork:
        - { op: fork, proc: p, child: c }
      dma:
        - { op: pin_user_pages, proc: p, region: map, pages: 1, flags: [FOLL_WRITE], as: pin }
  - { op: unpin_user_pages, pins: pin }
  - { op: write, proc: c, region: map, pages: 1 }
`);
  });

  it('stores COWing a shared page whose old folio is freed by the last one', () => {
    verified(`
name: cow-free
machine: { memory: 16MiB, thp: never }
steps:
  - { op: mmap, proc: p, as: buf, size: 8KiB, type: anon }
  - { op: write, proc: p, region: buf }
  - { op: fork, proc: p, child: c }
  - op: concurrent
    threads:
      a:
        - { op: write, proc: p, region: buf, pages: 1 }
      b:
        - { op: write, proc: c, region: buf, pages: 1 }
      g:
        - { op: get_user_pages_fast, proc: c, region: buf, pages: 1, as: g }
  - { op: exit, proc: c }
  - { op: put_page, pins: g }
  - { op: write, proc: p, region: buf }
`);
  });

  it('THP faults: a huge zero page read then a store, another THP store, GUP-fast', () => {
    verified(`
name: thp
machine: { memory: 32MiB, thp: always }
steps:
  - { op: mmap, proc: p, as: buf, size: 4MiB, type: anon }
  - op: concurrent
    threads:
      r:
        - { op: read, proc: p, region: buf, length: 4KiB }
        - { op: write, proc: p, region: buf, length: 4KiB }
      w:
        - { op: write, proc: p, region: buf, offset: 2MiB, length: 4KiB }
      g:
        - { op: pin_user_pages_fast, proc: p, region: buf, pages: 1, as: pin }
  - { op: unpin_user_pages, pins: pin }
  - { op: write, proc: p, region: buf, length: 8KiB }
`);
  });

  it('fork sharing a THP racing a store into it; stores after split the PMD', () => {
    verified(`
name: thp-fork
machine: { memory: 32MiB, thp: always }
steps:
  - { op: mmap, proc: p, as: buf, size: 2MiB, type: anon }
  - { op: write, proc: p, region: buf, length: 4KiB }
  - op: concurrent
    threads:
      f:
        - { op: fork, proc: p, child: c }
      w:
        - { op: write, proc: p, region: buf, offset: 4KiB, length: 4KiB }
  - { op: write, proc: c, region: buf, length: 4KiB }
  - { op: write, proc: p, region: buf, length: 4KiB }
`);
  });

  it('unpin of a FOLL_LONGTERM pin (its folio migrated out of ZONE_MOVABLE) racing a store and munmap', () => {
    verified(`
name: longterm
machine: { memory: 64MiB, movable: 32MiB, thp: never }
steps:
  - { op: mmap, proc: p, as: buf, size: 8KiB, type: anon }
  - { op: write, proc: p, region: buf }
  - { op: pin_user_pages, proc: p, region: buf, flags: [FOLL_WRITE, FOLL_LONGTERM], as: pin }
  - op: concurrent
    threads:
      u:
        - { op: unpin_user_pages, pins: pin }
      w:
        - { op: write, proc: p, region: buf, pages: 1 }
      m:
        - { op: munmap, proc: p, region: buf }
`);
  });

  it('a FOLL_LONGTERM pin migrating in a thread, then its unpin, racing a store', () => {
    verified(`
name: longterm2
machine: { memory: 64MiB, movable: 32MiB, thp: never }
steps:
  - { op: mmap, proc: p, as: buf, size: 8KiB, type: anon }
  - { op: write, proc: p, region: buf }
  - op: concurrent
    threads:
      d:
        - { op: pin_user_pages, proc: p, region: buf, pages: 1, flags: [FOLL_WRITE, FOLL_LONGTERM], as: pin }
        - { op: unpin_user_pages, pins: pin }
      w:
        - { op: write, proc: p, region: buf, pages: 1 }
  - { op: write, proc: p, region: buf }
`);
  });

  it('an unpin dropping the last reference of a page munmap unmapped', () => {
    verified(`
name: unpin-last
machine: { memory: 16MiB, thp: never }
steps:
  - { op: mmap, proc: p, as: buf, size: 8KiB, type: anon }
  - { op: write, proc: p, region: buf }
  - { op: pin_user_pages, proc: p, region: buf, flags: [FOLL_WRITE], as: pin }
  - op: concurrent
    threads:
      m:
        - { op: munmap, proc: p, region: buf }
      u:
        - { op: unpin_user_pages, pins: pin, count: 1 }
  - { op: unpin_user_pages, pins: pin, index: 1 }
  - { op: assert, that: vmstat_balanced }
`);
  });

  it('a double unpin after the block (misuse records and taint taken back)', () => {
    verified(`
name: double-unpin
machine: { memory: 16MiB, thp: never }
steps:
  - { op: mmap, proc: p, as: buf, size: 8KiB, type: anon }
  - { op: write, proc: p, region: buf }
  - op: concurrent
    threads:
      d:
        - { op: pin_user_pages, proc: p, region: buf, flags: [FOLL_WRITE], as: pin }
      w:
        - { op: write, proc: p, region: buf, pages: 1 }
  - { op: unpin_user_pages, pins: pin }
  - { op: unpin_user_pages, pins: pin }
  - { op: write, proc: p, region: buf }
`);
  });

  it('two blocks, each with a fork (the second forks the first child)', () => {
    verified(`
name: two-forks
machine: { memory: 16MiB, thp: never }
steps:
  - { op: mmap, proc: p, as: buf, size: 8KiB, type: anon }
  - { op: mmap, proc: p, as: bare, size: 8KiB, type: anon }
  - { op: write, proc: p, region: buf }
  - op: concurrent
    threads:
      f:
        - { op: fork, proc: p, child: c }
      w:
        - { op: write, proc: p, region: bare, pages: 1 }
  - op: concurrent
    threads:
      f:
        - { op: fork, proc: c, child: d }
      w:
        - { op: write, proc: c, region: buf, pages: 1 }
      x:
        - { op: write, proc: p, region: bare, offset: 4KiB, pages: 1 }
  - { op: write, proc: d, region: bare }
`);
  });

  it("fork, the child's store and its exit in one thread, racing the parent's store and GUP-fast", () => {
    verified(`
name: fork-exit
machine: { memory: 16MiB, thp: never }
steps:
  - { op: mmap, proc: p, as: buf, size: 8KiB, type: anon }
  - { op: write, proc: p, region: buf }
  - op: concurrent
    threads:
      f:
        - { op: fork, proc: p, child: c }
        - { op: write, proc: c, region: buf, pages: 1 }
        - { op: exit, proc: c }
      w:
        - { op: write, proc: p, region: buf, pages: 1 }
      g:
        - { op: pin_user_pages_fast, proc: p, region: buf, pages: 1, flags: [FOLL_WRITE], as: pin }
  - { op: unpin_user_pages, pins: pin }
`);
  });

  it('mremap (structural) racing a store and a pin of the moved range', () => {
    verified(`
name: mremap
machine: { memory: 16MiB, thp: never }
steps:
  - { op: mmap, proc: p, as: buf, size: 8KiB, type: anon }
  - { op: mmap, proc: p, as: dst, size: 8KiB, type: anon }
  - { op: write, proc: p, region: buf }
  - op: concurrent
    threads:
      m:
        - { op: mremap, proc: p, region: buf, new_size: 8KiB, fixed: dst }
      w:
        - { op: write, proc: p, region: buf, pages: 1 }
      g:
        - { op: pin_user_pages, proc: p, region: buf, pages: 1, flags: [FOLL_WRITE], as: pin }
  - { op: unpin_user_pages, pins: pin }
  - { op: write, proc: p, region: dst }
`);
  });

  it("the hugetlb owner's COW with an empty pool unmapping the child (unmap_ref_private())", () => {
    verified(`
name: hugetlb-owner
machine: { memory: 16MiB, hugetlb: { 2M: 1 } }
steps:
  - { op: mmap, proc: p, as: buf, size: 2MiB, type: hugetlb, hugepage: 2M, shared: false }
  - { op: write, proc: p, region: buf, pages: 1 }
  - { op: fork, proc: p, child: c }
  - op: concurrent
    threads:
      a:
        - { op: write, proc: p, region: buf, pages: 1 }
      b:
        - { op: read, proc: c, region: buf, pages: 1 }
      g:
        - { op: get_user_pages_fast, proc: c, region: buf, pages: 1, as: g }
  - { op: read, proc: c, region: buf, pages: 1 }
  - { op: put_page, pins: g }
`);
  });

  it('munmap across two VMAs (one mlocked) with a partial VMA at each end', () => {
    verified(`
name: two-vma-munmap
machine: { memory: 16MiB, thp: never }
steps:
  - { op: mmap, proc: p, as: buf, size: 32KiB, type: anon }
  - { op: write, proc: p, region: buf, pages: 2 }
  - { op: mlock, proc: p, region: buf, offset: 16KiB }
  - op: concurrent
    threads:
      m:
        - { op: munmap, proc: p, region: buf, offset: 4KiB, length: 20KiB }
      g:
        - { op: pin_user_pages, proc: p, region: buf, offset: 12KiB, pages: 3, flags: [FOLL_WRITE], as: pin }
      w:
        - { op: write, proc: p, region: buf, offset: 24KiB, pages: 1 }
  - { op: unpin_user_pages, pins: pin }
  - { op: write, proc: p, region: buf, pages: 1 }
`);
  });

  it('two munmaps racing fork', () => {
    verified(`
name: munmap-fork
machine: { memory: 16MiB, thp: never }
steps:
  - { op: mmap, proc: p, as: buf, size: 16KiB, type: anon }
  - { op: mmap, proc: p, as: bare, size: 8KiB, type: anon }
  - { op: write, proc: p, region: buf }
  - op: concurrent
    threads:
      m:
        - { op: munmap, proc: p, region: buf, offset: 8KiB }
      n:
        - { op: munmap, proc: p, region: bare }
      f:
        - { op: fork, proc: p, child: c }
  - { op: write, proc: c, region: buf, pages: 1 }
`);
  });

  it("the child's munmap racing the parent's store (COW or reuse) and GUP-fast", () => {
    verified(`
name: child-munmap
machine: { memory: 16MiB, thp: never }
steps:
  - { op: mmap, proc: p, as: buf, size: 8KiB, type: anon }
  - { op: write, proc: p, region: buf }
  - { op: fork, proc: p, child: c }
  - op: concurrent
    threads:
      m:
        - { op: munmap, proc: c, region: buf }
      w:
        - { op: write, proc: p, region: buf }
      g:
        - { op: pin_user_pages_fast, proc: p, region: buf, pages: 1, flags: [FOLL_WRITE], as: pin }
  - { op: unpin_user_pages, pins: pin }
`);
  });

  it('an assert naming a process not made yet (ctx.proc() makes it) racing the fork that would', () => {
    verified(`
name: assert-spawn
machine: { memory: 16MiB, thp: never }
steps:
  - { op: mmap, proc: p, as: buf, size: 8KiB, type: anon }
  - { op: write, proc: p, region: buf }
  - op: concurrent
    threads:
      a:
        - { op: assert, that: frames_differ, proc: p, other: c, region: buf }
      f:
        - { op: fork, proc: p, child: c }
      w:
        - { op: write, proc: p, region: buf, pages: 1 }
  - { op: assert, that: frames_differ, proc: p, other: d, region: buf }
  - { op: write, proc: p, region: buf }
`);
  });

  it('faults in an mlock(MLOCK_ONFAULT) VMA racing munmap', () => {
    verified(`
name: onfault
machine: { memory: 16MiB, thp: never }
steps:
  - { op: mmap, proc: p, as: buf, size: 8KiB, type: anon }
  - { op: mlock, proc: p, region: buf, onfault: true }
  - op: concurrent
    threads:
      w:
        - { op: write, proc: p, region: buf, pages: 1 }
      g:
        - { op: pin_user_pages, proc: p, region: buf, offset: 4KiB, pages: 1, flags: [FOLL_WRITE], as: pin }
      m:
        - { op: munmap, proc: p, region: buf }
  - { op: unpin_user_pages, pins: pin }
`);
  });

  it('surplus hugetlb pages (overcommit) faulted, pinned and freed, racing fork', () => {
    verified(`
name: surplus
machine: { memory: 16MiB, hugetlb: { 2M: 0 }, hugetlb_overcommit: { 2M: 2 } }
steps:
  - { op: mmap, proc: p, as: buf, size: 4MiB, type: hugetlb, hugepage: 2M, shared: false }
  - op: concurrent
    threads:
      w:
        - { op: read, proc: p, region: buf, pages: 1 }
      g:
        - { op: pin_user_pages, proc: p, region: buf, offset: 2MiB, pages: 1, flags: [FOLL_WRITE], as: pin }
        - { op: unpin_user_pages, pins: pin }
      f:
        - { op: fork, proc: p, child: c }
  - { op: write, proc: c, region: buf, pages: 1 }
  - { op: exit, proc: c }
  - { op: write, proc: p, region: buf }
`);
  });

  it('a pinned private hugetlb page copied early by fork (copy_hugetlb_page_range())', () => {
    verified(`
name: hugetlb-pinned-fork
machine: { memory: 16MiB, hugetlb: { 2M: 3 } }
steps:
  - { op: mmap, proc: p, as: buf, size: 2MiB, type: hugetlb, hugepage: 2M, shared: false }
  - { op: write, proc: p, region: buf, pages: 1 }
  - op: concurrent
    threads:
      g:
        - { op: pin_user_pages, proc: p, region: buf, pages: 1, flags: [FOLL_WRITE, FOLL_LONGTERM], as: pin }
      f:
        - { op: fork, proc: p, child: c }
      w:
        - { op: write, proc: p, region: buf, pages: 1 }
  - { op: write, proc: c, region: buf, pages: 1 }
  - { op: unpin_user_pages, pins: pin }
  - { op: read, proc: c, region: buf, pages: 1 }
`);
  });

  it("a pinned THP split by fork's copy (copy_huge_pmd()) racing a load", () => {
    verified(`
name: thp-pinned-fork
machine: { memory: 32MiB, thp: always }
steps:
  - { op: mmap, proc: p, as: buf, size: 2MiB, type: anon }
  - { op: write, proc: p, region: buf, pages: 1 }
  - { op: pin_user_pages, proc: p, region: buf, pages: 1, flags: [FOLL_WRITE], as: pin }
  - op: concurrent
    threads:
      f:
        - { op: fork, proc: p, child: c }
      l:
        - { op: read, proc: p, region: buf, offset: 8KiB, pages: 1 }
  - { op: unpin_user_pages, pins: pin }
  - { op: write, proc: c, region: buf, pages: 1 }
`);
  });

  it('munmap of part of a THP (its PMD split) racing GUP-fast and a store', () => {
    verified(`
name: thp-munmap-part
machine: { memory: 32MiB, thp: always }
steps:
  - { op: mmap, proc: p, as: buf, size: 2MiB, type: anon }
  - { op: write, proc: p, region: buf, pages: 1 }
  - op: concurrent
    threads:
      m:
        - { op: munmap, proc: p, region: buf, offset: 4KiB, length: 8KiB }
      g:
        - { op: pin_user_pages_fast, proc: p, region: buf, offset: 12KiB, pages: 1, flags: [FOLL_WRITE], as: pin }
      w:
        - { op: write, proc: p, region: buf, offset: 16KiB, pages: 1 }
  - { op: unpin_user_pages, pins: pin }
  - { op: write, proc: p, region: buf, pages: 1 }
`);
  });

  it("a fork reusing an exited child's name, with a VM_DONTCOPY VMA and a huge zero PMD", () => {
    verified(`
name: refork
machine: { memory: 32MiB, thp: always }
steps:
  - { op: mmap, proc: p, as: buf, size: 8KiB, type: anon }
  - { op: mmap, proc: p, as: nf, size: 8KiB, type: anon }
  - { op: madvise, proc: p, region: nf, advice: dontfork }
  - { op: mmap, proc: p, as: big, size: 2MiB, type: anon }
  - { op: read, proc: p, region: big, pages: 1 }
  - { op: write, proc: p, region: buf }
  - { op: write, proc: p, region: nf }
  - { op: fork, proc: p, child: c }
  - { op: exit, proc: c }
  - op: concurrent
    threads:
      f:
        - { op: fork, proc: p, child: c }
      w:
        - { op: write, proc: p, region: buf, pages: 1 }
      z:
        - { op: write, proc: p, region: big, offset: 1MiB, pages: 1 }
  - { op: write, proc: c, region: buf, pages: 1 }
  - { op: read, proc: c, region: big, pages: 1 }
`);
  });

  it('munmap of a piece of a VMA sharing its anon_vma with a moved one (mremap), racing fork', () => {
    verified(`
name: mremap-share
machine: { memory: 16MiB, thp: never }
steps:
  - { op: mmap, proc: p, as: buf, size: 16KiB, type: anon }
  - { op: write, proc: p, region: buf }
  - { op: mmap, proc: p, as: dst, size: 8KiB, type: anon }
  - { op: mremap, proc: p, region: buf, new_size: 8KiB, fixed: dst }
  - op: concurrent
    threads:
      m:
        - { op: munmap, proc: p, region: buf, offset: 8KiB, length: 4KiB }
      f:
        - { op: fork, proc: p, child: c }
      w:
        - { op: write, proc: p, region: dst, pages: 1 }
  - { op: write, proc: c, region: dst }
`);
  });

  it('GUP calls that WARN (bad flags) in threads', () => {
    verified(`
name: warns
machine: { memory: 16MiB, thp: never }
steps:
  - { op: mmap, proc: p, as: buf, size: 8KiB, type: anon }
  - { op: write, proc: p, region: buf }
  - op: concurrent
    threads:
      a:
        - { op: get_user_pages, proc: p, region: buf, pages: 1, flags: [FOLL_LONGTERM], as: bad }
      b:
        - { op: get_user_pages_fast, proc: p, region: buf, pages: 1, flags: [FOLL_PIN], as: bad2 }
      c:
        - { op: write, proc: p, region: buf, pages: 1 }
  - { op: write, proc: p, region: buf }
`);
  });

  it("fork of page tables spread over several of the PTE slab's chunks, racing a pin and a store", () => {
    // 17 tables in the parent and 17 in the child: the slab's chunks hold 16 each, so the journal's compares,
    // its shadow of the slab and the state hash's table lanes cross chunks.
    verified(`
name: slab-chunks
machine: { memory: 16MiB, thp: never }
steps:
  - { op: mmap, proc: p, as: buf, size: 34MiB, type: anon, align: 2MiB }
  - { op: write, proc: p, region: buf, offset: 0MiB, pages: 1 }
  - { op: write, proc: p, region: buf, offset: 2MiB, pages: 1 }
  - { op: write, proc: p, region: buf, offset: 4MiB, pages: 1 }
  - { op: write, proc: p, region: buf, offset: 6MiB, pages: 1 }
  - { op: write, proc: p, region: buf, offset: 8MiB, pages: 1 }
  - { op: write, proc: p, region: buf, offset: 10MiB, pages: 1 }
  - { op: write, proc: p, region: buf, offset: 12MiB, pages: 1 }
  - { op: write, proc: p, region: buf, offset: 14MiB, pages: 1 }
  - { op: write, proc: p, region: buf, offset: 16MiB, pages: 1 }
  - { op: write, proc: p, region: buf, offset: 18MiB, pages: 1 }
  - { op: write, proc: p, region: buf, offset: 20MiB, pages: 1 }
  - { op: write, proc: p, region: buf, offset: 22MiB, pages: 1 }
  - { op: write, proc: p, region: buf, offset: 24MiB, pages: 1 }
  - { op: write, proc: p, region: buf, offset: 26MiB, pages: 1 }
  - { op: write, proc: p, region: buf, offset: 28MiB, pages: 1 }
  - { op: write, proc: p, region: buf, offset: 30MiB, pages: 1 }
  - { op: write, proc: p, region: buf, offset: 32MiB, pages: 1 }
  - op: concurrent
    threads:
      dma:
        - { op: pin_user_pages_fast, proc: p, region: buf, offset: 32MiB, pages: 1, flags: [FOLL_WRITE], as: pin }
      fork:
        - { op: fork, proc: p, child: c }
      store:
        - { op: write, proc: p, region: buf, offset: 30MiB, pages: 1 }
  - { op: write, proc: c, region: buf, offset: 32MiB, pages: 1 }
`);
  });
});
