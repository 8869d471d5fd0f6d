// One region's page map on a canvas (paint.ts), with what a screen reader or a keyboard needs: a
// focusable map whose arrow keys move a page cursor (Enter inspects it), a live description of the
// page under the cursor, and the map as text (runs of pages in the same state).

import { h } from './dom.js';
import { layout, paintMap, STATE_STYLES } from './paint.js';
import { PAGE_STATE_NAMES, PAGE_LARGE, PAGE_PMD_MAPPED, stateRuns } from '../scenario/pagemap.js';
import type { RegionView } from '../scenario/timeline.js';

const MAX_WIDTH = 1024;

export function describePage(rv: RegionView, page: number): string {
  const s = rv.map.state[page]!;
  const b = rv.map.bits[page]!;
  const pfn = rv.map.pfn[page]!;
  const parts = [`page ${page}: ${PAGE_STATE_NAMES[s]}`];
  if (pfn >= 0) parts.push(`pfn 0x${pfn.toString(16)}`);
  if (b & PAGE_LARGE) parts.push('in a large folio');
  if (b & PAGE_PMD_MAPPED) parts.push('PMD-mapped');
  return parts.join(', ');
}

export class MapView {
  readonly el: HTMLElement;
  private readonly canvas: HTMLCanvasElement;
  private readonly live: HTMLElement;
  private readonly text: HTMLElement;
  private readonly status: HTMLElement;
  private rv: RegionView;
  private marked: Uint8Array | undefined;
  private painted: { map: unknown; marked: unknown; cursor: number } | undefined;
  private cols = 1;
  private cell = 1;
  /** On screen (IntersectionObserver): maps scrolled away are painted when they come back. */
  private visible = typeof IntersectionObserver !== 'function';
  private described: unknown;
  cursor = 0;

  constructor(
    rv: RegionView,
    private readonly onInspect: (rv: RegionView, page: number) => void,
  ) {
    this.rv = rv;
    const label = `${rv.process}: ${rv.region}`;
    this.canvas = h('canvas', {
      tabindex: 0,
      role: 'img',
      class: 'pagemap',
      'data-process': rv.process,
      'data-region': rv.region,
      'aria-label': `page map of ${label}, ${rv.pages} pages; arrow keys move, Enter inspects, Escape leaves`,
    });
    this.live = h('div', { class: 'map-cursor', 'aria-live': 'polite' });
    this.text = h('ul', { class: 'map-text' });
    this.status = h('span', { class: 'warn' });
    this.el = h(
      'section',
      { class: 'region', 'data-key': `${rv.process}/${rv.region}` },
      h(
        'h4',
        {},
        `${label} `,
        h('span', { class: 'dim' }, `${rv.pages} pages at 0x${rv.addr.toString(16)} `),
        this.status,
      ),
      this.canvas,
      this.live,
      h('details', { class: 'map-alt' }, h('summary', {}, 'the map as text'), this.text),
    );
    this.canvas.addEventListener('click', (e) => {
      const r = this.canvas.getBoundingClientRect();
      const x = Math.floor(((e.clientX - r.left) * this.canvas.width) / r.width / this.cell);
      const y = Math.floor(((e.clientY - r.top) * this.canvas.height) / r.height / this.cell);
      const page = y * this.cols + x;
      if (x < this.cols && page < this.rv.pages) this.select(page);
    });
    this.canvas.addEventListener('keydown', (e) => this.key(e));
    const alt = this.el.querySelector('details')!;
    alt.addEventListener('toggle', () => this.describe());
    if (typeof IntersectionObserver === 'function') {
      new IntersectionObserver((entries) => {
        this.visible = entries.some((e) => e.isIntersecting);
        if (this.visible) this.paint();
      }).observe(this.canvas);
    }
    this.update(rv, undefined);
  }

  private key(e: KeyboardEvent): void {
    const moves: Record<string, number> = {
      ArrowRight: 1,
      ArrowLeft: -1,
      ArrowDown: this.cols,
      ArrowUp: -this.cols,
      PageDown: this.cols * 8,
      PageUp: -this.cols * 8,
    };
    if (e.key in moves) {
      this.cursor = Math.min(this.rv.pages - 1, Math.max(0, this.cursor + moves[e.key]!));
      this.live.textContent = describePage(this.rv, this.cursor);
      this.paint();
    } else if (e.key === 'Enter' || e.key === ' ') this.select(this.cursor);
    else if (e.key === 'Escape') document.getElementById('controls')?.focus();
    else return;
    e.preventDefault();
    e.stopPropagation();
  }

