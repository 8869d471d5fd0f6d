// One region's page map on a canvas (paint.ts), with what a screen reader or a keyboard needs: a
// focusable map whose arrow keys move a page cursor (Enter inspects it), a live description of the
// page under the cursor, and the map as text (runs of pages in the same state). The map is a live one
// (compact.ts MapStore) told which pages each step changed: only their rows are painted again.

import { h } from './dom.js';
import { layout, paintMap, paintRows, STATE_STYLES } from './paint.js';
import { PAGE_STATE_NAMES, PAGE_LARGE, PAGE_PMD_MAPPED, stateRuns } from '../scenario/page_states.js';
import type { PageRegion } from './compact.js';

/** No cursor ring drawn. */
const NO_CURSOR = -1;

export function describePage(rv: PageRegion, page: number): string {
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
  private rv: PageRegion;
  private marked: Uint8Array | undefined;
  private readonly cols: number;
  private readonly cell: number;
  private readonly rows: number;
  /** The pixels as last painted: only the rows a step changes are painted again. */
  private img: ImageData | undefined;
  /** Cell rows to paint again, and whether all are. */
  private readonly dirty: Uint8Array;
  private dirtyAll = true;
  /** Where the cursor ring was drawn (NO_CURSOR: not drawn), and whether to draw it. */
  private ringAt = NO_CURSOR;
  private ringShown = false;
  /** On screen (IntersectionObserver): maps scrolled away are painted when they come back. */
  private visible = typeof IntersectionObserver !== 'function';
  /** Bumped by every change of the map, so the text alternative knows when it is stale. */
  private version = 0;
  private described = -1;
  cursor = 0;

  constructor(
    rv: PageRegion,
    private readonly onInspect: (rv: PageRegion, page: number) => void,
  ) {
    this.rv = rv;
    const label = `${rv.process}: ${rv.region}`;
    const { cols, cell, rows } = layout(rv.pages);
    this.cols = cols;
    this.cell = cell;
    this.rows = rows;
    this.dirty = new Uint8Array(rows);
    this.canvas = h('canvas', {
      tabindex: 0,
      role: 'img',
      class: 'pagemap',
      width: cols * cell,
      height: rows * cell,
      'data-process': rv.process,
      'data-region': rv.region,
      'data-cols': cols,
      'data-cell': cell,
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
    this.canvas.addEventListener('focus', () => {
      this.ringShown = true;
      this.paint();
    });
    const alt = this.el.querySelector('details')!;
    alt.addEventListener('toggle', () => this.describe());
    if (typeof IntersectionObserver === 'function') {
      new IntersectionObserver((entries) => {
        this.visible = entries.some((e) => e.isIntersecting);
        if (this.visible) this.paint();
      }).observe(this.canvas);
    }
    this.update(rv, undefined, 'all');
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
      this.ringShown = true;
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
    this.ringShown = true;
    this.paint();
    this.onInspect(this.rv, page);
  }

  /** Mark the cell rows of pages [first, first + n) for painting. */
  private touch(first: number, n: number): void {
    if (this.dirtyAll || n <= 0) return;
    const a = Math.max(0, Math.floor(first / this.cols));
    const b = Math.min(this.rows - 1, Math.floor((first + n - 1) / this.cols));
    this.dirty.fill(1, a, b + 1);
  }

  /**
   * Show the region after another step: `changed` says which pages moved (runs of start, length, or
   * 'all'); only their rows, and those whose marks changed, are painted again.
   */
  update(rv: PageRegion, marked: Uint8Array | undefined, changed: number[] | 'all' | undefined): void {
    this.rv = rv;
    if (changed === 'all') this.dirtyAll = true;
    else if (changed) for (let r = 0; r < changed.length; r += 2) this.touch(changed[r]!, changed[r + 1]!);
    if (changed) this.version++;
    const was = this.marked;
    if (was !== marked) {
      for (let i = 0; i < rv.pages; i++)
        if ((was?.[i] ?? 0) !== (marked?.[i] ?? 0)) {
          const row = Math.floor(i / this.cols);
          this.dirty[row] = 1;
          i = (row + 1) * this.cols - 1;
        }
      this.marked = marked;
    }
    this.status.textContent =
      rv.status === 'exited' ? `(${rv.process} has exited)` : rv.status === 'unmapped' ? '(unmapped)' : '';
    if (this.live.textContent) this.live.textContent = describePage(rv, this.cursor);
    if (this.visible) this.paint();
    if (this.text.closest('details')?.open) this.describe();
  }

  private paint(): void {
    const ctx = this.canvas.getContext('2d');
    if (!ctx) return;
    const width = this.canvas.width;
    if (!this.img) {
      this.img = ctx.createImageData(width, this.canvas.height);
      this.dirtyAll = true;
    }
    const ring = this.ringShown || document.activeElement === this.canvas ? this.cursor : NO_CURSOR;
    if (ring !== this.ringAt && this.ringAt !== NO_CURSOR) {
      // The old ring's row and its neighbours (a 2-pixel ring can bleed over the cell's edge).
      this.touch(this.ringAt - this.cols, 1);
      this.touch(this.ringAt, 1);
      this.touch(this.ringAt + this.cols, 1);
    }
    if (this.dirtyAll) this.dirty.fill(1);
    this.dirtyAll = false;
    const px = new Uint32Array(this.img.data.buffer);
    let redrawn = false;
    for (let a = 0; a < this.rows; a++) {
      if (!this.dirty[a]) continue;
      let b = a;
      while (b < this.rows && this.dirty[b]) b++;
      paintRows(this.rv.map, this.cols, this.cell, px, a, b, this.marked);
      ctx.putImageData(this.img, 0, 0, 0, a * this.cell, width, (b - a) * this.cell);
      this.dirty.fill(0, a, b);
      const ringRow = Math.floor(ring / this.cols);
      if (ring !== NO_CURSOR && ringRow >= a - 1 && ringRow <= b) redrawn = true;
      a = b;
    }
    if (ring !== NO_CURSOR && (redrawn || ring !== this.ringAt)) {
      // The keyboard cursor: a ring around the page, drawn over the pixels.
      const cell = this.cell;
      ctx.strokeStyle = '#0050d0';
      ctx.lineWidth = Math.max(1, Math.min(2, cell / 4));
      const x = (ring % this.cols) * cell;
      const y = Math.floor(ring / this.cols) * cell;
      ctx.strokeRect(x + 0.5, y + 0.5, cell - 1, cell - 1);
    }
    this.ringAt = ring;
  }

  /** The text alternative: runs of pages in one state (at most 200 lines, then a count). */
  private describe(): void {
    if (this.described === this.version) return;
    this.described = this.version;
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
      ' black outline (a black top line on small cells): frames of the chosen handle',
    ),
  );
}
