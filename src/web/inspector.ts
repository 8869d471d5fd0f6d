// The page inspector: what `gupsim run` reports for an inspect step at this page (scenario/inspect.ts,
// the same code), the holders whose frames include it (gupsim's ledger), its state on the map, and
// the kernel's dump_page() text (mm/debug.ts). Fields the model adds to inspect show up as they come.

import { h, fill, hex } from './dom.js';
import { folioHolds, inspectPage, lookupPage } from '../scenario/inspect.js';
import { dump_page } from '../mm/debug.js';
import { PAGE_SIZE } from '../mm/memmap.js';
import { PAGE_STATE_NAMES } from '../scenario/pagemap.js';
import type { StateSource } from './machine_at.js';
import type { StepView } from '../scenario/timeline.js';

export interface Selection {
  process: string;
  region: string;
  page: number;
}

function value(v: unknown): string {
  if (v === null || v === undefined) return '-';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/** Fill `el` with the inspector for `sel` after step `step`. */
export function renderInspector(el: HTMLElement, source: StateSource, view: StepView, sel: Selection): void {
  const ctx = source.at(view.index);
  const p = ctx.m.process(sel.process);
  const r = ctx.regions.get(sel.region);
  if (!p || !r) {
    fill(el, h('p', {}, `${sel.process} ${sel.region}: not there after step ${view.index}`));
    return;
  }
  const addr = r.addr + sel.page * PAGE_SIZE;
  const holds = folioHolds(ctx.m, ctx.holders.values());
  const info = inspectPage(ctx.m, p, addr, sel.page, holds) as unknown as Record<string, unknown>;
  const rv = view.regions.find((x) => x.process === sel.process && x.region === sel.region);
  const state = rv ? PAGE_STATE_NAMES[rv.map.state[sel.page]!] : undefined;
  const rows = Object.entries(info).map(([k, v]) =>
    h(
      'tr',
      {},
      h('th', { scope: 'row' }, k),
      h('td', { 'data-field': k }, k === 'pfn' && typeof v === 'number' ? `${v} (${hex(v)})` : value(v)),
    ),
  );
  const pfn = typeof info.pfn === 'number' ? info.pfn : undefined;
  const held =
    pfn === undefined
      ? []
      : view.holders
          .map((hv) => ({ hv, n: hv.frames ? hv.frames.filter((f) => f === pfn).length : 0 }))
          .filter((x) => x.n > 0);
  const hit = p.alive ? lookupPage(p, addr) : undefined;
  fill(
    el,
    h(
      'h3',
      { id: 'inspector-title' },
      `${sel.process}: ${sel.region} page ${sel.page}, after step ${view.index}`,
      state ? h('span', { class: 'dim', 'data-testid': 'page-state' }, ` — ${state}`) : null,
    ),
    h('table', { class: 'fields', 'data-testid': 'inspect' }, h('tbody', {}, rows)),
    h('h4', {}, 'held by (gupsim ledger of handles)'),
    held.length
      ? h(
          'ul',
          { 'data-testid': 'held-by' },
          held.map(({ hv, n }) =>
            h(
              'li',
              {},
              `${hv.type} ${hv.name} (${hv.process}): ${n} ${hv.pins ? 'pin' : 'reference'} ` +
                `entr${n === 1 ? 'y' : 'ies'}`,
            ),
          ),
        )
      : h('p', { class: 'dim' }, 'no handle that reports its frames holds this page'),
    h('h4', {}, 'dump_page()'),
    h(
      'pre',
      { class: 'dump', 'data-testid': 'dump-page' },
      hit ? dump_page(ctx.m, hit.pfn) : 'not mapped: no page to dump',
    ),
  );
}
