// The step table, a step's result JSON, the counters chart, the handles, warnings and misuse, and a
// `gupsim diff --json` result: each a function of the timeline and the current step.

import { h, fill } from './dom.js';
import type { StepResult } from '../scenario/result.js';
import { formatWarn } from '../mm/warn.js';
import type { PageHolder, PageTimeline } from './compact.js';

/** A number per timeline or diff, for the panels' keys. */
const ids = new WeakMap<object, number>();
let nextId = 0;
function idOf(t: object): number {
  let id = ids.get(t);
  if (id === undefined) ids.set(t, (id = ++nextId));
  return id;
}

/**
 * Whether `el` must be drawn again: its content is a function of `key`, and it was last drawn with
 * another (a step move redraws only the panels whose content changes: less to lay out and paint).
 */
function stale(el: HTMLElement, key: string): boolean {
  if (el.dataset.drawn === key) return false;
  el.dataset.drawn = key;
  return true;
}

function resultText(s: StepResult): string {
  if (typeof s.unsupported === 'string') return 'skipped';
  if (s.op === 'expect') return s.failures ? 'FAIL' : 'ok';
  return s.errno ? `-${s.errno}` : String(s.ret);
}

/** The diff JSON's per-step fields the page reads (src/probe/diff.ts StepDiff). */
export interface DiffStep {
  index: number;
  op: string;
  status: string;
  reason?: string;
  differences: string[];
  model?: Record<string, unknown>;
  kernel?: Record<string, unknown> | null;
}

export interface DiffJson {
  scenario: string;
  model: string;
  kernel: string;
  agree: boolean;
  runs?: number;
  steps: DiffStep[];
  notes?: string[];
  model_error?: string;
  kernel_error?: string;
}

/** Check that parsed JSON is a `gupsim diff --json` result; a message when it is not. */
export function asDiff(v: unknown): DiffJson | string {
  const d = v as Partial<DiffJson> | null;
  if (!d || typeof d !== 'object') return 'not a JSON object';
  if (typeof d.agree !== 'boolean' || !Array.isArray(d.steps))
    return 'not a `gupsim diff --json` result (it has no "agree" and "steps")';
  for (const s of d.steps)
    if (typeof s?.index !== 'number' || typeof s.status !== 'string' || !Array.isArray(s.differences))
      return 'a step of the diff lacks index, status or differences';
  return d as DiffJson;
}

export function renderStepTable(
  el: HTMLElement,
  t: PageTimeline,
  step: number,
  go: (i: number) => void,
  diff: DiffJson | undefined,
): void {
  let prevA = 0;
  let prevR = 0;
  const rows = t.result.steps.map((s) => {
    const a = s.vmstat.nr_foll_pin_acquired;
    const r = s.vmstat.nr_foll_pin_released;
    const da = a - prevA;
    const dr = r - prevR;
    prevA = a;
    prevR = r;
    const d = diff?.steps.find((x) => x.index === s.index);
    const notes: string[] = [];
    if (s.why) notes.push(`${s.why.fn}: ${s.why.rule}`);
    if (s.failures) notes.push(...s.failures);
    const tr = h(
      'tr',
      {
        class: [s.index === step ? 'current' : '', s.errno || s.failures ? 'refused' : '', d ? `diff-${d.status}` : '']
          .filter(Boolean)
          .join(' '),
        'data-step': s.index,
        'aria-current': s.index === step ? 'step' : undefined,
      },
      h(
        'td',
        {},
        h('button', { class: 'linkish', onclick: () => go(s.index), 'aria-label': `go to step ${s.index}` }, s.index),
      ),
      h('td', {}, s.op, s.label ? h('span', { class: 'dim' }, ` [${s.label}]`) : null),
      h('td', { 'data-col': 'result' }, resultText(s)),
      h('td', { 'data-col': 'acquired' }, `${a}${da ? ` (+${da})` : ''}`),
      h('td', { 'data-col': 'released' }, `${r}${dr ? ` (+${dr})` : ''}`),
      h('td', { 'data-col': 'why' }, notes.join('; ')),
      diff ? h('td', { 'data-col': 'diff' }, d ? d.status : '') : null,
    );
    return tr;
  });
  fill(
    el,
    h(
      'table',
      { class: 'steps' },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ['#', 'step', 'result', 'nr_foll_pin_acquired', 'nr_foll_pin_released', 'why / failures'].map((c) =>
            h('th', { scope: 'col' }, c),
          ),
          diff ? h('th', { scope: 'col' }, 'model vs kernel') : null,
        ),
      ),
      h('tbody', {}, rows),
    ),
  );
  markStep(el, step);
}

