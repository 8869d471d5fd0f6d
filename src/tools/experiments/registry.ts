// Every experiment of `gupsim experiment`, in the order of the issue, by number and name.

import type { AnyExperiment } from './types.js';
import { falsePositives } from './false_positives.js';
import { counterLimits } from './counter_limits.js';
import { pincountHistory } from './pincount_history.js';
import { vmstatBalance } from './vmstat_balance.js';
import { writeback } from './writeback.js';
import { forkPins } from './fork_pins.js';
import { costBySize } from './cost_by_size.js';

export const EXPERIMENTS: readonly AnyExperiment[] = [
  falsePositives,
  counterLimits,
  pincountHistory,
  vmstatBalance,
  writeback,
  forkPins,
  costBySize,
];

/** An experiment by name ("false-positives") or number ("1"); undefined if there is none. */
export function findExperiment(key: string): AnyExperiment | undefined {
  const k = key.trim().toLowerCase();
  return EXPERIMENTS.find((e) => e.name === k || String(e.number) === k);
}
