// The playground's modules that need no DOM: share links, the validator's messages as diagnostics,
// the map's painter (whole and by rows), and the compact timeline the page moves over.
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeShare, decodeShare } from './share.js';
import { parseProblem } from './problems.js';
import { layout, paintMap, paintRows, STATE_STYLES, MAP_MAX_WIDTH, MAP_MAX_HEIGHT } from './paint.js';
import { PageState, PAGE_STATE_NAMES, PAGE_FOLIO_HEAD, PAGE_LARGE, type RegionMap } from '../scenario/pagemap.js';
import { loadScenario, ScenarioError } from '../scenario/load.js';
import { buildTimeline, partings, type Timeline } from '../scenario/timeline.js';
import type { Scenario } from '../scenario/schema.js';
import { Compactor, MapStore, applyDiff, diffMaps, holderSpans, type Changes, type PageTimeline } from './compact.js';
import { spanPages } from './panels.js';

describe('share links', () => {
  it('round-trip the text and the step, and compress', async () => {
    const text = 'name: x\nsteps:\n' + '  - { op: vmstat }\n'.repeat(200);
    const frag = await encodeShare({ text, step: 17 });
    expect(frag).toMatch(/^s=[A-Za-z0-9_-]+&step=17$/);
    expect(frag.length).toBeLessThan(text.length / 10);
    expect(await decodeShare('#' + frag)).toEqual({ text, step: 17 });
  });

  it('a fragment without a scenario is no share; a bad step is step 0', async () => {
    expect(await decodeShare('#step=3')).toBeUndefined();
    const frag = await encodeShare({ text: 'steps: []\n', step: 0 });
    expect((await decodeShare(frag.replace('step=0', 'step=-4')))?.step).toBe(0);
  });
});

describe('validator messages as diagnostics', () => {
  it('take the line and the text of every problem loadScenario reports', () => {
    let problems: string[] = [];
    try {
      loadScenario('steps:\n  - { op: mmap, proc: a, as: b, size: lots, type: anon }\n  - { op: nope }\n', 'f.yaml');
    } catch (e) {
      problems = (e as ScenarioError).problems;
    }
    const parsed = problems.map((p) => parseProblem(p, 'f.yaml'));
    expect(parsed.map((p) => p.line)).toEqual([2, 3]);
    expect(parsed[0]!.message).toMatch(/^step 0 \(mmap\): field "size": expected a size/);
    expect(parseProblem('f.yaml: unknown field "x"', 'f.yaml')).toEqual({
      line: undefined,
      message: 'unknown field "x"',
    });
  });
});

