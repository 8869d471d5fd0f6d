// The playground's modules that need no DOM: share links, the validator's messages as diagnostics,
// and the map's painter.
import { describe, it, expect } from 'vitest';
import { encodeShare, decodeShare } from './share.js';
import { parseProblem } from './problems.js';
import { layout, paintMap, STATE_STYLES } from './paint.js';
import { PageState, PAGE_STATE_NAMES, PAGE_FOLIO_HEAD, PAGE_LARGE } from '../scenario/pagemap.js';
import { loadScenario, ScenarioError } from '../scenario/load.js';

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

  it('lays out a 1 GiB region (262,144 pages) in at most 1024 x 1024 pixels', () => {
    const l = layout(262144, 1024);
    expect(l.cols * l.cell).toBeLessThanOrEqual(1024);
    expect(l.rows * l.cell).toBeLessThanOrEqual(1024);
    expect(l.cols * l.rows).toBeGreaterThanOrEqual(262144);
    expect(layout(4, 1024).cell).toBeGreaterThan(layout(4096, 1024).cell);
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
