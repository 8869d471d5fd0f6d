// `gupsim watch [--interval ms] [--json] [--threshold pages] [--window n] [--duration s]`: a live view
// of the host's pinned pages (src/probe/watch.ts): one line per sample with the outstanding count,
// pin/unpin rates and a small chart, or JSON lines for scripts; an ALARM line when the outstanding
// count grows steadily. Ctrl-C (or --duration) stops it cleanly.

import type { Command } from 'commander';
import { hostname } from 'node:os';
import { UserError } from './errors.js';
import {
  DEFAULT_THRESHOLD,
  DEFAULT_WINDOW,
  CHART_WIDTH,
  PinChart,
  watchPins,
  type WatchSample,
} from '../probe/watch.js';
import { isRoot, VMSTAT } from '../probe/host.js';
import { existsSync } from 'node:fs';

function positive(name: string, v: string, integer = false): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n)))
    throw new UserError('ERR_USAGE', `${name}: expected a positive number, got "${v}"`);
  return n;
}

function rate(r: number | null): string {
  return r === null ? '-' : r.toFixed(1);
}

export function registerWatch(program: Command, setCode: (c: number) => void): void {
  program
    .command('watch')
    .description("watch the host's pinned pages live (nr_foll_pin_acquired - nr_foll_pin_released), with a leak alarm")
    .option('--interval <ms>', 'sampling interval in milliseconds', '1000')
    .option('--json', 'one JSON object per sample (for scripts)')
    .option(
      '--threshold <pages>',
      'alarm when the outstanding count grows by more than this over the window',
      String(DEFAULT_THRESHOLD),
    )
    .option('--window <samples>', 'samples over which the growth must never fall', String(DEFAULT_WINDOW))
    .option('--duration <s>', 'stop after this many seconds (default: until Ctrl-C)')
    .option('--fail-on-alarm', 'exit 1 when an alarm was raised (for CI)')
    .addHelpText('after', '\nExample:\n  gupsim watch --interval 250 --duration 10 --fail-on-alarm')
    .action(
      async (o: {
        interval: string;
        json?: boolean;
        threshold: string;
        window: string;
        duration?: string;
        failOnAlarm?: boolean;
      }) => {
        if (process.platform !== 'linux' || !existsSync(VMSTAT))
          throw new UserError('ERR_PROBE_UNSUPPORTED', `gupsim watch needs Linux's ${VMSTAT}`);
        const intervalMs = positive('--interval', o.interval);
        const timeWidth = intervalMs < 1000 ? 14 : 10;
        const threshold = Number(o.threshold);
        if (!Number.isInteger(threshold) || threshold < 0)
          throw new UserError('ERR_USAGE', `--threshold: expected a page count, got "${o.threshold}"`);
        const window = positive('--window', o.window, true);
        const durationS = o.duration !== undefined ? positive('--duration', o.duration) : undefined;
        const ac = new AbortController();
        const stop = () => ac.abort();
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
        const out = (s: string) => process.stdout.write(s);
        const chart = new PinChart();
        let first: WatchSample | undefined;
        let last: WatchSample | undefined;
        let peak = -Infinity;
        let alarms = 0;
        if (!o.json) {
          out(
            `watching pinned pages on ${hostname()} every ${intervalMs} ` +
              `ms${durationS !== undefined ? ` for ${durationS} s` : ' (Ctrl-C to stop)'}\n`,
          );
          if (!isRoot())
            out('note: not root: /proc/sys/vm/stat_refresh cannot be written, counts may lag by a per-CPU batch\n');
          out(
            `${'time'.padEnd(timeWidth)}${'outstanding'.padStart(12)}${'pin/s'.padStart(12)}` +
              `${'unpin/s'.padStart(12)}  ${`chart (last ${CHART_WIDTH} samples)`.padEnd(CHART_WIDTH)}  scale\n`,
          );
        }
        try {
          for await (const s of watchPins({
            intervalMs,
            threshold,
            window,
            signal: ac.signal,
            ...(durationS !== undefined ? { durationS } : {}),
          })) {
            first ??= s;
            last = s;
            peak = Math.max(peak, s.outstanding);
            chart.push(s.outstanding);
            if (s.alarm) alarms++;
            if (o.json) {
              out(JSON.stringify(s) + '\n');
              continue;
            }
            // Below one second the samples need their milliseconds to be told apart.
            const time = s.time.slice(11, intervalMs < 1000 ? 23 : 19);
            out(
              `${time.padEnd(timeWidth)}${String(s.outstanding).padStart(12)}${rate(s.pin_rate).padStart(12)}` +
                `${rate(s.unpin_rate).padStart(12)}  ` +
                `${chart.render(!utf8Locale())}\n`,
            );
            if (s.alarm) out(`${time.padEnd(timeWidth)}ALARM: ${s.alarm}\n`);
          }
        } finally {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
        }
        if (!o.json && first && last) {
          out(
            `stopped after ${last.t.toFixed(1)} s: outstanding ${first.outstanding} -> ${last.outstanding} (peak ` +
              `${peak}), ${last.acquired - first.acquired} pinned and ${last.released - first.released} unpinned ` +
              `meanwhile, ${alarms} alarm(s)\n`,
          );
        }
        setCode(o.failOnAlarm && alarms > 0 ? 1 : 0);
      },
    );
}

/** The terminal takes UTF-8 (the sparkline's block characters), by the locale's variables. */
function utf8Locale(): boolean {
  return /UTF-?8/i.test(process.env.LC_ALL ?? process.env.LC_CTYPE ?? process.env.LANG ?? '');
}
