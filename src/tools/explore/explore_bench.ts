// `gupsim bench`'s explorer rows (no kernel counterpart): explored states per second of each race
// example's search, in CPU time (the machine may be shared), once a warm-up has let V8's code settle, over
// runs adding up to at least two seconds. Pure: the caller loads the scenarios and gives the clock.

import type { Scenario } from '../../scenario/schema.js';
import { explore } from './explorer.js';

/** One example's figure. */
export interface ExploreBenchRow {
  example: string;
  /** States one search explores (with Linux 6.18's protections, the reduction on). */
  states: number;
  /** Searches timed, and their CPU time in all. */
  runs: number;
  search_ms: number;
  states_per_second: number;
}

/**
 * Warm-up, then the timed searches. A search of a small example takes a few milliseconds, and V8 needs
 * seconds of them before its optimised code settles (measured: 5,000-15,000 states/s in the first second,
 * the steady rate after 4 to 8): the warm-up runs in windows of WINDOW_MS until, past MIN_WARMUP_MS, a
 * window is no faster than SETTLED times the best before it (or MAX_WARMUP_MS have passed); the figure is
 * then the rate over TIMED_MS more.
 */
const WINDOW_MS = 1000;
const MIN_WARMUP_MS = 3000;
const MAX_WARMUP_MS = 15000;
const SETTLED = 1.03;
const TIMED_MS = 2000;

/** States per second of searches run for at least `ms` of CPU time, with the last search's states. */
function rate(run: () => { states: number; search_seconds: number }, ms: number) {
  let states = 0;
  let seconds = 0;
  let runs = 0;
  let per = 0;
  while (seconds * 1000 < ms || runs === 0) {
    const r = run();
    per = r.states;
    states += r.states;
    seconds += r.search_seconds;
    runs++;
  }
  return { per, runs, seconds, perSecond: seconds > 0 ? states / seconds : 0 };
}

/** The explorer's throughput on each scenario; `quick`: a tenth of the time (a smoke test, not a figure). */
export function benchExplore(
  scenarios: readonly { name: string; sc: Scenario }[],
  clock: () => number,
  quick = false,
): ExploreBenchRow[] {
  const scale = quick ? 0.1 : 1;
  return scenarios.map(({ name, sc }) => {
    const run = () => explore(sc, { examples: 0, clock });
    let best = 0;
    for (let t0 = clock(), t = 0; t < MAX_WARMUP_MS * scale; t = clock() - t0) {
      const w = rate(run, WINDOW_MS * scale).perSecond;
      const settled = w <= best * SETTLED;
      best = Math.max(best, w);
      if (settled && clock() - t0 >= MIN_WARMUP_MS * scale) break;
    }
    const timed = rate(run, TIMED_MS * scale);
    return {
      example: name,
      states: timed.per,
      runs: timed.runs,
      search_ms: Math.round(timed.seconds * 1000),
      states_per_second: Math.round(timed.perSecond),
    };
  });
}
