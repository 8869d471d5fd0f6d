// The playground's entry: the examples (bundled from examples/ at build time, so the page needs no
// network), then the app.

import { parse } from 'yaml';
import { App, type Example } from './app.js';
import { ExperimentsView } from './experiments_view.js';
import { byId } from './dom.js';
import { layout, paintMap } from './paint.js';
import { PAGE_STATE_NAMES, PAGE_FOLIO_HEAD, PAGE_LARGE } from '../scenario/page_states.js';

const files = import.meta.glob('../../examples/*.yaml', { query: '?raw', import: 'default', eager: true }) as Record<
  string,
  string
>;

function examples(): Example[] {
  const out = Object.entries(files).map(([path, text]) => {
    const file = path.replace(/^.*\//, '');
    let description = '';
    try {
      description = String((parse(text) as { description?: unknown })?.description ?? '').trim();
    } catch {
      // An example that does not parse still opens; the editor shows why.
    }
    return { file, name: file.replace(/\.ya?ml$/, ''), text, description };
  });
  // The claims of pin_user_pages.rst first, then the consumers, then the live-kernel probes.
  const rank = (e: Example) => (e.file.startsWith('doc-') ? 0 : e.file.startsWith('probe-') ? 2 : 1);
  return out.sort((a, b) => rank(a) - rank(b) || a.file.localeCompare(b.file));
}

const app = new App(examples());
void app.start();
(window as unknown as { gupsim: App }).gupsim = app;

// The two views: scenarios (the app) and experiments (made when first shown).
let experiments: ExperimentsView | undefined;
function showView(name: 'scenarios' | 'experiments'): void {
  for (const v of ['scenarios', 'experiments'] as const) {
    byId(`${v}-view`).hidden = v !== name;
    byId(`view-${v}`).setAttribute('aria-pressed', String(v === name));
  }
  byId('scenario-toolbar').hidden = name !== 'scenarios';
  if (name === 'experiments') experiments ??= new ExperimentsView(byId('experiments'));
}
byId('view-scenarios').addEventListener('click', () => showView('scenarios'));
byId('view-experiments').addEventListener('click', () => showView('experiments'));

/**
 * For `npm run bench:web`: paint a synthetic map of `pages` pages (every state, large folios) on an
 * offscreen canvas the way a region's map is painted, and return the milliseconds it took.
 */
function benchPaint(pages: number): number {
  const state = new Uint8Array(pages);
  const bits = new Uint8Array(pages);
  for (let i = 0; i < pages; i++) {
    state[i] = (i >> 9) % PAGE_STATE_NAMES.length;
    bits[i] = i % 512 === 0 ? PAGE_FOLIO_HEAD | PAGE_LARGE : PAGE_LARGE;
  }
  const map = { state, bits, pfn: new Int32Array(pages) };
  const t0 = performance.now();
  const { cols, cell, rows } = layout(pages);
  const canvas = document.createElement('canvas');
  canvas.width = cols * cell;
  canvas.height = rows * cell;
  const ctx = canvas.getContext('2d')!;
  const img = ctx.createImageData(canvas.width, canvas.height);
  paintMap(map, cols, cell, new Uint32Array(img.data.buffer));
  ctx.putImageData(img, 0, 0);
  return performance.now() - t0;
}
(window as unknown as { gupsimBench: unknown }).gupsimBench = { paint: benchPaint };
