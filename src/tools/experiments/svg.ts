// A small SVG line-plot writer for the experiments' reports: axes (linear or log2), ticks and grid,
// one path per series, a legend. Readable without colour: every series also has its own dash pattern
// and marker shape, drawn in the legend too. Output is deterministic (fixed decimals) so a report can
// be compared byte for byte with the one committed under docs/.

import type { Axis, Plot, Series } from './types.js';

const WIDTH = 720;
const PLOT_TOP = 44;
const PLOT_LEFT = 84;
const PLOT_RIGHT = 24;
const PLOT_HEIGHT = 300;
/** Below the plot area: tick labels and the x axis label. */
const AXIS_SPACE = 56;
const LEGEND_ROW = 20;
const MAX_TICKS = 8;
/** Markers drawn per series at most (on a long series, evenly spread along it). */
const MAX_MARKERS = 10;

type Marker = 'circle' | 'square' | 'triangle' | 'diamond' | 'cross' | 'plus' | 'x' | 'invtriangle';

interface Style {
  color: string;
  dash: string;
  marker: Marker;
}

const STYLES: Style[] = [
  { color: '#000000', dash: '', marker: 'circle' },
  { color: '#1f4e9c', dash: '8 4', marker: 'square' },
  { color: '#b22222', dash: '2 3', marker: 'triangle' },
  { color: '#2e7d32', dash: '10 3 2 3', marker: 'diamond' },
  { color: '#6a1b9a', dash: '4 2', marker: 'cross' },
  { color: '#e65100', dash: '1 2', marker: 'plus' },
  { color: '#00695c', dash: '12 4', marker: 'x' },
  { color: '#5d4037', dash: '6 2 1 2 1 2', marker: 'invtriangle' },
];

function styleOf(i: number): Style {
  return STYLES[i % STYLES.length]!;
}

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

const f1 = (v: number) => (Math.round(v * 10) / 10).toFixed(1);

/** A tick label: SI suffixes for big numbers, at most three significant digits. */
export function tickLabel(v: number): string {
  const a = Math.abs(v);
  const units: Array<[number, string]> = [
    [1e9, 'G'],
    [1e6, 'M'],
    [1e3, 'k'],
  ];
  for (const [u, s] of units) if (a >= u) return `${trimNum(v / u)}${s}`;
  return trimNum(v);
}

function trimNum(v: number): string {
  if (Number.isInteger(v)) return String(v);
  return String(Number(v.toPrecision(3)));
}

/** 1, 2 or 5 times a power of ten, at least `raw`. */
function niceStep(raw: number): number {
  if (!(raw > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(raw));
  for (const k of [1, 2, 5, 10]) if (k * p >= raw) return k * p;
  return 10 * p;
}

interface Scale {
  /** Value to pixel offset within [0, length]. */
  map(v: number): number;
  ticks: Array<{ v: number; label: string; exp?: number }>;
}

function extent(series: Series[], pick: 0 | 1, log: boolean): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const s of series)
    for (const p of s.points) {
      const v = p[pick];
      if (log && !(v > 0)) continue;
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
  if (lo === Infinity) return log ? [1, 2] : [0, 1];
  return [lo, hi];
}

function makeScale(axis: Axis, series: Series[], pick: 0 | 1, length: number, flip: boolean): Scale {
  if (axis.categories) {
    // Named positions with half a step of room on either side.
    const n = axis.categories.length;
    const map = (v: number) => {
      const t = (v + 0.5) / n;
      return (flip ? 1 - t : t) * length;
    };
    return { map, ticks: axis.categories.map((label, v) => ({ v, label })) };
  }
  const log = axis.scale === 'log2';
  let [lo, hi] = extent(series, pick, log);
  if (axis.min !== undefined) lo = axis.min;
  if (axis.max !== undefined) hi = axis.max;
  if (log) {
    let a = Math.floor(Math.log2(lo));
    let b = Math.ceil(Math.log2(hi));
    if (a === b) b = a + 1;
    const every = Math.max(1, Math.ceil((b - a) / MAX_TICKS));
    a -= ((a % every) + every) % every;
    b = a + Math.ceil((b - a) / every) * every;
    const ticks = [];
    for (let e = a; e <= b; e += every) ticks.push({ v: 2 ** e, label: '2', exp: e });
    const map = (v: number) => {
      const t = (Math.log2(v) - a) / (b - a);
      return (flip ? 1 - t : t) * length;
    };
    return { map, ticks };
  }
  if (lo === hi) {
    lo = lo === 0 ? 0 : lo - Math.abs(lo) / 2;
    hi = hi === 0 ? 1 : hi + Math.abs(hi) / 2;
  }
  const step = niceStep((hi - lo) / (MAX_TICKS - 2));
  const a = axis.min !== undefined ? lo : Math.floor(lo / step) * step;
  const b = axis.max !== undefined ? hi : Math.ceil(hi / step) * step;
  const ticks = [];
  for (let v = Math.ceil(a / step) * step; v <= b + step / 1e6; v += step) {
    const r = Math.round(v / step) * step;
    ticks.push({ v: r, label: tickLabel(r) });
  }
  const map = (v: number) => {
    const t = (v - a) / (b - a);
    return (flip ? 1 - t : t) * length;
  };
  return { map, ticks };
}

