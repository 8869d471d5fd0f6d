// The experiments on --quick: each verdict follows from the experiment's own data (recomputed here from
// its tables, not from its verdict code), the data is the model's behaviour, and a run is the same for
// a seed whatever order its shards run in. The pieces: registry, runner, seeds, plots, markdown, frames.

import { describe, it, expect, beforeAll } from 'vitest';
import { readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { GUP_PIN_COUNTING_BIAS, HPAGE_PMD_NR, PUD_ORDER } from '../../mm/memmap.js';
import { EXPERIMENTS, findExperiment } from './registry.js';
import { assembleReport, planShards, runInProcess, runPlannedShard } from './runner.js';
import { Rng, shardSeed, Zipf } from './rng.js';
import { renderSvg } from './svg.js';
import { maskMeasured, renderMarkdown } from './markdown.js';
import { deviceWriteReaches } from './frames.js';
import { comparisonTable, mergeIdentical } from './report.js';
import { verdictOf as costVerdict } from './cost_by_size.js';
import {
  isMeasured,
  type AnyExperiment,
  type Cell,
  type ExperimentReport,
  type ExperimentRun,
  type Plot,
  type Table,
} from './types.js';
import { COLUMNS, rank, SETUPS, verdictOf as writebackVerdict, type Score } from './writeback.js';

const QUICK = { mode: 'quick' as const, seed: 1 };
let run: ExperimentRun;

beforeAll(() => {
  run = runInProcess(EXPERIMENTS, QUICK);
}, 120_000);

const report = (name: string): ExperimentReport => run.experiments.find((e) => e.name === name)!;
const table = (e: ExperimentReport, i: number): Table => e.tables![i]!;
/** The row of `t` whose first cell is `label`. */
const row = (t: Table, label: string): Cell[] => {
  const r = t.rows.find((x) => x[0] === label);
  if (!r) throw new Error(`no row ${label} in ${t.title}: ${t.rows.map((x) => x[0]).join(', ')}`);
  return r;
};
const num = (c: Cell): number => {
  if (typeof c === 'number') return c;
  if (isMeasured(c) && typeof c.measured === 'number') return c.measured;
  throw new Error(`not a number: ${JSON.stringify(c)}`);
};

describe('the registry', () => {
  it('has experiments 1 to 7 in order, unique names, found by name or number', () => {
    expect(EXPERIMENTS.map((e) => e.number)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(new Set(EXPERIMENTS.map((e) => e.name)).size).toBe(EXPERIMENTS.length);
    for (const e of EXPERIMENTS) {
      expect(findExperiment(e.name)).toBe(e);
      expect(findExperiment(String(e.number))).toBe(e);
      expect(e.claims.length).toBeGreaterThan(0);
    }
    expect(findExperiment('nine')).toBeUndefined();
  });

  it('no experiment is pending; a pending one would be listed with its reason, never run', () => {
    expect(EXPERIMENTS.filter((e) => e.pending)).toEqual([]);
    const pending: AnyExperiment = { ...findExperiment('writeback')!, pending: 'needs something the model lacks' };
    expect(planShards([pending], QUICK)).toEqual([]);
    const r = assembleReport(pending, [], QUICK, {});
    expect(r.status).toBe('pending');
    expect(r.pending).toBe('needs something the model lacks');
    expect(r.verdict).toBeUndefined();
  });

  it('every experiment that ran has a method, a table, a plot and a verdict', () => {
    for (const e of run.experiments.filter((x) => x.status === 'done')) {
      expect(e.method!.length, e.name).toBeGreaterThan(0);
      expect(e.tables!.length, e.name).toBeGreaterThan(0);
      expect(e.plots!.length, e.name).toBeGreaterThan(0);
      expect(['holds', 'does not hold', 'holds with a caveat']).toContain(e.verdict!.outcome);
    }
  });
});

describe('1. false positives: the verdict follows from the data', () => {
  it('a small folio reads pinned once plain references and its own reach the bias; large folios never', () => {
    const t = table(report('false-positives'), 0);
    const small = row(t, 'small 4 KiB');
    const base = num(small[1]!);
    const threshold = num(small[2]!);
    // The rule of folio_maybe_dma_pinned(): _refcount >= GUP_PIN_COUNTING_BIAS on a small folio.
    expect(base + threshold).toBe(GUP_PIN_COUNTING_BIAS);
    expect(num(small[3]!)).toBe(Math.floor((base + 2048) / GUP_PIN_COUNTING_BIAS));
    const large = t.rows.filter((r) => r[0] !== 'small 4 KiB');
    expect(large.length).toBeGreaterThanOrEqual(4);
    for (const r of large) {
      expect(String(r[2])).toMatch(/^never/);
      expect(r[3]).toBe(0);
    }
    const mix = table(report('false-positives'), 1);
    const fn = mix.rows.find((r) => String(r[0]).startsWith('false negatives'))!;
    const fpLarge = row(mix, 'false positives on large folios (all samples)');
    expect(fn[1]).toBe(0);
    expect(fpLarge[1]).toBe(0);
    // "1024 get_page() calls": exactly, or with the folio's own references counted.
    const expected =
      threshold === GUP_PIN_COUNTING_BIAS
        ? 'holds'
        : threshold + base === GUP_PIN_COUNTING_BIAS
          ? 'holds with a caveat'
          : 'does not hold';
    expect(report('false-positives').verdict!.outcome).toBe(expected);
  });

  it('the mix really has false positives to count, all on small folios', () => {
    const mix = table(report('false-positives'), 1);
    expect(num(row(mix, 'most plain references on one small folio')[1]!)).toBeGreaterThanOrEqual(GUP_PIN_COUNTING_BIAS);
    expect(num(row(mix, 'false positives (most at one sample)')[1]!)).toBeGreaterThan(0);
  });
});

describe('2. counter limits: the verdict follows from the data', () => {
  it('2^21 pins of a small page, 2^31 page pins of a 1 GiB folio, then -ENOMEM', () => {
    const e = report('counter-limits');
    const t = table(e, 0);
    expect(t.columns.slice(1)).toEqual(['small 4 KiB', 'hugetlb 1 GiB']);
    const calls = row(t, 'pin calls that succeeded');
    const perCall = row(t, 'pages per pin call');
    const smallPins = num(calls[1]!) * num(perCall[1]!);
    const largePins = num(calls[2]!) * num(perCall[2]!);
    // 31 bits of a signed _refcount, 10 of them per pin: the pin that crosses 2^31 is the last accepted.
    expect(smallPins).toBe(2 ** 31 / GUP_PIN_COUNTING_BIAS);
    expect(num(perCall[2]!)).toBe(2 ** PUD_ORDER);
    expect(largePins).toBe(2 ** 31);
    const next = row(t, 'the next pin_user_pages_fast()');
    expect(next.slice(1)).toEqual(['-12 (-ENOMEM)', '-12 (-ENOMEM)']);
    const after = row(t, '_refcount after the last success (signed)');
    const wrapped = num(after[1]!) < 0;
    const largeReadsPinned = row(t, 'folio_maybe_dma_pinned() after the wrap')[2];
    const expected =
      Math.log2(smallPins) !== 21
        ? 'does not hold'
        : wrapped || largeReadsPinned === false
          ? 'holds with a caveat'
          : 'holds';
    expect(e.verdict!.outcome).toBe(expected);
  });
});

describe('3. _pincount: the verdict follows from the data', () => {
  it('head bias overflows a THP after 4096 registrations and a 1 GiB page after 8; _pincount does not', () => {
    const e = report('pincount');
    const t = table(e, 0);
    const reg = (name: string) => num(row(t, name)[1]!);
    const perThp = HPAGE_PMD_NR * GUP_PIN_COUNTING_BIAS;
    const perGig = 2 ** PUD_ORDER * GUP_PIN_COUNTING_BIAS;
    expect(reg('THP 2 MiB, head bias (3faa52c03f44)')).toBe(2 ** 31 / perThp);
    expect(reg('hugetlb 1 GiB, head bias (3faa52c03f44)')).toBe(2 ** 31 / perGig);
    for (const name of ['THP 2 MiB, head bias (3faa52c03f44)', 'hugetlb 1 GiB, head bias (3faa52c03f44)'])
      expect(String(row(t, name)[4])).toMatch(/^-ENOMEM/);
    for (const name of ['THP 2 MiB, _pincount (v5.7+, 6.18)', 'hugetlb 1 GiB, _pincount (v5.7+, 6.18)']) {
      expect(String(row(t, name)[4])).toMatch(/^none of \d+ failed$/);
      expect(num(row(t, name)[2]!)).toBeGreaterThan(0);
    }
    const fp = table(e, 1);
    expect(row(fp, 'head bias (3faa52c03f44)')[4]).toBe(true);
    expect(row(fp, '_pincount (v5.7+, 6.18)')[4]).toBe(false);
    expect(e.verdict!.outcome).toBe('holds');
  });
});

describe('4. the vmstat balance: the verdict follows from the data', () => {
  it('released equals acquired for every huge page, in both orders; folio_add_pin() is the exception', () => {
    const e = report('vmstat-balance');
    const t = table(e, 0);
    expect(t.rows.map((r) => r[0])).toContain('hugetlb 1 GiB (PUD)');
    let balanced = true;
    for (const r of t.rows) {
      expect(r[2]).toBe(r[1]); // acquired: one per page
      balanced &&= r[3] === r[2] && r[4] === r[2] && r[5] === true;
    }
    const other = table(e, 1);
    const addPin = other.rows.find((r) => String(r[0]).startsWith('folio_add_pin'))!;
    expect(num(addPin[2]!) - num(addPin[1]!)).toBe(1);
    const expected = !balanced ? 'does not hold' : addPin[1] !== addPin[2] ? 'holds with a caveat' : 'holds';
    expect(e.verdict!.outcome).toBe(expected);
  });
});

describe('5. writeback: the verdict and the recommendation follow from the data', () => {
  /** The value of column `key` for setup `id` in the table of release number `rel` (0, 1, 2). */
  const cell = (rel: number, id: string, key: (typeof COLUMNS)[number]['key']): number => {
    const t = table(report('writeback'), rel);
    const label = SETUPS.find((s) => s.id === id)!.label;
    return num(row(t, label)[1 + COLUMNS.findIndex((c) => c.key === key)]!);
  };
  const [RIGHT, UNPIN, PUT] = [0, 1, 2];

  it('Case 5: the verdict is verdictOf() of the "lost" columns', () => {
    const e = report('writeback');
    const lost = (rel: number) => SETUPS.map((s) => cell(rel, s.id, 'lost'));
    const facts = {
      pinDirtyLostMax: Math.max(...lost(RIGHT)),
      putPageLostMin: Math.min(...lost(PUT)),
      unpinLost618: cell(UNPIN, 'a', 'lost'),
    };
    expect(e.verdict!.outcome).toBe(writebackVerdict(facts));
    // What the model did: the right release loses nothing anywhere; put_page() loses everywhere.
    expect(facts.pinDirtyLostMax).toBe(0);
    expect(facts.putPageLostMin).toBeGreaterThan(0);
  });

  it('the recommendation is rank() of the FOLL_PIN tables, recomputed from their cells', () => {
    const e = report('writeback');
    const scores: Score[] = SETUPS.map((s) => ({
      id: s.id,
      lost: cell(RIGHT, s.id, 'lost') + cell(UNPIN, s.id, 'lost'),
      fsyncsShort: Math.round((cell(RIGHT, s.id, 'fsyncsShortPct') + cell(UNPIN, s.id, 'fsyncsShortPct')) * 10) / 10,
      blockedMax: Math.max(cell(RIGHT, s.id, 'blockedMax'), cell(UNPIN, s.id, 'blockedMax')),
      copies: [RIGHT, UNPIN].reduce((n, r) => n + cell(r, s.id, 'bounces') + cell(r, s.id, 'appCopies'), 0),
      stalePct: Math.round(((cell(RIGHT, s.id, 'stalePct') + cell(UNPIN, s.id, 'stalePct')) / 2) * 10) / 10,
    }));
    const [best, next] = rank(scores);
    expect(e.facts!['recommended']).toBe(best!.id);
    expect(e.facts!['runnerUp']).toBe(next!.id);
    const tagOf = (id: string) => /^\([a-e]'?\)/.exec(SETUPS.find((s) => s.id === id)!.label)![0];
    expect(e.verdict!.text).toContain(`recommend ${tagOf(best!.id)}`);
  });

  it("each setup's rule shows in its row", () => {
    for (const rel of [RIGHT, UNPIN, PUT]) {
      // Only the what-ifs bounce or block, only 6.18 as it is copies by hand (its refused MR).
      for (const s of SETUPS) {
        expect(cell(rel, s.id, 'bounces') > 0, s.id).toBe(s.id === 'c' || s.id === 'e');
        expect(cell(rel, s.id, 'fsyncsBlocked') > 0, s.id).toBe(s.id === 'd');
        expect(cell(rel, s.id, 'appCopies') > 0, s.id).toBe(s.id === 'a');
      }
    }
    // A pinned folio kept dirty (skip, bounce, wait) survives a release that forgets to dirty it.
    for (const id of ['b', 'c', 'd']) expect(cell(UNPIN, id, 'lost'), id).toBe(0);
    // bounce and wait never let an fsync return with a pinned page's data off the disk.
    for (const id of ['c', 'd']) expect(cell(RIGHT, id, 'fsyncsShortPct'), id).toBe(0);
    const details = table(report('writeback'), 3);
    const refused = details.rows.filter((r) => num(r[8]!) > 0).map((r) => String(r[1]));
    expect(new Set(refused)).toEqual(new Set(['(a) 6.18']));
  });

  it('its rules: the verdict from three numbers, the ranking lexicographic in the stated order', () => {
    const f = { pinDirtyLostMax: 0, putPageLostMin: 5, unpinLost618: 0 };
    expect(writebackVerdict(f)).toBe('holds');
    expect(writebackVerdict({ ...f, unpinLost618: 4 })).toBe('holds with a caveat');
    expect(writebackVerdict({ ...f, pinDirtyLostMax: 1 })).toBe('does not hold');
    expect(writebackVerdict({ ...f, putPageLostMin: 0 })).toBe('does not hold');
    const s = (id: string, lost: number, fsyncsShort: number, blockedMax: number, copies: number): Score => ({
      id,
      lost,
      fsyncsShort,
      blockedMax,
      copies,
      stalePct: 0,
    });
    const order = rank([s('x', 1, 0, 0, 0), s('y', 0, 9, 0, 0), s('z', 0, 0, 5, 0), s('w', 0, 0, 0, 99)]);
    expect(order.map((o) => o.id)).toEqual(['w', 'z', 'y', 'x']);
  });

  it('is deterministic for a seed, and another seed draws another workload', () => {
    const e = [findExperiment('writeback')!];
    expect(runInProcess(e, QUICK).experiments[0]).toEqual(report('writeback'));
    const other = runInProcess(e, { ...QUICK, seed: 3 }).experiments[0]!;
    expect(other.tables![0]).not.toEqual(report('writeback').tables![0]);
  });
});

describe('6. fork: the verdict follows from the data', () => {
  it('FOLL_PIN keeps every device write in the parent; FOLL_GET loses them once someone writes', () => {
    const e = report('fork');
    let pinAlwaysParent = true;
    let getLoses = false;
    let getDontforkParent = true;
    for (const t of e.tables!) {
      const pages = Number(/\((\d+) pages\)/.exec(t.title)![1]);
      for (const r of t.rows) {
        const name = String(r[0]);
        const cells = r.slice(2).map(String);
        const allParent = cells.every((c) => c.startsWith(`parent ${pages}`) || c === `both ${pages}`);
        if (name.includes('FOLL_PIN')) pinAlwaysParent &&= allParent;
        else if (name.includes('MADV_DONTFORK')) getDontforkParent &&= allParent;
        else getLoses ||= !allParent;
        // Fork copies a pinned anon page for the child, and nothing else.
        expect(num(r[1]!), name).toBe(name.includes('FOLL_PIN') && !name.includes('DONTFORK') ? pages : 0);
      }
    }
    const expected =
      !pinAlwaysParent || !getLoses ? 'does not hold' : getDontforkParent ? 'holds with a caveat' : 'holds';
    expect(e.verdict!.outcome).toBe(expected);
    // Decided by what parent and child read; the frames the device holds tell the same, page by page.
    expect(e.facts!['dataAgreesWithFrames']).toBe(true);
  });
});

describe('7. cost by folio size: the verdict follows from the (measured) data', () => {
  it('the verdict is what the timings in the table give', () => {
    const e = report('cost');
    const t = table(e, 0);
    const total = (label: string) => num(row(t, label)[5]!);
    const pin = (label: string) => num(row(t, label)[3]!);
    expect(e.verdict!.measured).toBe(true);
    expect(e.plots![0]!.measured).toBe(true);
    const outcome = costVerdict({
      smallNsPerPage: total('small 4 KiB'),
      smallPinNsPerPage: pin('small 4 KiB'),
      mthpPinNsPerPage: pin('mTHP 1 MiB'),
      thpNsPerPage: total('THP 2 MiB'),
      gigNsPerPage: total('hugetlb 1 GiB'),
    });
    expect(e.verdict!.outcome).toBe(outcome);
    // Without the command line there is no host figure, and the report says so.
    expect(String(fmt(t.rows[t.rows.length - 1]![0]!))).toMatch(/^host: not measured/);
  });

  it('its verdict rule: far cheaper per page for PMD-mapped folios, PTE-mapped pinning per page a caveat', () => {
    const base = { smallNsPerPage: 50, smallPinNsPerPage: 30, mthpPinNsPerPage: 2, thpNsPerPage: 3, gigNsPerPage: 3 };
    expect(costVerdict(base)).toBe('holds');
    expect(costVerdict({ ...base, thpNsPerPage: 20 })).toBe('does not hold');
    expect(costVerdict({ ...base, mthpPinNsPerPage: 30 })).toBe('holds with a caveat');
    expect(costVerdict({ ...base, gigNsPerPage: 10 })).toBe('holds with a caveat');
  });
});

function fmt(c: Cell): string {
  return isMeasured(c) ? String(c.measured) : String(c);
}

describe('the runner', () => {
  it('gives every shard its own seed, the same on every plan', () => {
    const a = planShards(EXPERIMENTS, QUICK);
    const b = planShards(EXPERIMENTS, QUICK);
    expect(a.map((s) => s.seed)).toEqual(b.map((s) => s.seed));
    expect(new Set(a.map((s) => s.seed)).size).toBe(a.length);
    expect(planShards(EXPERIMENTS, { ...QUICK, seed: 2 }).map((s) => s.seed)).not.toEqual(a.map((s) => s.seed));
  });

  it('a report does not depend on the order its shards run in', () => {
    const exps = [findExperiment('false-positives')!, findExperiment('vmstat-balance')!];
    const shards = planShards(exps, QUICK);
    const results = new Map<string, unknown[]>();
    for (const s of [...shards].reverse()) {
      const list = results.get(s.experiment) ?? [];
      list[s.index] = runPlannedShard(s, QUICK);
      results.set(s.experiment, list);
    }
    const reversed = exps.map((e) => assembleReport(e, results.get(e.name)!, QUICK, {}));
    expect(reversed).toEqual([report('false-positives'), report('vmstat-balance')]);
  });

  it('another seed changes the random parts only', () => {
    const other = runInProcess([findExperiment('false-positives')!], { ...QUICK, seed: 7 }).experiments[0]!;
    expect(other.tables![0]).toEqual(report('false-positives').tables![0]); // the sweep has no randomness
    expect(other.plots![1]).not.toEqual(report('false-positives').plots![1]); // the mix has
  });
});

describe('seeds and random numbers', () => {
  it('Rng is deterministic and uniform enough; Zipf favours low ranks', () => {
    const a = new Rng(42);
    const b = new Rng(42);
    const xs = Array.from({ length: 1000 }, () => a.next());
    expect(xs).toEqual(Array.from({ length: 1000 }, () => b.next()));
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...xs)).toBeLessThan(1);
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.05);
    const z = new Zipf(100, 1);
    const rng = new Rng(1);
    const counts = new Array(100).fill(0);
    for (let i = 0; i < 20000; i++) counts[z.draw(rng)]++;
    expect(counts[0]).toBeGreaterThan(counts[1]);
    expect(counts[1]).toBeGreaterThan(counts[9]);
    expect(counts[0] / counts[9]).toBeGreaterThan(5);
    expect(shardSeed(1, 'a', 0)).toBe(shardSeed(1, 'a', 0));
    expect(shardSeed(1, 'a', 0)).not.toBe(shardSeed(1, 'a', 1));
  });
});

