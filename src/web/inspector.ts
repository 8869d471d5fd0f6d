// The page inspector: what `gupsim run` reports for an inspect step at this page (scenario/inspect.ts,
// the same code, run in the worker on the machine after the step: machine_at.ts), with its _refcount
// broken down by holder (gupsim's ledger of handles), the page's state on the map, and the kernel's
// dump_page() text (mm/debug.ts). Fields the model adds to inspect show up as they come.

import { h, fill, hex } from './dom.js';
import type { RefcountParts } from '../scenario/inspect.js';
import { PAGE_STATE_NAMES } from '../scenario/page_states.js';
import type { PageRegion } from './compact.js';
import type { InspectReply, Selection } from './protocol.js';

export type { Selection };

/** The breakdown of a folio's _refcount in words: "= 1 mapping + 1024 handle refs (...) + ...". */
export function partsText(p: RefcountParts): string {
  const terms = [`${p.mappings} mapping${p.mappings === 1 ? '' : 's'}`];
  if (p.page_cache) terms.push(`${p.page_cache} page cache`);
  if (p.buffers) terms.push(`${p.buffers} buffer heads`);
  for (const x of p.holders)
    terms.push(`${x.refcount} ${x.type} ${x.handle} (${x.pins} pin unit(s), ${x.refs} reference(s))`);
  if (p.lru_batch) terms.push(`${p.lru_batch} LRU batch`);
  if (p.unattributed) terms.push(`${p.unattributed} unattributed`);
  return `= ${terms.join(' + ')}`;
}

/** A field's value as the inspector writes it. */
export function fieldText(k: string, v: unknown, present: boolean): string {
  if (k === 'pincount' && v === null && present)
    return 'null (a small folio has no _pincount: its pins count in _refcount)';
  if (v === null || v === undefined) return '-';
  if (k === 'pfn' && typeof v === 'number') return `${v} (${hex(v)})`;
  if (k === 'refcount_parts' && typeof v === 'object') return partsText(v as RefcountParts);
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/** While the worker reads the page: the title, and that it is on its way. */
export function renderInspectorPending(el: HTMLElement, sel: Selection, step: number): void {
  fill(
    el,
    h('h3', { id: 'inspector-title', 'aria-busy': 'true' }, `${sel.process}: ${sel.region} page ${sel.page}`),
    h('p', { class: 'dim' }, `reading the machine after step ${step}...`),
  );
}

/** Fill `el` with the worker's answer for `r.sel` after step `r.step`; `rv` is the region's map there. */
export function renderInspector(el: HTMLElement, r: InspectReply, rv: PageRegion | undefined): void {
  const { sel } = r;
  if (!r.info) {
    fill(el, h('p', {}, r.missing ?? `${sel.process} ${sel.region}: nothing to show`));
    return;
  }
  const info = r.info as unknown as Record<string, unknown>;
  const state = rv ? PAGE_STATE_NAMES[rv.map.state[sel.page]!] : undefined;
  const rows = Object.entries(info).map(([k, v]) =>
    h(
      'tr',
      {},
      h('th', { scope: 'row' }, k),
      h('td', { 'data-field': k, 'data-json': JSON.stringify(v) }, fieldText(k, v, r.info!.present)),
    ),
  );
  const holders = r.info.refcount_parts?.holders ?? [];
  fill(
    el,
    h(
      'h3',
      { id: 'inspector-title' },
      `${sel.process}: ${sel.region} page ${sel.page}, after step ${r.step}`,
      state ? h('span', { class: 'dim', 'data-testid': 'page-state' }, ` — ${state}`) : null,
    ),
    h('table', { class: 'fields', 'data-testid': 'inspect' }, h('tbody', {}, rows)),
    h('h4', {}, "held by (gupsim's ledger of handles: each one's share of the folio's _refcount)"),
    holders.length
      ? h(
          'ul',
          { 'data-testid': 'held-by' },
          holders.map((x) =>
            h(
              'li',
              { 'data-holder': x.handle },
              `${x.type} ${x.handle}: ${x.pins} pin unit(s), ${x.refs} reference(s) on this folio ` +
                `(${x.refcount} of its _refcount)`,
            ),
          ),
        )
      : h('p', { class: 'dim' }, 'no handle holds this folio'),
    h('h4', {}, 'dump_page()'),
    h('pre', { class: 'dump', 'data-testid': 'dump-page' }, r.dump ?? 'not mapped: no page to dump'),
  );
}
