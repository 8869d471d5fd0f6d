// Run a scenario on the model and build DESIGN.md's result JSON: per step ret/errno/vmstat deltas
// (and why a refused step failed), expectations checked, outstanding pins by owner, kernel WARN records
// and gupsim's misuse records (per step and for the whole run).

import { RunContext, type Outcome } from './context.js';
import type { Scenario, Step, StepOf } from './schema.js';
import { SCHEMA_VERSION } from './version.js';
import * as mem from './ops/memory.js';
import * as gup from './ops/gup.js';
import * as obs from './ops/observe.js';
import * as cons from './ops/consumers.js';
import * as race from './ops/race.js';
import { extraConsumerOps } from './ops/registry.js';
import { EFAULT, errnoName } from '../uapi/errno.js';
import { outstanding } from './holders.js';
import type { RunResult, StepResult } from './result.js';
import { checkExpect } from './expect.js';
import { ScenarioError } from './error.js';
import { kernelProblems, scenarioProfile } from './kernel.js';
import type { KernelProfile } from '../mm/profile.js';
import { modelHugetlbCounters, usesHugetlb } from './hugetlb.js';
import { leakedByMisuse } from '../mm/swap.js';

type Handler = (ctx: RunContext, s: never) => Outcome;

const HANDLERS: Record<string, Handler> = {
  mmap: mem.mmap,
  munmap: mem.munmap,
  mremap: mem.mremap,
  mlock: mem.mlock,
  munlock: mem.munlock,
  mprotect: mem.mprotect,
  madvise: mem.madvise,
  read: mem.touch,
  write: mem.touch,
  create_file: mem.createFile,
  fork: mem.fork,
  exit: mem.exit,
  fail_alloc: mem.failAlloc,
  fatal_signal: mem.fatalSignal,
  io_uring_register_buffers: cons.ioUringRegister,
  io_uring_unregister_buffers: cons.ioUringUnregister,
  odirect_read: cons.odirect,
  odirect_write: cons.odirect,
  get_user_pages: gup.rawGup,
  get_user_pages_fast: gup.rawGup,
  get_user_pages_fast_only: gup.rawGup,
  get_user_pages_unlocked: gup.rawGup,
  get_user_pages_remote: gup.rawGup,
  pin_user_pages: gup.rawGup,
  pin_user_pages_fast: gup.rawGup,
  pin_user_pages_unlocked: gup.rawGup,
  pin_user_pages_remote: gup.rawGup,
  unpin_user_pages: gup.unpin,
  unpin_user_pages_dirty_lock: gup.unpin,
  unpin_user_page: gup.unpin,
  put_page: gup.putPage,
  vmstat: obs.vmstat,
  inspect: obs.inspect,
  dump_page: obs.dumpPage,
  migrate_pages: race.migratePages,
  assert: race.assertStep,
  ...extraConsumerOps,
};

function pinCounters(d: Record<string, number>): StepResult['vmstat'] {
  return { nr_foll_pin_acquired: d.nr_foll_pin_acquired!, nr_foll_pin_released: d.nr_foll_pin_released! };
}

/** pinCounters() of the deltas since the scenario began: two counters, not every counter's delta (per step). */
function pinDelta(ctx: RunContext): StepResult['vmstat'] {
  const d = (k: 'nr_foll_pin_acquired' | 'nr_foll_pin_released') => ctx.m.vmstat.get(k) - (ctx.start[k] ?? 0);
  return { nr_foll_pin_acquired: d('nr_foll_pin_acquired'), nr_foll_pin_released: d('nr_foll_pin_released') };
}

/** How to run: the result's name, where to stop, the release (default: the file's `kernel:`, else 6.18). */
export interface RunOptions {
  name?: string;
  stopAfter?: number;
  profile?: KernelProfile;
  /** Sees the context after each step (the playground's per-step counters). */
  onStep?: (ctx: RunContext, res: StepResult) => void;
}

/**
 * Run every step; never throws for kernel-level failures (they are results). A setting the release
 * lacks (kernelProblems()) is a ScenarioError.
 */
export function runScenario(sc: Scenario, opts: Omit<RunOptions, 'stopAfter'> = {}): RunResult {
  return executeScenario(sc, opts).result;
}

/**
 * Run the steps up to and including `stopAfter` (default: all), returning the result and the run's
 * context (machine, regions, handles) for inspection. `onStep` sees the context after each step (the
 * playground's per-step counters), before the next step changes it.
 */
export function executeScenario(sc: Scenario, opts: RunOptions = {}): { result: RunResult; ctx: RunContext } {
  const profile = scenarioProfile(sc, opts.profile);
  const problems = kernelProblems(sc, profile);
  if (problems.length) throw new ScenarioError(problems);
  const ctx = new RunContext(sc, profile);
  const steps: StepResult[] = [];
  let ok = true;
  const last = Math.min(opts.stopAfter ?? sc.steps.length - 1, sc.steps.length - 1);
  sc.steps.slice(0, last + 1).forEach((step, index) => {
    const res = runScenarioStep(ctx, step, index, steps);
    if (res.failures?.length) ok = false;
    steps.push(res);
    opts.onStep?.(ctx, res);
  });
  ctx.m.warns.step = undefined;
  ctx.m.misuse.step = undefined;
  reportLeaks(ctx);
  const result: RunResult = {
    schemaVersion: SCHEMA_VERSION,
    scenario: sc.name ?? opts.name ?? 'scenario',
    engine: 'model',
    kernel: `model of Linux ${ctx.m.profile.release}`,
    ok,
    steps,
    vmstat: pinDelta(ctx),
    pins: outstanding(ctx.holders.values()),
    warnings: ctx.m.warns.records,
    misuse: ctx.m.misuse.records,
  };
  return { result, ctx };
}