/** The row to scroll into view at the next frame (one scroll per frame, however many moves). */
let scrollTo: Element | undefined;

/** Move the table's current-step mark (the table itself is built once per run or diff). */
export function markStep(el: HTMLElement, step: number): void {
  for (const tr of el.querySelectorAll('tr.current')) {
    tr.classList.remove('current');
    tr.removeAttribute('aria-current');
  }
  const row = el.querySelector(`tr[data-step="${step}"]`);
  row?.classList.add('current');
  row?.setAttribute('aria-current', 'step');
  // Scrolling needs the layout: at the next frame it is the frame's own layout, after every view
  // has changed, rather than a forced one now and another for the frame.
  if (row && !scrollTo)
    requestAnimationFrame(() => {
      scrollTo?.scrollIntoView({ block: 'nearest' });
      scrollTo = undefined;
    });
  scrollTo = row ?? scrollTo;
}

/** The current step's entry of the result JSON, exactly as `gupsim run --json` prints it. */
export function renderStepJson(el: HTMLElement, t: PageTimeline, step: number): void {
  const s = t.result.steps[step];
  fill(el, h('pre', { 'data-testid': 'step-json' }, s ? JSON.stringify(s, null, 2) : ''));
}

const CHART_W = 640;
const CHART_H = 180;
const SVG = 'http://www.w3.org/2000/svg';

