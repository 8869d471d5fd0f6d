// The shape of an experiment and of its report: what `gupsim experiment` runs, prints, writes as
// markdown and SVG, and what the playground shows. Experiments are pure model code (no Node API): the
// CLI spreads their shards over worker threads, the playground runs them in the page.

import type { KernelProfile } from '../../mm/profile.js';

/** quick: what CI runs (smaller sweeps, fewer replicas); full: the finer default. */
export type Mode = 'quick' | 'full';

export interface RunOptions {
  mode: Mode;
  /** The run's seed: each shard derives its own from it (shardSeed()), so results do not depend on scheduling. */
  seed: number;
  /** The release whose profile the model runs with ('6.1', '6.12', '6.18'; default 6.18). */
  kernel?: string;
}

/**
 * A value measured on the machine that ran the report (a time, the host kernel's answer): it differs
 * from run to run, so renderers mark it and the "is docs/experiments.md current" test masks it.
 */
export interface Measured {
  measured: number | string;
}

export type Cell = string | number | boolean | null | Measured;

export interface Table {
  title: string;
  columns: string[];
  rows: Cell[][];
  notes?: string[];
  /** Column alignment; by default numbers right, text left (columnIsNumeric()). */
  align?: Array<'left' | 'right'>;
}

export interface Axis {
  label: string;
  /** 'log2': ticks at powers of two; every value must be positive. */
  scale?: 'linear' | 'log2';
  min?: number;
  max?: number;
  /** Named positions 0, 1, 2...: the ticks are these names (for a series per setup over scenarios). */
  categories?: string[];
}

export interface Series {
  name: string;
  points: Array<[number, number]>;
  /** 'step': the value holds until the next point (counters); 'points': markers only; default 'line'. */
  style?: 'line' | 'step' | 'points';
}

export interface Plot {
  /** File-name part, unique within the experiment: `<number>-<name>-<id>.svg`. */
  id: string;
  title: string;
  x: Axis;
  y: Axis;
  series: Series[];
  /** Drawn from measured values: the SVG differs between runs. */
  measured?: boolean;
  /** A sentence under the plot: what to see in it. */
  caption?: string;
}

/** The three answers the issue asks for. */
export type Outcome = 'holds' | 'does not hold' | 'holds with a caveat';

export interface Verdict {
  outcome: Outcome;
  /** Why, in one or two sentences with the numbers. */
  text: string;
  /** Decided by measured values (timings): outcome and text may differ from run to run. */
  measured?: boolean;
}

/** A sentence of Documentation/core-api/pin_user_pages.rst (Linux 6.18) that the experiment checks. */
export interface Claim {
  quote: string;
  /** The section of the document it is in. */
  section: string;
  /** Another document, when the claim is not pin_user_pages.rst's. */
  source?: string;
}

/** What the report shows for one experiment (the part an experiment computes from its shards' results). */
export interface ReportBody {
  method: string[];
  tables: Table[];
  plots: Plot[];
  verdict: Verdict;
  /** Observations beyond the verdict, each a sentence with its numbers. */
  findings?: string[];
  /** What the model leaves out, so what the numbers cannot say. */
  limits?: string[];
  /** The data the verdict is computed from, by name (also in --json, and what the tests check). */
  facts: Record<string, number | boolean | string>;
}

export interface ExperimentReport extends Partial<ReportBody> {
  number: number;
  name: string;
  title: string;
  question: string;
  claims: Claim[];
  status: 'done' | 'pending';
  /** Why a pending experiment cannot run yet. */
  pending?: string;
}

/** The result of `gupsim experiment all|run` (the --json output). */
export interface ExperimentRun {
  schemaVersion: 1;
  mode: Mode;
  seed: number;
  /** "model of Linux 6.18": the release profile the model ran with. */
  kernel: string;
  experiments: ExperimentReport[];
}

/** One independent unit of work with its own seed. */
export interface ShardSpec<P> {
  label: string;
  params: P;
  /** Relative cost (progress weighting, and longest-first scheduling). */
  cost: number;
  /** Measures time: run alone, after every other shard, so no other shard competes for the CPU. */
  timing?: boolean;
}

export interface ShardContext {
  mode: Mode;
  /** The release profile the model runs with (RunOptions.kernel). */
  profile: KernelProfile;
  /** This shard's seed (derived from the run's seed, the experiment and the shard's index). */
  seed: number;
  /** Report progress within the shard (called from inside the model loops; cheap). */
  progress(done: number, total: number): void;
}

/** The host kernel's io_uring registration cost, measured by the CLI (src/bench/host.ts) when asked for. */
export type HostIoUring =
  { kernel: string; bytes: number; register_ns_per_page: number; unregister_ns_per_page: number } | { skipped: string };

/** What the command line measured on the host for the experiments that asked (the browser has none). */
export interface HostEnv {
  ioUring?: HostIoUring;
}

export interface Experiment<P, R> {
  number: number;
  name: string;
  title: string;
  question: string;
  claims: Claim[];
  /** Set when the experiment cannot run yet: the reason (it is listed, never run). */
  pending?: string;
  /** Host measurements this experiment shows beside the model's (the CLI provides them). */
  host?: { ioUringBytes: number };
  shards(o: RunOptions): ShardSpec<P>[];
  runShard(params: P, ctx: ShardContext): R;
  report(results: R[], o: RunOptions, host: HostEnv): ReportBody;
}

/** An experiment with its parameter and result types erased, as the registry and the runners hold it. */
export interface AnyExperiment extends Omit<Experiment<unknown, unknown>, 'shards' | 'runShard' | 'report'> {
  shards(o: RunOptions): ShardSpec<unknown>[];
  runShard(params: unknown, ctx: ShardContext): unknown;
  report(results: unknown[], o: RunOptions, host: HostEnv): ReportBody;
}

/** Erase an experiment's types (its shards' params and results travel as structured-clone data). */
export function defineExperiment<P, R>(e: Experiment<P, R>): AnyExperiment {
  return e as unknown as AnyExperiment;
}

export function measured(v: number | string): Measured {
  return { measured: v };
}

export function isMeasured(c: Cell): c is Measured {
  return typeof c === 'object' && c !== null && 'measured' in c;
}