/** Run step `index` of a scenario on ctx (`done`: the results of the steps before it, for expect). */
export function runScenarioStep(ctx: RunContext, step: Step, index: number, done: StepResult[]): StepResult {
  ctx.m.warns.step = index;
  ctx.m.misuse.step = index;
  const misuse0 = ctx.m.misuse.records.length;
  const res =
    step.op === 'expect'
      ? runExpect(ctx, step, done)
      : step.op === 'concurrent'
        ? runThreads(ctx, step, index)
        : runStep(ctx, step, index);
  if (usesHugetlb(ctx.sc) && step.op !== 'expect') res.hugetlb = modelHugetlbCounters(ctx.m);
  if (ctx.m.misuse.records.length > misuse0) res.misuse = ctx.m.misuse.records.slice(misuse0);
  if (step.label) res.label = step.label;
  return res;
}

/** Folios misuse left allocated for good (refcount below zero, nothing maps them): one record at the end. */
function reportLeaks(ctx: RunContext): void {
  const leaked = leakedByMisuse(ctx.m);
  if (!leaked.length) return;
  const pages = leaked.reduce((t, l) => t + (1 << l.order), 0);
  ctx.m.misuse.report(
    `${leaked.length} folio(s) (${pages} page(s)) leaked: nothing maps or caches them, and their refcount is ` +
      'below zero',
    leaked
      .slice(0, LEAKS_LISTED)
      .map((l) => `folio 0x${l.folio.toString(16)}: _refcount ${l.refcount}`)
      .join('; ') + (leaked.length > LEAKS_LISTED ? `; and ${leaked.length - LEAKS_LISTED} more` : ''),
    'The kernel never frees them: a count below zero cannot reach zero again, so the memory is lost until reboot',
  );
}

const LEAKS_LISTED = 3;

/** The first region the step names that no successful mmap defined, if any. */
export function unmappedRegion(ctx: RunContext, step: Step): string | undefined {
  const r = step as { region?: string; regions?: string[]; local?: string; fixed?: string };
  for (const name of [r.region, r.local, r.fixed, ...(r.regions ?? [])])
    if (name !== undefined && !ctx.regions.has(name)) return name;
  return undefined;
}

function runStep(ctx: RunContext, step: Step, index: number): StepResult {
  const handler = HANDLERS[step.op];
  if (!handler) throw new Error(`gupsim bug: no handler for op ${step.op}`);
  const runs = step.repeat ?? 1;
  let out: Outcome = { ret: 0 };
  const migratedBefore = ctx.m.vmstat.get('pgmigrate_success');
  const unmapped = unmappedRegion(ctx, step);
  ctx.stepIndex = index;
  for (let r = 0; r < runs; r++) {
    ctx.rep = r;
    ctx.m.why = undefined;
    // A region whose mmap failed has no address: like MAP_FAILED, using it faults.
    out = unmapped
      ? {
          ret: -EFAULT,
          extra: { why: { fn: 'gupsim', rule: `region "${unmapped}" is not mapped: its mmap step failed` } },
        }
      : handler(ctx, step as never);
  }
  const res: StepResult = {
    index,
    op: step.op,
    ret: out.ret,
    errno: out.ret < 0 ? errnoName(out.ret) : null,
    vmstat: pinDelta(ctx),
  };
  if (runs > 1) res.repeat = runs;
  // FOLL_LONGTERM pins of unpinnable folios migrate them and retry (check_and_migrate_movable_pages()).
  const migrated = ctx.m.vmstat.get('pgmigrate_success') - migratedBefore;
  if (migrated > 0) res.migrated = migrated;
  const extra = out.extra ?? {};
  if (out.ret < 0 && !extra.why && ctx.m.why) res.why = { fn: ctx.m.why.fn, rule: ctx.m.why.rule };
  for (const [k, v] of Object.entries(extra)) if (v !== undefined) res[k] = v;
  return res;
}

/**
 * A `concurrent` step in a plain run: each thread's steps in turn, in the order the threads are listed
 * (one of the interleavings `gupsim explore` runs). ret 0; the failures of its asserts fail the run.
 */
function runThreads(ctx: RunContext, s: StepOf<'concurrent'>, index: number): StepResult {
  const failures: string[] = [];
  const threads: Record<string, StepResult[]> = {};
  for (const [name, steps] of Object.entries(s.threads)) {
    threads[name] = steps.map((t) => {
      const r = runStep(ctx, t as Step, index);
      if (r.failures) failures.push(...r.failures.map((f) => `thread ${name}: ${f}`));
      return r;
    });
  }
  const res: StepResult = {
    index,
    op: 'concurrent',
    ret: 0,
    errno: null,
    vmstat: pinDelta(ctx),
    threads,
  };
  if (failures.length) res.failures = failures;
  return res;
}

function runExpect(ctx: RunContext, s: Extract<Step, { op: 'expect' }>, done: StepResult[]): StepResult {
  const delta = ctx.vmstatDelta();
  const { failures } = checkExpect(s, done, {
    vmstat: delta,
    warnings: ctx.m.warns.records.length,
    misuse: ctx.m.misuse.records.length,
    pins: outstanding(ctx.holders.values()).reduce((t, h) => t + h.pins, 0),
    hugetlb: modelHugetlbCounters(ctx.m),
  });
  const res: StepResult = {
    index: done.length,
    op: 'expect',
    ret: failures.length ? 1 : 0,
    errno: null,
    vmstat: pinCounters(delta),
  };
  if (failures.length) res.failures = failures;
  return res;
}
