// The page map's pixels: one cell per page, a colour and a pattern per state (so the map reads
// without colour too), folio boundaries as a dark left edge, a holder's frames outlined. Pure: it
// fills an RGBA pixel buffer (ImageData's), so the bench measures exactly what the page draws.

import { PageState, PAGE_FOLIO_HEAD, PAGE_LARGE, type RegionMap } from '../scenario/page_states.js';

/** Fill colour and pattern per state: pattern bits are a 4x4 tile, 1 = the darker ink. */
export interface StateStyle {
  fill: string;
  ink: string;
  /** 16 bits, row-major 4x4: where the ink shows. */
  pattern: number;
  /** What the pattern looks like, for the legend's text. */
  patternName: string;
}

const SOLID = 0x0000;
const DIAG = 0b1000_0100_0010_0001; // \ stripes
const ANTI = 0b0001_0010_0100_1000; // / stripes
const DOTS = 0b0000_0100_0000_0001;
const CROSS = DIAG | ANTI;
const HORIZ = 0b0000_0000_1111_0000;
const VERT = 0b0100_0100_0100_0100;
const CHECK = 0b1010_0101_1010_0101;
const GRID = 0b1111_1000_1000_1000;

export const STATE_STYLES: Record<number, StateStyle> = {
  [PageState.NOT_PRESENT]: { fill: '#f2f2f2', ink: '#dddddd', pattern: SOLID, patternName: 'plain' },
  [PageState.ZERO]: { fill: '#ffffff', ink: '#9a9a9a', pattern: DOTS, patternName: 'dots' },
  [PageState.HUGE_ZERO]: { fill: '#ffffff', ink: '#6d6d6d', pattern: GRID, patternName: 'grid' },
  [PageState.ANON_EXCLUSIVE]: { fill: '#7fb3e6', ink: '#4f86bf', pattern: SOLID, patternName: 'solid' },
  [PageState.ANON_SHARED]: { fill: '#b9d7f2', ink: '#3f77b0', pattern: ANTI, patternName: '/ stripes' },
  [PageState.PINNED]: { fill: '#e8553f', ink: '#8f1d0e', pattern: CROSS, patternName: 'cross-hatch' },
  [PageState.FALSE_POSITIVE]: { fill: '#f5b342', ink: '#9b5f00', pattern: CHECK, patternName: 'checks' },
  [PageState.CACHE_CLEAN]: { fill: '#9ed49a', ink: '#5c9c57', pattern: SOLID, patternName: 'solid' },
  [PageState.CACHE_DIRTY]: { fill: '#c7e6a4', ink: '#3d7d22', pattern: HORIZ, patternName: 'bars' },
  [PageState.CACHE_WRITEBACK]: { fill: '#d8f0c2', ink: '#2f6b1a', pattern: VERT, patternName: 'columns' },
  [PageState.PFNMAP]: { fill: '#c9b3e6', ink: '#6b4a9c', pattern: DIAG, patternName: '\\ stripes' },
};

/** '#rrggbb' as a little-endian RGBA word (ImageData's byte order on every browser in use). */
function rgba(hex: string): number {
  const v = parseInt(hex.slice(1), 16);
  return (0xff << 24) | ((v & 0xff) << 16) | (v & 0xff00) | ((v >> 16) & 0xff);
}

const TILE = 4;
const TILE_PIXELS = TILE * TILE;
/** Per state, its 4x4 tile of final colours: a pixel is one table lookup. */
const TILES = new Uint32Array(16 * TILE_PIXELS);
for (const [k, st] of Object.entries(STATE_STYLES)) {
  for (let b = 0; b < TILE_PIXELS; b++)
    TILES[Number(k) * TILE_PIXELS + b] = rgba(st.pattern & (1 << b) ? st.ink : st.fill);
}
const EDGE = rgba('#222222');
const MARK = rgba('#000000');
const SEAM = rgba('#ffffff');

/**
 * A map's canvas at most this wide: about what the page's column shows, so no pixel is painted (and
 * copied to the screen at every change) only to be scaled away.
 */