describe('the map painter', () => {
  it('has a distinct colour-and-pattern pair for every state', () => {
    const keys = PAGE_STATE_NAMES.map((_, s) => `${STATE_STYLES[s]!.fill}/${STATE_STYLES[s]!.pattern}`);
    expect(new Set(keys).size).toBe(PAGE_STATE_NAMES.length);
    // Without colour, the patterns alone tell the states that matter apart.
    const pinned = STATE_STYLES[PageState.PINNED]!.pattern;
    const fp = STATE_STYLES[PageState.FALSE_POSITIVE]!.pattern;
    const shared = STATE_STYLES[PageState.ANON_SHARED]!.pattern;
    const excl = STATE_STYLES[PageState.ANON_EXCLUSIVE]!.pattern;
    expect(new Set([pinned, fp, shared, excl]).size).toBe(4);
  });

  it('lays out a 1 GiB region (262,144 pages) in at most 768 x 1024 pixels', () => {
    const l = layout(262144);
    expect(l.cols * l.cell).toBeLessThanOrEqual(MAP_MAX_WIDTH);
    expect(l.rows * l.cell).toBeLessThanOrEqual(MAP_MAX_HEIGHT);
    expect(l.cols * l.rows).toBeGreaterThanOrEqual(262144);
    expect(layout(4).cell).toBeGreaterThan(layout(4096).cell);
  });

  it('paints each page in its state, a folio head with a dark left edge, marked pages outlined', () => {
    const state = Uint8Array.from([PageState.PINNED, PageState.NOT_PRESENT, PageState.ZERO]);
    const bits = Uint8Array.from([PAGE_FOLIO_HEAD | PAGE_LARGE, 0, 0]);
    const cell = 8;
    const px = new Uint32Array(3 * cell * cell);
    paintMap({ state, bits, pfn: new Int32Array(3) }, 3, cell, px, Uint8Array.from([0, 0, 1]));
    const at = (x: number, y: number) => px[y * 3 * cell + x]!;
    const rgba = (hex: string) => {
      const v = parseInt(hex.slice(1), 16);
      return ((0xff << 24) | ((v & 0xff) << 16) | (v & 0xff00) | ((v >> 16) & 0xff)) >>> 0;
    };
    const fillOrInk = (s: number) => [rgba(STATE_STYLES[s]!.fill), rgba(STATE_STYLES[s]!.ink)];
    expect(at(0, 3) >>> 0).toBe(rgba('#222222')); // the folio edge
    expect(fillOrInk(PageState.PINNED)).toContain(at(3, 3) >>> 0);
    expect(fillOrInk(PageState.NOT_PRESENT)).toContain(at(cell + 3, 3) >>> 0);
    expect(at(2 * cell, 3) >>> 0).toBe(rgba('#000000')); // the outline of a marked page
    expect(fillOrInk(PageState.ZERO)).toContain(at(2 * cell + 3, 3) >>> 0);
  });
});