describe('plots (svg.ts)', () => {
  const plot: Plot = {
    id: 'p',
    title: 'A <title> & more',
    x: { label: 'x', scale: 'log2' },
    y: { label: 'y' },
    series: Array.from({ length: 8 }, (_, i) => ({
      name: `series ${i}`,
      points: [
        [1, i],
        [1024, i * 2],
      ] as Array<[number, number]>,
    })),
  };

  it('every series differs from the others in dash and marker, not only colour', () => {
    const svg = renderSvg(plot);
    const paths = [
      ...svg.matchAll(/<path d="M[^"]*" fill="none" stroke="[^"]+" stroke-width="2"( stroke-dasharray="([^"]+)")?/g),
    ];
    expect(paths).toHaveLength(8);
    const dashes = paths.map((m) => m[2] ?? 'solid');
    expect(new Set(dashes).size).toBe(8);
    for (let i = 0; i < 8; i++) expect(svg).toContain(`>series ${i}</text>`);
  });

  it('is well-formed, escaped, with power-of-two ticks on a log axis and no NaN', () => {
    const svg = renderSvg(plot);
    expect(svg).toContain('A &lt;title&gt; &amp; more');
    expect(svg).toContain('2<tspan dy="-5" font-size="9">10</tspan>');
    expect(svg).not.toMatch(/NaN|undefined|Infinity/);
    const stack: string[] = [];
    for (const m of svg.matchAll(/<(\/?)([a-zA-Z]+)[^>]*?(\/?)>/g)) {
      if (m[3]) continue;
      if (m[1]) expect(stack.pop()).toBe(m[2]);
      else stack.push(m[2]!);
    }
    expect(stack).toEqual([]);
  });

  it('named categories on an axis; series of identical points merge into one', () => {
    const svg = renderSvg({
      id: 'c',
      title: 't',
      x: { label: 'x', categories: ['first', 'second'] },
      y: { label: 'y', min: 0, max: 100 },
      series: [
        {
          name: 'a',
          style: 'points',
          points: [
            [0, 100],
            [1, 0],
          ],
        },
      ],
    });
    expect(svg).toContain('>first</text>');
    expect(svg).toContain('>second</text>');
    const merged = mergeIdentical([
      { name: 'a', points: [[0, 1]] },
      { name: 'b', points: [[0, 1]] },
      { name: 'c', points: [[0, 2]] },
    ]);
    expect(merged.map((s) => s.name)).toEqual(['a = b', 'c']);
  });
});

