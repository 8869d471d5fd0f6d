// gupsim watch: the leak heuristic, the chart, the sampler with a fake counter source (anywhere),
// and the command itself with --duration 1 --json on Linux.

import { describe, it, expect, vi, afterEach } from 'vitest';
import { existsSync } from 'node:fs';
import {
  CHART_MIN_SPAN,
  CHART_WIDTH,
  LeakDetector,
  PinChart,
  sparkline,
  watchPins,
  type PinCount,
  type WatchSample,
} from './watch.js';
import { main } from '../cli/main.js';

afterEach(() => {
  vi.restoreAllMocks();
});

describe('LeakDetector', () => {
  it('fires when the outstanding count never falls over the window and grows past the threshold', () => {
    const d = new LeakDetector(4, 100);
    const alarms = [0, 50, 100, 150, 200, 250].map((v) => d.push(v, 1));
    expect(alarms.slice(0, 4)).toEqual([undefined, undefined, undefined, undefined]);
    expect(alarms[4]).toMatch(/grew by 200 pages over the last 4 samples \(4\.0 s\)/);
    expect(alarms[5]).toBeUndefined(); // only 50 more since the alarm
    expect(d.push(400, 1)).toMatch(/possible pin leak/); // another threshold's worth
  });

  it('stays quiet for a flat count, for growth within the threshold, and after a fall', () => {
    const flat = new LeakDetector(3, 0);
    expect([5, 5, 5, 5, 5].map((v) => flat.push(v, 1)).filter(Boolean)).toEqual([]);
    const small = new LeakDetector(3, 100);
    expect([0, 10, 20, 30, 40].map((v) => small.push(v, 1)).filter(Boolean)).toEqual([]);
    const dip = new LeakDetector(3, 10);
    expect([0, 100, 50, 200, 300].map((v) => dip.push(v, 1)).filter(Boolean)).toEqual([]);
  });
});

describe('sparkline', () => {
  it('scales between the minimum and the maximum', () => {
    expect(sparkline([0, 7, 14])).toBe('▁▅█');
    expect(sparkline([3, 3])).toBe('▁▁');
    expect(sparkline([0, 1], true)).toBe('_@');
    expect(sparkline([])).toBe('');
  });
});

describe('PinChart', () => {
  it('is always CHART_WIDTH wide: blank until filled, then it scrolls with the newest on the right', () => {
    const c = new PinChart();
    expect(c.render()).toBe(' '.repeat(CHART_WIDTH));
    const widths = new Set<number>();
    for (let v = 0; v < 3 * CHART_WIDTH; v++) {
      c.push(v);
      const chart = c.render().slice(0, CHART_WIDTH);
      widths.add(chart.length);
      // The newest sample is the last character: the highest level while the count grows (once it
      // grew past the least span).
      if (v >= CHART_MIN_SPAN) expect(chart.at(-1)).toBe('█');
      if (v < CHART_WIDTH - 1) expect(chart.slice(0, CHART_WIDTH - v - 1).trim()).toBe('');
    }
    expect([...widths]).toEqual([CHART_WIDTH]);
    // After 120 samples it shows the last 40: 80..119.
    expect(c.render()).toBe(`${sparkline([...Array(CHART_WIDTH).keys()].map((i) => 80 + i))}  80..119`);
  });

  it('is one line of 8 levels, whatever the values; a move of one page is a step, not the full height', () => {
    const c = new PinChart(4);
    for (const v of [1_000_000, 1_000_001, 1_000_001, 1_000_000]) c.push(v);
    expect(c.render()).toBe(`▁▂▂▁  1000000..${1_000_000 + CHART_MIN_SPAN}`);
    const big = new PinChart(4);
    for (const v of [0, 2 ** 40, 5, 2 ** 40]) big.push(v);
    expect(big.render(true)).toBe(`_@_@  0..${2 ** 40}`);
    expect(new Set(big.render().slice(0, 4))).toEqual(new Set(['▁', '█']));
  });
});

