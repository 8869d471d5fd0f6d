// The step table, a step's result JSON, the counters chart, the handles, warnings and misuse, and a
// `gupsim diff --json` result: each a function of the timeline and the current step.

import { h, fill } from './dom.js';
import type { Timeline, HolderView } from '../scenario/timeline.js';
import { partings } from '../scenario/timeline.js';
import type { StepResult } from '../scenario/result.js';
import { formatWarn } from '../mm/debug.js';

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
  t: Timeline,
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

/** Move the table's current-step mark (the table itself is built once per run or diff). */
export function markStep(el: HTMLElement, step: number): void {
  for (const tr of el.querySelectorAll('tr.current')) {
    tr.classList.remove('current');
    tr.removeAttribute('aria-current');
  }
  const row = el.querySelector(`tr[data-step="${step}"]`);
  row?.classList.add('current');
  row?.setAttribute('aria-current', 'step');
  row?.scrollIntoView({ block: 'nearest' });
}

/** The current step's entry of the result JSON, exactly as `gupsim run --json` prints it. */
export function renderStepJson(el: HTMLElement, t: Timeline, step: number): void {
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

/** Counters over the steps: the two pin counters and one more item, a marker at the current step. */
export function renderChart(el: HTMLElement, t: Timeline, step: number, extra: string, go: (i: number) => void): void {
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
  series.forEach(([name, colour, vals], k) => {
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
  root.appendChild(svg('line', { x1: x(step), x2: x(step), y1: 10, y2: CHART_H - 20, stroke: '#0050d0' }));
  root.addEventListener('click', (e) => {
    const r = root.getBoundingClientRect();
    const px = ((e.clientX - r.left) * CHART_W) / r.width;
    go(Math.max(0, Math.min(n - 1, Math.round(((px - 40) * (n - 1)) / (CHART_W - 60)))));
  });
  const cur = t.steps[step]?.vmstat ?? {};
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
  const table = h(
    'table',
    { class: 'vmstat', 'data-testid': 'vmstat' },
    h('caption', {}, `vmstat after step ${step} (deltas since the start)`),
    h(
      'tbody',
      {},
      Object.entries(cur).map(([k, v]) => h('tr', {}, h('th', { scope: 'row' }, k), h('td', { 'data-vmstat': k }, v))),
    ),
  );
  fill(el, root, key, table);
}

function holderLine(hv: HolderView): string {
  const held = `${hv.pins} pin(s), ${hv.refs} reference(s)`;
  if (hv.closed) return `${hv.type} ${hv.name} (${hv.process}): released`;
  if (!hv.frames)
    return `${hv.type} ${hv.name} (${hv.process}): ${held}; frames not reported by the model for a ${hv.type}`;
  return (
    `${hv.type} ${hv.name} (${hv.process}): ${held}; ${hv.frames.length} frame(s), ` +
    `${hv.attached} still mapped by ${hv.process}`
  );
}

/** Handles at this step; choosing one outlines its frames on the maps. */
export function renderHandles(
  el: HTMLElement,
  t: Timeline,
  step: number,
  chosen: string | undefined,
  choose: (name: string | undefined) => void,
  go: (i: number) => void,
): void {
  const view = t.steps[step];
  if (!view) return;
  const parts = partings(t);
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
          disabled: !hv.frames,
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

/** WARN records and misuse records (when the result has them), up to this step. */
export function renderWarnings(el: HTMLElement, t: Timeline, step: number): void {
  const warns = t.result.warnings.filter((w) => w.step === undefined || w.step <= step);
  const misuse = (t.result as unknown as { misuse?: unknown }).misuse;
  const mis = Array.isArray(misuse)
    ? (misuse as Array<Record<string, unknown>>).filter((r) => typeof r.step !== 'number' || r.step <= step)
    : [];
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
            mis.map((r) =>
              h(
                'li',
                {},
                Object.entries(r)
                  .map(([k, v]) => `${k}: ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
                  .join(', '),
              ),
            ),
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