describe('markdown and comparison tables', () => {
  it('marks measured values so a fresh run can be compared with a committed one', () => {
    const md = renderMarkdown(run, { svgDir: 'experiments', command: 'gupsim experiment all --quick --seed 1' });
    expect(md.markdown).toContain('<!--m-->');
    expect(md.markdown).toContain('](experiments/1-false-positives-sweep.svg)');
    expect(md.markdown).toContain('](experiments/5-writeback-lost.svg)');
    // A pending experiment (none is, now) shows its reason.
    const pending = assembleReport({ ...findExperiment('writeback')!, pending: 'needs X' }, [], QUICK, {});
    const withPending = renderMarkdown({ ...run, experiments: [pending] }, { svgDir: 'experiments', command: 'x' });
    expect(withPending.markdown).toContain('**Pending:** needs X');
    expect(md.svgs.filter((s) => s.measured).map((s) => s.path)).toEqual(['experiments/7-cost-cost.svg']);
    expect(maskMeasured('a <!--m-->12.5<!--/m--> b <!--m-->x<!--/m-->')).toBe(
      'a <!--m-->~<!--/m--> b <!--m-->~<!--/m-->',
    );
  });

  it('a comparison table: one row per policy, arrows for better, rows must fit the measures', () => {
    const t = comparisonTable(
      't',
      'policy',
      [{ label: 'lost', better: 'lower' }, { label: 'copies' }],
      [{ name: 'a', values: [1, 2] }],
    );
    expect(t.columns).toEqual(['policy', 'lost ↓', 'copies']);
    expect(t.rows).toEqual([['a', 1, 2]]);
    expect(t.notes!.join(' ')).toMatch(/lower is better/);
    expect(() => comparisonTable('t', 'p', [{ label: 'x' }], [{ name: 'a', values: [1, 2] }])).toThrow(/gupsim bug/);
  });
});