describe('watchPins', () => {
  it('samples until --duration ends, with rates and an alarm on steady growth', async () => {
    let acquired = 0;
    const read = (): PinCount => {
      acquired += 100;
      return { acquired, released: 0 };
    };
    const samples: WatchSample[] = [];
    for await (const s of watchPins({ intervalMs: 20, durationS: 0.2, threshold: 250, window: 3, read }))
      samples.push(s);
    expect(samples.length).toBeGreaterThanOrEqual(8);
    expect(samples.length).toBeLessThanOrEqual(12);
    expect(samples[0]!.pin_rate).toBeNull();
    expect(samples[1]!.pin_rate).toBeGreaterThan(0);
    expect(samples.every((s) => s.outstanding === s.acquired - s.released)).toBe(true);
    expect(samples.find((s) => s.alarm)?.t).toBeGreaterThan(0);
  });

  it('stops at once when aborted', async () => {
    const ac = new AbortController();
    const samples: WatchSample[] = [];
    for await (const s of watchPins({
      intervalMs: 10_000,
      signal: ac.signal,
      read: () => ({ acquired: 1, released: 1 }),
    })) {
      samples.push(s);
      ac.abort();
    }
    expect(samples).toHaveLength(1);
  });
});

const noVmstat = process.platform !== 'linux' || !existsSync('/proc/vmstat');
if (noVmstat) console.log('gupsim watch test skipped: needs Linux /proc/vmstat');

describe('gupsim watch --duration 1 --json', () => {
  it.skipIf(noVmstat)(
    'prints JSON lines of the host counters and exits 0',
    async () => {
      const out: string[] = [];
      vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
        out.push(String(chunk));
        return true;
      });
      const code = await main(['watch', '--duration', '1', '--json', '--interval', '250']);
      vi.restoreAllMocks();
      expect(code).toBe(0);
      const lines = out
        .join('')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as WatchSample);
      expect(lines.length).toBeGreaterThanOrEqual(4);
      expect(lines.length).toBeLessThanOrEqual(6);
      for (const s of lines) {
        expect(typeof s.acquired).toBe('number');
        expect(s.outstanding).toBe(s.acquired - s.released);
        expect(s.outstanding).toBeGreaterThanOrEqual(0);
      }
      expect(lines[lines.length - 1]!.t).toBeGreaterThanOrEqual(0.9);
    },
    10_000,
  );

  it.skipIf(noVmstat)(
    'the human view: distinct millisecond timestamps, a chart of fixed width, the summary line; exit 0',
    async () => {
      const out: string[] = [];
      vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
        out.push(String(chunk));
        return true;
      });
      const saved = process.env.LC_ALL;
      process.env.LC_ALL = 'C.UTF-8';
      const code = await main(['watch', '--duration', '1', '--interval', '100', '--threshold', '1000000000']);
      if (saved === undefined) delete process.env.LC_ALL;
      else process.env.LC_ALL = saved;
      vi.restoreAllMocks();
      expect(code).toBe(0);
      const lines = out.join('').trimEnd().split('\n');
      const samples = lines.filter((l) => /^\d\d:\d\d:\d\d\.\d{3} /.test(l));
      expect(samples.length).toBeGreaterThanOrEqual(8);
      expect(new Set(samples.map((l) => l.slice(0, 12))).size).toBe(samples.length);
      const header = lines.find((l) => l.startsWith('time'))!;
      const at = header.indexOf('chart');
      // Every chart is CHART_WIDTH characters (blank-padded on the left), then its scale.
      const chart = new RegExp(`^[ ▁▂▃▄▅▆▇█]{${CHART_WIDTH}}  \\d+\\.\\.\\d+$`);
      for (const l of samples) expect(l.slice(at)).toMatch(chart);
      expect(lines.at(-1)).toMatch(/^stopped after .* 0 alarm\(s\)$/);
    },
    10_000,
  );

  it('refuses a bad --interval with a usage error (exit 2)', async () => {
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    expect(await main(['watch', '--interval', 'soon', '--duration', '1'])).toBe(2);
  });
});
