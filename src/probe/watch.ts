// `gupsim watch`: the host's outstanding pinned pages (nr_foll_pin_acquired - nr_foll_pin_released,
// machine-wide, from /proc/vmstat after /proc/sys/vm/stat_refresh), pin and unpin rates, and a leak
// alarm when the outstanding count only grows over a window of samples by more than a threshold.
// Reads counters only: it changes nothing on the host.

import { isRoot, readCounters } from './host.js';

export interface PinCount {
  acquired: number;
  released: number;
}

export interface WatchSample {
  /** Seconds since the watch began. */
  t: number;
  time: string;
  acquired: number;
  released: number;
  /** acquired - released: pages pinned right now, machine-wide. */
  outstanding: number;
  /** Pages pinned / unpinned per second since the previous sample (null on the first). */
  pin_rate: number | null;
  unpin_rate: number | null;
  /** Set when the leak heuristic fires on this sample. */
  alarm?: string;
}

export interface WatchOptions {
  intervalMs?: number;
  /** Stop after this many seconds (default: until aborted). */
  durationS?: number;
  /** Growth in pages over the window that raises the alarm. */
  threshold?: number;
  /** Samples the growth must span without ever falling. */
  window?: number;
  signal?: AbortSignal;
  /** Counter source (tests); default: /proc/vmstat. */
  read?: () => PinCount;
}

export const DEFAULT_THRESHOLD = 1024;
export const DEFAULT_WINDOW = 10;

/**
 * Leak heuristic: over the last `window` intervals the outstanding count never fell and grew by more
 * than `threshold` pages. Fires once per episode, again only after a further `threshold` of growth;
 * any fall re-arms it.
 */
export class LeakDetector {
  private readonly values: number[] = [];
  private lastAlarm: number | undefined;

  constructor(
    readonly window = DEFAULT_WINDOW,
    readonly threshold = DEFAULT_THRESHOLD,
  ) {}

  push(outstanding: number, intervalS: number): string | undefined {
    const prev = this.values[this.values.length - 1];
    if (prev !== undefined && outstanding < prev) this.lastAlarm = undefined;
    this.values.push(outstanding);
    if (this.values.length > this.window + 1) this.values.shift();
    if (this.values.length < this.window + 1) return undefined;
    for (let i = 1; i < this.values.length; i++) if (this.values[i]! < this.values[i - 1]!) return undefined;
    const growth = outstanding - this.values[0]!;
    if (growth <= this.threshold) return undefined;
    if (this.lastAlarm !== undefined && outstanding - this.lastAlarm <= this.threshold) return undefined;
    this.lastAlarm = outstanding;
    return (
      `outstanding pins grew by ${growth} pages over the last ${this.window} samples ` +
      `(${(this.window * intervalS).toFixed(1)} s) and never fell: possible pin leak`
    );
  }
}

const BARS = '▁▂▃▄▅▆▇█';
const ASCII_BARS = '_.-=+*#@';

/** Samples the watch chart shows: it scrolls, the newest on the right. */
export const CHART_WIDTH = 40;
/**
 * The least range of pages the chart's height stands for: a count that moves by a page or two shows
 * as a step of a level or two, not as a jump from the bottom to the top.
 */
export const CHART_MIN_SPAN = 8;

/**
 * A one-line chart of values, scaled between their minimum and their maximum (or minimum + minSpan
 * when that is more): one of 8 levels per value.
 */
export function sparkline(values: readonly number[], ascii = false, minSpan = 0): string {
  if (!values.length) return '';
  const chars = ascii ? ASCII_BARS : BARS;
  const lo = Math.min(...values);
  const hi = Math.max(...values, lo + minSpan);
  return values
    .map((v) => chars[hi === lo ? 0 : Math.min(chars.length - 1, Math.floor(((v - lo) / (hi - lo)) * chars.length))])
    .join('');
}

/**
 * The watch's chart: the last `width` outstanding counts, always `width` characters wide (blank
 * until that many samples came, then scrolling left), one line of 8 levels high, its scale (the
 * range of pages that height spans: at least `minSpan`) printed after it.
 */
export class PinChart {
  private readonly values: number[] = [];

  constructor(
    readonly width = CHART_WIDTH,
    readonly minSpan = CHART_MIN_SPAN,
  ) {}

  push(outstanding: number): void {
    this.values.push(outstanding);
    if (this.values.length > this.width) this.values.shift();
  }

  /** The chart and its scale, e.g. "      ▁▁▂▅█  1000..1040". */
  render(ascii = false): string {
    if (!this.values.length) return ' '.repeat(this.width);
    const lo = Math.min(...this.values);
    const hi = Math.max(...this.values, lo + this.minSpan);
    const bars = sparkline(this.values, ascii, this.minSpan);
    return `${' '.repeat(this.width - this.values.length)}${bars}  ${lo}..${hi}`;
  }
}

function defaultRead(): PinCount {
  const c = readCounters(isRoot());
  return { acquired: c.nr_foll_pin_acquired ?? 0, released: c.nr_foll_pin_released ?? 0 };
}

function sleepUntil(when: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, Math.max(0, when - Date.now()));
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Samples every interval until the duration ends or the signal aborts. */
export async function* watchPins(opts: WatchOptions = {}): AsyncGenerator<WatchSample> {
  const interval = opts.intervalMs ?? 1000;
  const read = opts.read ?? defaultRead;
  const detector = new LeakDetector(opts.window ?? DEFAULT_WINDOW, opts.threshold ?? DEFAULT_THRESHOLD);
  const start = Date.now();
  const end = opts.durationS !== undefined ? start + opts.durationS * 1000 : Infinity;
  let prev: { c: PinCount; at: number } | undefined;
  for (let k = 0; ; k++) {
    if (opts.signal?.aborted) return;
    const at = Date.now();
    const c = read();
    const dt = prev ? (at - prev.at) / 1000 : 0;
    const sample: WatchSample = {
      t: Math.round((at - start) / 10) / 100,
      time: new Date(at).toISOString(),
      acquired: c.acquired,
      released: c.released,
      outstanding: c.acquired - c.released,
      pin_rate: prev && dt > 0 ? Math.round(((c.acquired - prev.c.acquired) / dt) * 10) / 10 : null,
      unpin_rate: prev && dt > 0 ? Math.round(((c.released - prev.c.released) / dt) * 10) / 10 : null,
    };
    const alarm = detector.push(sample.outstanding, interval / 1000);
    if (alarm) sample.alarm = alarm;
    prev = { c, at };
    yield sample;
    const next = start + (k + 1) * interval;
    if (next > end + 1) return;
    await sleepUntil(next, opts.signal);
  }
}