describe('frames: where a device write lands', () => {
  it('reaches each process that maps the device frame', () => {
    expect(deviceWriteReaches(5, 5, 5)).toBe('both');
    expect(deviceWriteReaches(5, 5, 6)).toBe('parent');
    expect(deviceWriteReaches(5, 5, null)).toBe('parent');
    expect(deviceWriteReaches(5, 7, 5)).toBe('child');
    expect(deviceWriteReaches(5, 7, 6)).toBe('nobody');
    expect(deviceWriteReaches(5, null, null)).toBe('nobody');
  });
});

describe('the experiments run in a browser', () => {
  it('src/tools/experiments imports no Node API and nothing from probe/, bench/ or cli/, even indirectly', () => {
    const src = join(import.meta.dirname, '..', '..');
    const seen = new Set<string>();
    const bad: string[] = [];
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/^(?:import|export)\s+(?:type\s+)?[^;]*?from\s*'([^']+)'/gms)) {
        const spec = m[1]!;
        if (!spec.startsWith('.')) {
          if (spec.startsWith('node:') || ['fs', 'path', 'os', 'worker_threads'].includes(spec))
            bad.push(`${relative(src, file)} imports ${spec}`);
          continue;
        }
        const to = normalize(join(dirname(file), spec.replace(/\.js$/, '.ts')));
        const layer = relative(src, to).split('/')[0]!;
        if (['probe', 'bench', 'cli', 'web'].includes(layer))
          bad.push(`${relative(src, file)} imports ${relative(src, to)}`);
        visit(to);
      }
    };
    for (const e of ['registry.ts', 'runner.ts', 'markdown.ts', 'svg.ts']) visit(join(import.meta.dirname, e));
    expect(seen.size).toBeGreaterThan(20);
    expect(bad).toEqual([]);
  });
});