  select(page: number): void {
    this.cursor = page;
    this.live.textContent = describePage(this.rv, page);
    this.paint();
    this.onInspect(this.rv, page);
  }

  /** Show the region after another step (repaints only when the map or the marks changed). */
  update(rv: RegionView, marked: Uint8Array | undefined): void {
    this.rv = rv;
    this.marked = marked;
    this.status.textContent =
      rv.status === 'exited' ? `(${rv.process} has exited)` : rv.status === 'unmapped' ? '(unmapped)' : '';
    if (this.cursor >= rv.pages) this.cursor = 0;
    if (this.live.textContent) this.live.textContent = describePage(rv, this.cursor);
    const { cols, cell, rows } = layout(rv.pages, MAX_WIDTH);
    this.cols = cols;
    this.cell = cell;
    this.canvas.dataset.cols = String(cols);
    this.canvas.dataset.cell = String(cell);
    if (this.canvas.width !== cols * cell) this.canvas.width = cols * cell;
    if (this.canvas.height !== rows * cell) this.canvas.height = rows * cell;
    if (this.visible) this.paint();
    if (this.text.closest('details')?.open) this.describe();
  }

  private paint(): void {
    const p = this.painted;
    if (p && p.map === this.rv.map && p.marked === this.marked && p.cursor === this.cursor) return;
    const { cols, cell } = this;
    const width = this.canvas.width;
    const height = this.canvas.height;
    const ctx = this.canvas.getContext('2d');
    if (!ctx) return;
    const img = ctx.createImageData(width, height);
    paintMap(this.rv.map, cols, cell, new Uint32Array(img.data.buffer), this.marked);
    ctx.putImageData(img, 0, 0);
    // The keyboard cursor: a ring around the page.
    ctx.strokeStyle = '#0050d0';
    ctx.lineWidth = Math.max(1, Math.min(2, cell / 4));
    const x = (this.cursor % cols) * cell;
    const y = Math.floor(this.cursor / cols) * cell;
    if (document.activeElement === this.canvas || this.painted) ctx.strokeRect(x + 0.5, y + 0.5, cell - 1, cell - 1);
    this.painted = { map: this.rv.map, marked: this.marked, cursor: this.cursor };
  }

  /** The text alternative: runs of pages in one state (at most 200 lines, then a count). */
  private describe(): void {
    if (this.described === this.rv.map) return;
    this.described = this.rv.map;
    const runs = stateRuns(this.rv.map);
    const items = runs
      .slice(0, 200)
      .map(([first, n, s]) =>
        h(
          'li',
          { 'data-state': PAGE_STATE_NAMES[s]! },
          n === 1 ? `page ${first}: ` : `pages ${first}-${first + n - 1}: `,
          `${PAGE_STATE_NAMES[s]} (${STATE_STYLES[s]!.patternName})`,
        ),
      );
    if (runs.length > 200) items.push(h('li', {}, `... ${runs.length - 200} more runs`));
    this.text.replaceChildren(...items);
  }
}

/** The legend: each state's colour and pattern, drawn with the same painter, and its name. */
export function legend(): HTMLElement {
  const items = PAGE_STATE_NAMES.map((name, s) => {
    const c = h('canvas', { width: 28, height: 14, class: 'swatch', 'aria-hidden': 'true' });
    const ctx = c.getContext('2d');
    if (ctx) {
      const img = ctx.createImageData(28, 14);
      const px = new Uint32Array(img.data.buffer);
      const st = new Uint8Array(2).fill(s);
      paintMap({ state: st, bits: new Uint8Array(2), pfn: new Int32Array(2) }, 2, 14, px);
      ctx.putImageData(img, 0, 0);
    }
    return h('li', {}, c, ` ${name} `, h('span', { class: 'dim' }, `(${STATE_STYLES[s]!.patternName})`));
  });
  return h(
    'ul',
    { class: 'legend' },
    items,
    h('li', {}, h('span', { class: 'edge-swatch', 'aria-hidden': 'true' }), ' dark left edge: a large folio starts'),
    h(
      'li',
      {},
      h('span', { class: 'mark-swatch', 'aria-hidden': 'true' }),
      ' black outline: frames of the chosen handle',
    ),
  );
}
