// `gupsim bench`'s explorer rows (no kernel counterpart): explored states per second of each race
// example's search, in CPU time (the machine may be shared), after warm-up runs, over runs adding up to
// at least a second. Pure: the caller loads the scenarios and gives the clock.

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
 * Warm-up searches before the timed ones, and the CPU time the timed ones must add to. A search of a
 * small example takes a few milliseconds; V8 needs some seconds of them before its optimised code settles
 * (measured: 10,000 states/s in the first second, 33,000 in the fourth), and the figure is the steady one.
 */
const WARMUP_MS = 3000;
const TIMED_MS = 1000;

/** The explorer's throughput on each scenario; `quick`: a tenth of the time (a smoke test, not a figure). */
export function benchExplore(
  scenarios: readonly { name: string; sc: Scenario }[],
  clock: () => number,
  quick = false,
): ExploreBenchRow[] {
  const scale = quick ? 0.1 : 1;
  return scenarios.map(({ name, sc }) => {
    const run = () => explore(sc, { examples: 0, clock });
    for (const t0 = clock(); clock() - t0 < WARMUP_MS * scale;) run();
    let states = 0;
    let seconds = 0;
    let runs = 0;
    let per = 0;
    while (seconds * 1000 < TIMED_MS * scale || runs === 0) {
      const r = run();
      per = r.states;
      states += r.states;
      seconds += r.search_seconds;
      runs++;
    }
    return {
      example: name,
      states: per,
      runs,
      search_ms: Math.round(seconds * 1000),
      states_per_second: seconds > 0 ? Math.round(states / seconds) : 0,
    };
  });
}