describe('the compact timeline (compact.ts)', () => {
  const example = (f: string) => loadScenario(readFileSync(join(import.meta.dirname, '../../examples', f), 'utf8'));

  /** buildTimeline() and its compaction, made together as the worker makes them. */
  function compacted(sc: Scenario): { full: Timeline; page: PageTimeline } {
    const c = new Compactor(sc.steps.length);
    const full = buildTimeline(sc, {
      onStep: (view, ctx) => {
        const spans = new Map<string, Int32Array>();
        for (const h of ctx.holders.values()) if (!h.closed) spans.set(h.name, holderSpans(h));
        c.add(view, spans);
      },
    });
    return { full, page: c.finish(full).timeline };
  }

  const randomMap = (n: number) =>
    fc.record({
      state: fc.uint8Array({ minLength: n, maxLength: n, max: PAGE_STATE_NAMES.length - 1 }),
      bits: fc.uint8Array({ minLength: n, maxLength: n, max: 15 }),
      pfn: fc.int32Array({ minLength: n, maxLength: n, min: -1, max: 1 << 20 }),
    });

  it('a diff applied forwards gives the new map, backwards the old one', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 300 }).chain((n) => fc.tuple(randomMap(n), randomMap(n))),
        ([a, b]) => {
          const d = diffMaps(a, b);
          const m = { state: a.state.slice(), bits: a.bits.slice(), pfn: a.pfn.slice() };
          if (d) applyDiff(m, d, true);
          expect(m).toEqual(b);
          if (d) applyDiff(m, d, false);
          expect(m).toEqual(a);
        },
      ),
    );
    const same = { state: new Uint8Array(5), bits: new Uint8Array(5), pfn: new Int32Array(5) };
    expect(diffMaps(same, { ...same, state: same.state.slice() })).toBeNull();
  });

  const FILES = ['fork-after-pin.yaml', 'io-uring-thp-coalesce.yaml', 'doc-false-positive.yaml', 'hmm_mirror.yaml'];
  it.each(FILES)('%s: moving to steps in any order gives every map, status and holder of buildTimeline', (f) => {
    const { full, page } = compacted(example(f));
    const n = full.steps.length;
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: n - 1 }), { minLength: 1, maxLength: 30 }), (order) => {
        const store = new MapStore(page);
        // What each page of each track showed after the last move, to check the reported changes.
        const shown = new Map<number, RegionMap>();
        for (const s of order) {
          const changes: Changes = new Map();
          const got = store.moveTo(s, changes);
          const want = full.steps[s]!.regions;
          expect(got.map((r) => [r.process, r.region, r.status, r.pages])).toEqual(
            want.map((r) => [r.process, r.region, r.status, r.pages]),
          );
          got.forEach((r, k) => {
            const w = want[k]!.map;
            const same = (a: ArrayLike<number>, b: ArrayLike<number>) => {
              for (let p = 0; p < a.length; p++) if (a[p] !== b[p]) return p;
              return a.length === b.length ? -1 : a.length;
            };
            expect([same(r.map.state, w.state), same(r.map.bits, w.bits), same(r.map.pfn, w.pfn)]).toEqual([
              -1, -1, -1,
            ]);
            const before = shown.get(r.track);
            const ch = changes.get(r.track);
            if (before && ch !== 'all') {
              const moved = new Uint8Array(r.pages);
              for (let x = 0; x < (ch ?? []).length; x += 2) moved.fill(1, ch![x]!, ch![x]! + ch![x + 1]!);
              for (let p = 0; p < r.pages; p++)
                if (
                  before.state[p] !== r.map.state[p] ||
                  before.bits[p] !== r.map.bits[p] ||
                  before.pfn[p] !== r.map.pfn[p]
                )
                  expect(moved[p], `page ${p} changed at step ${s} but was not reported`).toBe(1);
            }
            shown.set(r.track, { state: r.map.state.slice(), bits: r.map.bits.slice(), pfn: r.map.pfn.slice() });
          });
          expect(page.steps[s]!.holders.map((x) => [x.name, x.pins, x.refs, x.attached])).toEqual(
            full.steps[s]!.holders.map((x) => [x.name, x.pins, x.refs, x.attached]),
          );
        }
      }),
      { numRuns: 25 },
    );
    expect(page.partings).toEqual(partings(full));
  });

  it("a holder's spans cover every page of its frames: a coalesced bvec a whole folio", () => {
    const { page } = compacted(example('io-uring-thp-coalesce.yaml'));
    const reg = page.result.steps.findIndex((s) => s.label === 'reg');
    const ring = page.steps[reg]!.holders.find((x) => x.name === 'ring')!;
    expect(ring.frames!.length).toBe(4);
    expect(spanPages(ring.spans!)).toBe(2048);
  });
});

describe('painting only the rows that changed', () => {
  it('gives the pixels of a fresh paint, whatever changed', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 3000 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 200 }), fc.nat({ max: 10 })), { maxLength: 6 }),
        fc.boolean(),
        (pages, edits, withMarks) => {
          const { cols, cell, rows } = layout(pages);
          const map = {
            state: Uint8Array.from({ length: pages }, (_, i) => (i * 7) % PAGE_STATE_NAMES.length),
            bits: Uint8Array.from({ length: pages }, (_, i) => (i % 4 === 0 ? PAGE_FOLIO_HEAD | PAGE_LARGE : 0)),
            pfn: new Int32Array(pages),
          };
          const marked = withMarks ? Uint8Array.from({ length: pages }, (_, i) => (i % 5 === 0 ? 1 : 0)) : undefined;
          const px = new Uint32Array(cols * cell * rows * cell);
          paintMap(map, cols, cell, px, marked);
          for (const [at, n, s] of edits) {
            const first = at % pages;
            const last = Math.min(pages, first + n);
            map.state.fill(s, first, last);
            paintRows(map, cols, cell, px, Math.floor(first / cols), Math.floor((last - 1) / cols) + 1, marked);
          }
          const fresh = new Uint32Array(px.length);
          paintMap(map, cols, cell, fresh, marked);
          expect(px.findIndex((v, i) => v !== fresh[i])).toBe(-1);
        },
      ),
      { numRuns: 60 },
    );
  });
});
