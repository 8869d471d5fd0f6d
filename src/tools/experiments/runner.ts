// Running experiments: the shards of a run (each with its own seed), one shard, and the report
// assembled from the shards' results in shard order. Pure: the CLI runs the same shards on worker
// threads (src/cli/experiment.ts), the playground and the tests run them here one after another;
// either way the report is the same for a seed.

import { EXPERIMENTS } from './registry.js';
import { runProfile } from './world.js';

export { runProfile };
import { shardSeed } from './rng.js';
import type { AnyExperiment, ExperimentReport, ExperimentRun, HostEnv, RunOptions } from './types.js';

/** One shard of a run, as handed to a worker: plain data. */
export interface PlannedShard {
  experiment: string;
  index: number;
  label: string;
  cost: number;
  timing: boolean;
  params: unknown;
  seed: number;
}

export function experimentByName(name: string): AnyExperiment {
  const e = EXPERIMENTS.find((x) => x.name === name);
  if (!e) throw new Error(`gupsim bug: no experiment named ${name}`);
  return e;
}

/** The shards of the experiments that can run (pending ones have none). */
export function planShards(exps: readonly AnyExperiment[], o: RunOptions): PlannedShard[] {
  const out: PlannedShard[] = [];
  for (const e of exps) {
    if (e.pending) continue;
    e.shards(o).forEach((s, index) =>
      out.push({
        experiment: e.name,
        index,
        label: `${e.number}. ${s.label}`,
        cost: s.cost,
        timing: s.timing ?? false,
        params: s.params,
        seed: shardSeed(o.seed, e.name, index),
      }),
    );
  }
  return out;
}

/** Run one shard; `progress` gets the shard's fraction done, in [0, 1]. */
export function runPlannedShard(
  s: PlannedShard,
  o: RunOptions,
  progress: (fraction: number) => void = () => {},
): unknown {
  const e = experimentByName(s.experiment);
  return e.runShard(s.params, {
    mode: o.mode,
    profile: runProfile(o),
    seed: s.seed,
    progress: (done, total) => progress(total > 0 ? Math.min(1, done / total) : 1),
  });
}

/** The report of a pending experiment: what it asks, and why it does not run yet. */
export function pendingReport(e: AnyExperiment): ExperimentReport {
  return {
    number: e.number,
    name: e.name,
    title: e.title,
    question: e.question,
    claims: e.claims,
    status: 'pending',
    pending: e.pending!,
  };
}

/** The report of `e` from its shards' results, given in shard order. */
export function assembleReport(e: AnyExperiment, results: unknown[], o: RunOptions, host: HostEnv): ExperimentReport {
  if (e.pending) return pendingReport(e);
  return {
    number: e.number,
    name: e.name,
    title: e.title,
    question: e.question,
    claims: e.claims,
    status: 'done',
    ...e.report(results, o, host),
  };
}

/** Run experiments one shard after another in this thread (tests, the playground). */
export function runInProcess(
  exps: readonly AnyExperiment[],
  o: RunOptions,
  host: HostEnv = {},
  onProgress?: (label: string, fraction: number) => void,
): ExperimentRun {
  const shards = planShards(exps, o);
  const results = new Map<string, unknown[]>();
  for (const s of shards) {
    const r = runPlannedShard(s, o, (f) => onProgress?.(s.label, f));
    const list = results.get(s.experiment) ?? [];
    list[s.index] = r;
    results.set(s.experiment, list);
  }
  return {
    schemaVersion: 1,
    mode: o.mode,
    seed: o.seed,
    kernel: `model of Linux ${runProfile(o).release}`,
    experiments: exps.map((e) => assembleReport(e, results.get(e.name) ?? [], o, host)),
  };
}
