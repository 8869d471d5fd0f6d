// The race explorer (issue 14): each race example states its expected outcomes in a table at its top (end
// states and violated properties with Linux 6.18's protections and with each protection that matters
// switched off); the explorer must give exactly that. Then the worked races, step by step. Bounded runs.
import { describe, it, expect } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadScenario } from '../src/scenario/load.js';
import { runScenario } from '../src/scenario/run.js';
import { explore } from '../src/tools/explore/explorer.js';
import { protectionByFlag, type ProtectionName } from '../src/mm/protections.js';

const dir = join(import.meta.dirname, '..', 'examples');
const text = (f: string) => readFileSync(join(dir, f), 'utf8');
const load = (f: string) => loadScenario(text(f), f);
const MAX = 200_000;

interface Row {
  without: ProtectionName[];
  label: string;
  ends: number;
  violated: string[];
}

/** The expected-outcomes table at the top of a race example. */
function table(f: string): Row[] {
  const rows: Row[] = [];
  for (const line of text(f).split('\n')) {
    const row = /^#   (all on|--without (\S+))\s+(\d+) end states, (no violation|violated:)$/.exec(line);
    if (row) {
      const flag = row[2];
      const key = flag === undefined ? undefined : protectionByFlag(flag)?.key;
      if (flag !== undefined && !key) throw new Error(`${f}: unknown protection ${flag}`);
      rows.push({ without: key ? [key] : [], label: row[1]!, ends: Number(row[3]), violated: [] });
      continue;
    }
    const v = /^# {7}(\S.*)$/.exec(line);
    if (v && rows.length) rows[rows.length - 1]!.violated.push(v[1]!);
    if (!line.startsWith('#')) break;
  }
  return rows;
}

const RACES = readdirSync(dir).filter((f) => f.startsWith('race-') && f.endsWith('.yaml'));

describe('gupsim explore: the race examples give their expected outcomes', () => {
  it('every race example has a table, with a row for all protections on', () => {
    expect(RACES.length).toBeGreaterThanOrEqual(5);
    for (const f of RACES) expect(table(f)[0]?.label, f).toBe('all on');
  });
  for (const f of RACES)
    for (const row of table(f))
      it(`${f}, ${row.label}: ${row.ends} end states, ${row.violated.join('; ') || 'no violation'}`, () => {
        const r = explore(load(f), { maxStates: MAX, without: row.without, examples: 0 });
        expect(r.truncated).toBe(false);
        expect(r.violations.map((v) => v.property).sort()).toEqual([...row.violated].sort());
        expect(r.ends.length).toBe(row.ends);
        expect(r.ends.reduce((t, e) => t + e.interleavings, 0)).toBe(r.interleavings);
        for (const v of r.violations) {
          // The interleaving interleaves: more than one thread acts before the end.
          expect(new Set(v.trace.filter((t) => t.thread !== '-').map((t) => t.thread)).size).toBeGreaterThan(1);
          expect(v.trace.every((t) => t.pages !== undefined)).toBe(true);
        }
      });
});