export const MAP_MAX_WIDTH = 768;
/** ... and at most this high. */
export const MAP_MAX_HEIGHT = 1024;

/** Cells per row and cell size for a map of `pages` pages, at most `maxWidth` pixels wide. */
export function layout(pages: number, maxWidth = MAP_MAX_WIDTH): { cols: number; cell: number; rows: number } {
  // Big cells for small regions (the pattern shows inside each cell), down to 1 px for huge ones
  // (there a pattern spans neighbouring pages: a run of pages in one state still shows it).
  let cell = pages <= 64 ? 24 : 14;
  while (cell > 1 && Math.ceil(pages / Math.floor(maxWidth / cell)) * cell > MAP_MAX_HEIGHT) cell--;
  const cols = Math.max(1, Math.min(pages, Math.floor(maxWidth / cell)));
  return { cols, cell, rows: Math.ceil(pages / cols) };
}

/**
 * Paint the map into `px` (width = cols * cell pixels, RGBA words). `marked`, when given, outlines
 * the pages whose entry is non-zero (a holder's frames).
 */
export function paintMap(map: RegionMap, cols: number, cell: number, px: Uint32Array, marked?: Uint8Array): void {
  paintRows(map, cols, cell, px, 0, Math.ceil(map.state.length / cols), marked);
}

/**
 * Paint the cell rows [rowFrom, rowTo) of the map into `px`, which holds the whole map (width =
 * cols * cell pixels): what a step changed, without repainting the rest.
 */
export function paintRows(
  map: RegionMap,
  cols: number,
  cell: number,
  px: Uint32Array,
  rowFrom: number,
  rowTo: number,
  marked?: Uint8Array,
): void {
  const width = cols * cell;
  const n = map.state.length;
  const state = map.state;
  for (let row = rowFrom; row < rowTo; row++) {
    const first = row * cols;
    const last = Math.min(n, first + cols);
    for (let yy = 0; yy < cell; yy++) {
      const y = row * cell + yy;
      const tileRow = (y & (TILE - 1)) * TILE;
      let o = y * width;
      // Page by page, each a run of `cell` pixels from its state's tile row.
      for (let i = first, x = 0; i < last; i++) {
        const base = state[i]! * TILE_PIXELS + tileRow;
        for (let k = 0; k < cell; k++, x++) px[o++] = TILES[base + (x & (TILE - 1))]!;
      }
      // Past the last page of the last row: transparent.
      px.fill(0, o, (y + 1) * width);
    }
  }
  // Then what only some pages have: seams between big cells, folio edges, outlines.
  const seam = cell >= 6;
  const bits = map.bits;
  const end = Math.min(n, rowTo * cols);
  for (let i = rowFrom * cols; i < end; i++) {
    const edge = (bits[i]! & (PAGE_FOLIO_HEAD | PAGE_LARGE)) === (PAGE_FOLIO_HEAD | PAGE_LARGE);
    const mark = marked !== undefined && marked[i] !== 0;
    if (!seam && !edge && !mark) continue;
    const x0 = (i % cols) * cell;
    const y0 = ((i / cols) | 0) * cell;
    if (seam) {
      const lastLine = (y0 + cell - 1) * width;
      for (let x = x0; x < x0 + cell; x++) px[lastLine + x] = SEAM;
      for (let y = y0; y < y0 + cell; y++) px[y * width + x0 + cell - 1] = SEAM;
    }
    if (edge) for (let y = y0; y < y0 + cell - (seam ? 1 : 0); y++) px[y * width + x0] = EDGE;
    if (mark && cell < 4) {
      // Too small for an outline: the cell's top line in black (the whole cell at 1 pixel).
      for (let x = x0; x < x0 + cell; x++) px[y0 * width + x] = MARK;
    } else if (mark) {
      const r = x0 + cell - 2;
      for (let x = x0; x <= r; x++) {
        px[y0 * width + x] = MARK;
        px[(y0 + cell - 2) * width + x] = MARK;
      }
      for (let y = y0; y <= y0 + cell - 2; y++) {
        px[y * width + x0] = MARK;
        px[y * width + r] = MARK;
      }
    }
  }
}