function svg(tag: string, attrs: Record<string, string | number>): SVGElement {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

/**
 * Counters over the steps: the two pin counters and one more item, a marker at the current step, and
 * every counter after it. Drawn once per run and item; the returned function moves the marker and
 * writes the table for a step.
 */
export function mountChart(
  el: HTMLElement,
  t: PageTimeline,
  extra: string,
  go: (i: number) => void,
): (step: number) => void {
  const n = t.steps.length;
  const series: Array<[string, string, number[]]> = [
    ['nr_foll_pin_acquired', '#c0392b', t.steps.map((s) => s.vmstat.nr_foll_pin_acquired ?? 0)],
    ['nr_foll_pin_released', '#2471a3', t.steps.map((s) => s.vmstat.nr_foll_pin_released ?? 0)],
  ];
  if (extra && !series.some((s) => s[0] === extra))
    series.push([extra, '#7d3c98', t.steps.map((s) => s.vmstat[extra] ?? 0)]);
  const all = series.flatMap((s) => s[2]);
  const max = Math.max(1, ...all);
  const min = Math.min(0, ...all);
  const x = (i: number) => 40 + (n <= 1 ? 0 : (i * (CHART_W - 60)) / (n - 1));
  const y = (v: number) => CHART_H - 20 - ((v - min) * (CHART_H - 40)) / (max - min);
  const root = svg('svg', { viewBox: `0 0 ${CHART_W} ${CHART_H}`, class: 'chart', role: 'img' });
  root.setAttribute('aria-label', `counters over ${n} steps; the table beside it has the values`);
  root.appendChild(svg('line', { x1: 40, x2: CHART_W - 20, y1: y(0), y2: y(0), stroke: '#999' }));
  const lbl = (text: string, xx: number, yy: number) => {
    const e = svg('text', { x: xx, y: yy, 'font-size': 10, fill: '#555' });
    e.textContent = text;
    root.appendChild(e);
  };
  lbl(String(max), 2, y(max) + 4);
  lbl(String(min), 2, y(min) + 4);
  series.forEach(([, colour, vals], k) => {
    const pts = vals.map((v, i) => `${x(i)},${y(v)}`).join(' ');
    root.appendChild(
      svg('polyline', {
        points: pts,
        fill: 'none',
        stroke: colour,
        'stroke-width': 2,
        'stroke-dasharray': k ? `${4 * k} 2` : '',
      }),
    );
  });
  const marker = svg('line', { x1: x(0), x2: x(0), y1: 10, y2: CHART_H - 20, stroke: '#0050d0' });
  root.appendChild(marker);
  root.addEventListener('click', (e) => {
    const r = root.getBoundingClientRect();
    const px = ((e.clientX - r.left) * CHART_W) / r.width;
    go(Math.max(0, Math.min(n - 1, Math.round(((px - 40) * (n - 1)) / (CHART_W - 60)))));
  });
  const key = h(
    'ul',
    { class: 'chart-key' },
    series.map(([name, colour], k) =>
      h(
        'li',
        {},
        h('span', { class: 'key', style: `border-color:${colour};border-style:${k ? 'dashed' : 'solid'}` }),
        ` ${name}`,
      ),
    ),
  );
  const table = h('table', { class: 'vmstat', 'data-testid': 'vmstat' });
  fill(el, root, key, table);
  // The table's cells, by counter: a move rewrites the values that changed (the model keeps the
  // same counters after every step; a new one gets its row).
  const caption = h('caption', {});
  const body = h('tbody', {});
  const cells = new Map<string, HTMLElement>();
  fill(table, caption, body);
  return (step) => {
    marker.setAttribute('x1', String(x(step)));
    marker.setAttribute('x2', String(x(step)));
    caption.textContent = `vmstat after step ${step} (deltas since the start)`;
    const cur = t.steps[step]?.vmstat ?? {};
    for (const [k, v] of Object.entries(cur)) {
      let td = cells.get(k);
      if (!td) {
        td = h('td', { 'data-vmstat': k });
        cells.set(k, td);
        body.appendChild(h('tr', {}, h('th', { scope: 'row' }, k), td));
      }
      if (td.textContent !== String(v)) td.textContent = String(v);
    }
    for (const [k, td] of cells) if (!(k in cur) && td.textContent !== '-') td.textContent = '-';
  };
}

/** Pages a holder's frames cover (a coalesced bvec covers a whole folio). */
export function spanPages(spans: Int32Array): number {
  let n = 0;
  for (let i = 1; i < spans.length; i += 2) n += spans[i]!;
  return n;
}

function holderLine(hv: PageHolder): string {
  const held = `${hv.pins} pin(s), ${hv.refs} reference(s)`;
  if (hv.closed) return `${hv.type} ${hv.name} (${hv.process}): released`;
  if (!hv.frames) return `${hv.type} ${hv.name} (${hv.process}): ${held}`;
  const pages = hv.spans ? spanPages(hv.spans) : hv.frames.length;
  return (
    `${hv.type} ${hv.name} (${hv.process}): ${held}; ${hv.frames.length} frame(s)` +
    (pages !== hv.frames.length ? ` covering ${pages} pages` : '') +
    `, ${hv.attached} still mapped by ${hv.process}`
  );
}

/** Handles at this step; choosing one outlines its frames on the maps. */
export function renderHandles(
  el: HTMLElement,
  t: PageTimeline,
  step: number,
  chosen: string | undefined,
  choose: (name: string | undefined) => void,
  go: (i: number) => void,
): void {
  const view = t.steps[step];
  if (!view) return;
  const parts = t.partings;
  const key = [
    idOf(t),
    chosen ?? '',
    ...view.holders.map((x) => `${x.name}:${x.pins}:${x.refs}:${x.closed}:${x.attached}:${x.frames?.length}`),
    ...parts.filter((p) => p.step === step).map((p) => p.holder),
  ].join('|');
  if (!stale(el, key)) return;
  const items = view.holders.map((hv) => {
    const parted = parts.filter((p) => p.holder === hv.name);
    const now = parted.find((p) => p.step === step);
    return h(
      'li',
      { class: now ? 'parting' : '', 'data-holder': hv.name },
      h(
        'label',
        {},
        h('input', {
          type: 'radio',
          name: 'holder',
          value: hv.name,
          checked: chosen === hv.name,
          disabled: !hv.spans?.length,
          onchange: () => choose(hv.name),
        }),
        ` ${holderLine(hv)}`,
      ),
      parted.length
        ? h(
            'ul',
            {},
            parted.map((p) =>
              h(
                'li',
                { class: p.step === step ? 'parting' : '' },
                h('button', { class: 'linkish', onclick: () => go(p.step) }, `step ${p.step}`),
                ` (${p.op}): ${p.parted} frame(s) parted from ${hv.process}'s mapping`,
              ),
            ),
          )
        : null,
    );
  });
  fill(
    el,
    items.length
      ? h(
          'ul',
          { class: 'holders' },
          items,
          h(
            'li',
            {},
            h(
              'label',
              {},
              h('input', {
                type: 'radio',
                name: 'holder',
                value: '',
                checked: !chosen,
                onchange: () => choose(undefined),
              }),
              ' outline nothing',
            ),
          ),
        )
      : h('p', { class: 'dim' }, 'no handle holds pages at this step'),
  );
}

/**
 * A misuse record (mm/misuse.ts MisuseRecord: step, handle, what went wrong, what the kernel did) in
 * one line; a record of another shape as its fields.
 */
export function misuseLine(r: Record<string, unknown>): string {
  if (typeof r.what !== 'string')
    return Object.entries(r)
      .map(([k, v]) => `${k}: ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
      .join(', ');
  const where = typeof r.step === 'number' ? `step ${r.step}` : 'at the end of the run';
  const handle = typeof r.handle === 'string' ? ` (${r.handle})` : '';
  const kernel = typeof r.kernel === 'string' ? `; the kernel: ${r.kernel}` : '';
  return `${where}${handle}: ${r.what}${kernel}`;
}

/**
 * WARN records and misuse records (when the result has them), up to this step; records made after
 * the last step (a leak found at the end) show at the last step.
 */
export function renderWarnings(el: HTMLElement, t: PageTimeline, step: number): void {
  const warns = t.result.warnings.filter((w) => w.step === undefined || w.step <= step);
  const misuse = (t.result as unknown as { misuse?: unknown }).misuse;
  const atEnd = step >= t.steps.length - 1;
  const mis = Array.isArray(misuse)
    ? (misuse as Array<Record<string, unknown>>).filter((r) => (typeof r.step === 'number' ? r.step <= step : atEnd))
    : [];
  if (!stale(el, `${idOf(t)}|${warns.length}|${mis.length}`)) return;
  fill(
    el,
    h('h4', {}, `kernel WARNs (${warns.length})`),
    warns.length
      ? h(
          'ul',
          { 'data-testid': 'warnings' },
          warns.map((w) => h('li', {}, formatWarn(w))),
        )
      : h('p', { class: 'dim' }, 'none so far'),
    h('h4', {}, `misuse (${mis.length})`),
    Array.isArray(misuse)
      ? mis.length
        ? h(
            'ul',
            { 'data-testid': 'misuse' },
            mis.map((r) => h('li', {}, misuseLine(r))),
          )
        : h('p', { class: 'dim' }, 'none so far')
      : h('p', { class: 'dim' }, 'this result has no misuse records'),
    h('h4', {}, 'held at the end'),
    t.result.pins.length
      ? h(
          'ul',
          {},
          t.result.pins.map((p) =>
            h('li', {}, `${p.type} ${p.owner} (${p.process}): ${p.pins} pin(s), ${p.refs} reference(s)`),
          ),
        )
      : h('p', { class: 'dim' }, 'nothing: no leak'),
  );
}

/** A diff result, step by step; the current step's row first in view. */
export function renderDiff(
  el: HTMLElement,
  d: DiffJson | undefined,
  step: number,
  scenario: string,
  go: (i: number) => void,
): void {
  if (!stale(el, d ? `${idOf(d)}|${step}|${scenario}` : 'none')) return;
  if (!d) {
    fill(
      el,
      h(
        'p',
        { class: 'dim' },
        'No diff loaded: open the JSON of `gupsim diff FILE --json`, or run on this host (playground --probe).',
      ),
    );
    return;
  }
  const counts = new Map<string, number>();
  for (const s of d.steps) counts.set(s.status, (counts.get(s.status) ?? 0) + 1);
  fill(
    el,
    h(
      'p',
      { 'data-testid': 'diff-summary' },
      `${d.scenario}: ${d.agree ? 'model and kernel agree' : 'model and kernel differ'} (${d.model} vs ${d.kernel}); `,
      [...counts].map(([k, v]) => `${v} ${k}`).join(', '),
    ),
    d.scenario !== scenario
      ? h('p', { class: 'warn' }, `this diff is of "${d.scenario}", not of the open scenario "${scenario}"`)
      : null,
    d.model_error ? h('p', { class: 'warn' }, `model error: ${d.model_error}`) : null,
    d.kernel_error ? h('p', { class: 'warn' }, `kernel error: ${d.kernel_error}`) : null,
    h(
      'table',
      { class: 'diff' },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ['#', 'step', 'status', 'differences / reason'].map((c) => h('th', { scope: 'col' }, c)),
        ),
      ),
      h(
        'tbody',
        {},
        d.steps.map((s) =>
          h(
            'tr',
            { class: `diff-${s.status}${s.index === step ? ' current' : ''}`, 'data-diff-step': s.index },
            h('td', {}, h('button', { class: 'linkish', onclick: () => go(s.index) }, s.index)),
            h('td', {}, s.op),
            h('td', {}, s.status),
            h('td', {}, [...s.differences, s.reason ?? ''].filter(Boolean).join('; ')),
          ),
        ),
      ),
    ),
    (d.notes ?? []).length
      ? h(
          'ul',
          {},
          d.notes!.map((n) => h('li', {}, n)),
        )
      : null,
  );
}