describe('gupsim explore: the worked races', () => {
  it('the fork race: GUP-fast grabs between the decision to share and the write-protect', () => {
    const r = explore(load('race-fork-gup-fast.yaml'), { without: ['writeProtectSeq'] });
    const fns = r.violations[0]!.trace.map((t) => `${t.thread}:${t.fn}`);
    const share = fns.indexOf('fork:folio_try_dup_anon_rmap_pte');
    const grab = fns.indexOf('dma:try_grab_folio_fast');
    const recheck = fns.lastIndexOf('dma:gup_fast_pte_range');
    const wp = fns.indexOf('fork:ptep_set_wrprotect');
    expect(share).toBeGreaterThanOrEqual(0);
    expect(share < grab && grab < recheck && recheck < wp).toBe(true);
  });

  it('the hugetlb fork race: the same window in copy_hugetlb_page_range()', () => {
    const r = explore(load('race-fork-hugetlb.yaml'), { without: ['writeProtectSeq'] });
    const fns = r.violations[0]!.trace.map((t) => `${t.thread}:${t.fn}`);
    const share = fns.indexOf('fork:copy_hugetlb_page_range', fns.indexOf('fork:copy_hugetlb_page_range') + 1);
    const grab = fns.indexOf('dma:try_grab_folio_fast');
    const wp = fns.indexOf('fork:huge_ptep_set_wrprotect');
    expect(share < grab && grab < wp).toBe(true);
  });

  it('the THP race: a failed re-check after fork split the PMD drops the pin mid-copy (real outcomes)', () => {
    const r = explore(load('race-fork-thp.yaml'), { examples: 0 });
    // The child got some subpages as copies (made while the pin was held) and shares the rest.
    const mixed = r.ends.filter((e) =>
      e.pages.some((l) => /^child buf\[0\.\.\d+\]: frames .* rw/.test(l) || /^child buf\[\d+\.\.511\]: .* ro/.test(l)),
    );
    expect(mixed.length).toBeGreaterThan(100);
  });

  it('migration of a pinned page fails and restores it (every interleaving keeps the pin on the mapped page)', () => {
    const r = explore(load('race-migrate-pin.yaml'));
    expect(r.violations).toEqual([]);
    expect(r.ends.some((e) => e.returns.some((x) => /migrate_pages = -11/.test(x)))).toBe(true);
    expect(r.ends.some((e) => e.returns.some((x) => /migrate_pages = 0$/.test(x)))).toBe(true);
  });

  it('an end state shows a region in its owner and its forked children only, without LRU-batch references', () => {
    const r = explore(load('race-munmap-gup-fast.yaml'), { examples: 0 });
    // app's buf is unmapped in every end state; other's fresh is at the same address, but it is not buf.
    for (const e of r.ends) expect(e.pages.filter((l) => /buf/.test(l))).toEqual([]);
    // Whether munmap's lru_add_drain() ran after other's fault (which left its page in the batch) is not an outcome.
    expect(r.ends.every((e) => e.pages.every((l) => l.includes('folio refcount 1')))).toBe(true);
  });

  it('a private hugetlb COW waits while a fork holds a page-table lock (unmap_ref_private() takes them)', () => {
    // p owns the only pool page; its store after c forked must unmap the page from both children. Between
    // fork's decision for g's entry and its mapping, c's lock is held: a store run there found the page
    // still shared after unmap_ref_private() (a gupsim bug thrown), an order the kernel never runs.
    const sc = loadScenario(
      `
name: hugetlb-cow-fork
machine: { memory: 16MiB, hugetlb: { 2M: 1 } }
steps:
  - { op: mmap, proc: p, as: buf, size: 2MiB, type: hugetlb, hugepage: 2M, shared: false }
  - { op: write, proc: p, region: buf, pages: 1 }
  - { op: fork, proc: p, child: c }
  - op: concurrent
    threads:
      fork:
        - { op: fork, proc: c, child: g }
      store:
        - { op: write, proc: p, region: buf, pages: 1 }
`,
      'hugetlb-cow-fork.yaml',
    );
    const r = explore(sc, { examples: 0 });
    expect(r.violations).toEqual([]);
    // A store after g's fork takes the page back: both children lose it.
    expect(r.ends.some((e) => e.pages.some((l) => /^g buf.*not mapped/.test(l)))).toBe(true);
    expect(explore(sc, { examples: 0, verify: true }).states).toBe(r.states);
  });

  it("a store to a region whose mmap failed, while a fork holds a page-table lock, is the runner's -EFAULT", () => {
    // r2's mmap finds no huge page to reserve (-ENOMEM): the region was never made. Whether a store waits for
    // a fork's lock (a private hugetlb COW) asked for its range and threw; now the runner answers the store.
    const sc = loadScenario(
      `
name: store-to-failed-mmap
machine: { memory: 16MiB, thp: never, hugetlb: { 2M: 1 } }
steps:
  - { op: mmap, proc: p0, as: r0, size: 2MiB, type: hugetlb, hugepage: 2M, shared: false }
  - { op: mmap, proc: p1, as: r2, size: 2MiB, type: hugetlb, hugepage: 2M, shared: false }
  - op: concurrent
    threads:
      t0:
        - { op: write, proc: p0, region: r0, pages: 1 }
        - { op: write, proc: p1, region: r2, pages: 1 }
      t1:
        - { op: fork, proc: p0, child: c0 }
        - { op: write, proc: p0, region: r0, pages: 1 }
`,
      'store-to-failed-mmap.yaml',
    );
    const r = explore(sc, { examples: 0 });
    expect(r.violations).toEqual([]);
    expect(r.ends.length).toBeGreaterThan(0);
    for (const e of r.ends) expect(e.returns).toContain('t0.1 write = -14');
    expect(explore(sc, { examples: 0, verify: true }).states).toBe(r.states);
  });

  it('--max-states bounds the search and says so', () => {
    const r = explore(load('race-munmap-gup-fast.yaml'), { maxStates: 10 });
    expect(r.truncated).toBe(true);
    expect(r.states).toBe(10);
  });

  it('several concurrent blocks run in order: the race of the second block is explored too', () => {
    const sc = loadScenario(
      `
name: two-blocks
machine: { memory: 8MiB }
steps:
  - { op: mmap, proc: parent, as: buf, size: 4KiB, type: anon }
  - { op: mmap, proc: parent, as: other, size: 4KiB, type: anon }
  - op: concurrent
    threads:
      a: [{ op: write, proc: parent, region: buf }]
      b: [{ op: write, proc: parent, region: other }]
  - { op: write, proc: parent, region: buf }
  - op: concurrent
    threads:
      dma: [{ op: pin_user_pages_fast, proc: parent, region: buf, flags: [FOLL_WRITE], as: pin }]
      fork: [{ op: fork, proc: parent, child: child }]
  - { op: write, proc: parent, region: buf }
  - { op: assert, that: pins_mapped, handle: pin, proc: parent, says: the device's frame is the parent's }
`,
      'two-blocks.yaml',
    );
    const on = explore(sc, { examples: 1 });
    expect(on.violations).toEqual([]);
    for (const e of on.ends) expect(e.returns).toEqual(expect.arrayContaining(['-.3 write = 0', 'fork/2.0 fork = 0']));
    // Every interleaving runs block 1's threads, then the step between, then block 2's threads.
    const order = on.ends[0]!.example.map((t) => t.thread);
    const between = order.indexOf('-');
    expect(order.slice(0, between).sort()).toEqual(['a', 'b']);
    expect(new Set(order.slice(between + 1).filter((t) => t !== '-'))).toEqual(new Set(['dma/2', 'fork/2']));
    const off = explore(sc, { without: ['writeProtectSeq'], examples: 0 });
    expect(off.violations.map((v) => v.property)).toEqual(["the device's frame is the parent's"]);
    // The same outcomes without the reduction, and a journal that goes back exactly across the blocks.
    const full = explore(sc, { without: ['writeProtectSeq'], examples: 0, reduction: false, verify: true });
    expect(full.ends.map((e) => e.returns.join() + e.pages.join()).sort()).toEqual(
      off.ends.map((e) => e.returns.join() + e.pages.join()).sort(),
    );
    expect(full.violations.map((v) => [v.property, v.trace.length])).toEqual(
      off.violations.map((v) => [v.property, v.trace.length]),
    );
  });

  it('gupsim run runs a concurrent block thread after thread, asserts included', () => {
    const res = runScenario(load('race-fork-gup-fast.yaml'));
    expect(res.ok).toBe(true);
    expect(res.steps.find((s) => s.op === 'concurrent')?.threads).toBeDefined();
  });
});