function markerPath(kind: Marker, x: number, y: number, color: string): string {
  const r = 4;
  const common = `fill="#ffffff" stroke="${color}" stroke-width="1.5"`;
  const polygon = (...pts: Array<[number, number]>) =>
    `<path d="M${pts.map(([px, py]) => `${f1(px)} ${f1(py)}`).join('L')}Z" ${common}/>`;
  switch (kind) {
    case 'circle':
      return `<circle cx="${f1(x)}" cy="${f1(y)}" r="${r}" ${common}/>`;
    case 'square':
      return `<rect x="${f1(x - r)}" y="${f1(y - r)}" width="${2 * r}" height="${2 * r}" ${common}/>`;
    case 'triangle':
      return polygon([x, y - r - 1], [x + r + 1, y + r], [x - r - 1, y + r]);
    case 'invtriangle':
      return polygon([x, y + r + 1], [x + r + 1, y - r], [x - r - 1, y - r]);
    case 'diamond':
      return polygon([x, y - r - 1], [x + r + 1, y], [x, y + r + 1], [x - r - 1, y]);
    case 'cross':
    case 'x':
      return (
        `<path d="M${f1(x - r)} ${f1(y - r)}L${f1(x + r)} ${f1(y + r)}M${f1(x - r)} ${f1(y + r)}L${f1(x + r)} ` +
        `${f1(y - r)}" stroke="${color}" stroke-width="${kind === 'x' ? 1.5 : 2.5}" fill="none"/>`
      );
    case 'plus':
      return (
        `<path d="M${f1(x - r - 1)} ${f1(y)}L${f1(x + r + 1)} ${f1(y)}M${f1(x)} ${f1(y - r - 1)}L${f1(x)} ` +
        `${f1(y + r + 1)}" stroke="${color}" stroke-width="2" fill="none"/>`
      );
  }
}

/** Indices of the points that get a marker: all of a short series, else evenly spread (phase per series). */
function markerIndices(n: number, seriesIndex: number): number[] {
  if (n <= MAX_MARKERS + 2) return Array.from({ length: n }, (_, i) => i);
  const out: number[] = [];
  const step = (n - 1) / MAX_MARKERS;
  const phase = ((seriesIndex * 0.37) % 1) * step;
  for (let k = 0; k < MAX_MARKERS; k++) out.push(Math.min(n - 1, Math.round(k * step + phase)));
  return out;
}

