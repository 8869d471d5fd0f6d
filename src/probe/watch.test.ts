// gupsim watch: the leak heuristic, the chart, the sampler with a fake counter source (anywhere),
// and the command itself with --duration 1 --json on Linux.

import { describe, it, expect, vi, afterEach } from 'vitest';
import { existsSync } from 'node:fs';
import { LeakDetector, sparkline, watchPins, type PinCount, type WatchSample } from './watch.js';
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

  it('refuses a bad --interval with a usage error (exit 2)', async () => {
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    expect(await main(['watch', '--interval', 'soon', '--duration', '1'])).toBe(2);
  });
});