/** The plot as a standalone SVG document; `key` makes its element ids unique in a page of several plots. */
export function renderSvg(plot: Plot, key: string = plot.id): string {
  const plotW = WIDTH - PLOT_LEFT - PLOT_RIGHT;
  const legendTop = PLOT_TOP + PLOT_HEIGHT + AXIS_SPACE;
  const height = legendTop + plot.series.length * LEGEND_ROW + 12;
  const xs = makeScale(plot.x, plot.series, 0, plotW, false);
  const ys = makeScale(plot.y, plot.series, 1, PLOT_HEIGHT, true);
  const X = (v: number) => PLOT_LEFT + xs.map(v);
  const Y = (v: number) => PLOT_TOP + ys.map(v);
  const xLog = plot.x.scale === 'log2';
  const yLog = plot.y.scale === 'log2';
  const out: string[] = [];
  const title = escapeXml(plot.title);
  // Ids unique per plot, so several plots can sit inline in one page (the playground).
  const id = `plot-${key.replace(/[^A-Za-z0-9_-]/g, '-')}`;
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" ` +
      `role="img" aria-labelledby="${id}-title" font-family="sans-serif" font-size="12">`,
  );
  out.push(`<title id="${id}-title">${title}</title>`);
  out.push(`<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>`);
  out.push(`<text x="${WIDTH / 2}" y="22" text-anchor="middle" font-size="14" font-weight="bold">${title}</text>`);
  out.push(`<defs><clipPath id="${id}-area"><rect x="${PLOT_LEFT}" y="${PLOT_TOP - 6}" width="${plotW}" `);
  out.push(`height="${PLOT_HEIGHT + 12}"/></clipPath></defs>`);
  // Grid and ticks.
  const tickText = (t: { label: string; exp?: number }) =>
    t.exp === undefined ? escapeXml(t.label) : `2<tspan dy="-5" font-size="9">${t.exp}</tspan>`;
  for (const t of xs.ticks) {
    const x = f1(X(t.v));
    out.push(`<line x1="${x}" y1="${PLOT_TOP}" x2="${x}" y2="${PLOT_TOP + PLOT_HEIGHT}" stroke="#dddddd"/>`);
    out.push(`<text x="${x}" y="${PLOT_TOP + PLOT_HEIGHT + 18}" text-anchor="middle">${tickText(t)}</text>`);
  }
  for (const t of ys.ticks) {
    const y = f1(Y(t.v));
    out.push(`<line x1="${PLOT_LEFT}" y1="${y}" x2="${PLOT_LEFT + plotW}" y2="${y}" stroke="#dddddd"/>`);
    out.push(`<text x="${PLOT_LEFT - 8}" y="${f1(Y(t.v) + 4)}" text-anchor="end">${tickText(t)}</text>`);
  }
  out.push(
    `<rect x="${PLOT_LEFT}" y="${PLOT_TOP}" width="${plotW}" height="${PLOT_HEIGHT}" fill="none" stroke="#000000"/>`,
  );
  out.push(
    `<text x="${PLOT_LEFT + plotW / 2}" y="${PLOT_TOP + PLOT_HEIGHT + 42}" text-anchor="middle">` +
      `${escapeXml(plot.x.label)}${xLog ? ' (log scale)' : ''}</text>`,
  );
  out.push(
    `<text transform="translate(18 ${PLOT_TOP + PLOT_HEIGHT / 2}) rotate(-90)" text-anchor="middle">` +
      `${escapeXml(plot.y.label)}${yLog ? ' (log scale)' : ''}</text>`,
  );
  // Series.
  plot.series.forEach((s, i) => {
    const st = styleOf(i);
    const pts = s.points.filter((p) => (!xLog || p[0] > 0) && (!yLog || p[1] > 0));
    if (pts.length === 0) return;
    let d = `M${f1(X(pts[0]![0]))} ${f1(Y(pts[0]![1]))}`;
    for (let k = 1; k < pts.length; k++) {
      const [x, y] = pts[k]!;
      d += s.style === 'step' ? `H${f1(X(x))}V${f1(Y(y))}` : `L${f1(X(x))} ${f1(Y(y))}`;
    }
    const dash = st.dash ? ` stroke-dasharray="${st.dash}"` : '';
    out.push(`<g clip-path="url(#${id}-area)">`);
    if (s.style !== 'points') out.push(`<path d="${d}" fill="none" stroke="${st.color}" stroke-width="2"${dash}/>`);
    const marks = s.style === 'points' ? pts.map((_, k) => k) : markerIndices(pts.length, i);
    // Markers of several series on one point would hide each other: each series is shifted a little.
    const dx = s.style === 'points' ? (i - (plot.series.length - 1) / 2) * 7 : 0;
    for (const k of marks) out.push(markerPath(st.marker, X(pts[k]![0]) + dx, Y(pts[k]![1]), st.color));
    out.push(`</g>`);
  });
  // Legend: the same dash and marker as the series.
  plot.series.forEach((s, i) => {
    const st = styleOf(i);
    const y = legendTop + i * LEGEND_ROW;
    const dash = st.dash ? ` stroke-dasharray="${st.dash}"` : '';
    if (s.style !== 'points')
      out.push(
        `<line x1="${PLOT_LEFT}" y1="${y}" x2="${PLOT_LEFT + 44}" y2="${y}" stroke="${st.color}" ` +
          `stroke-width="2"${dash}/>`,
      );
    out.push(markerPath(st.marker, PLOT_LEFT + 22, y, st.color));
    out.push(`<text x="${PLOT_LEFT + 54}" y="${y + 4}">${escapeXml(s.name)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
