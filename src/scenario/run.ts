// Run a scenario on the model and build DESIGN.md's result JSON: per step ret/errno/vmstat deltas
// (and why a refused step failed), expectations checked, outstanding pins by owner and WARN records.

import { RunContext, type Outcome } from './context.js';
import { SCHEMA_VERSION, type Scenario, type Step } from './schema.js';
import * as mem from './ops/memory.js';
import * as gup from './ops/gup.js';
import * as obs from './ops/observe.js';
import * as cons from './ops/consumers.js';
import { extraConsumerOps } from './ops/registry.js';
import { EFAULT, errnoName } from '../kernel/errno.js';
import { outstanding, type OutstandingHold } from '../kernel/holders.js';
import type { WarnRecord } from '../mm/warn.js';

export interface StepResult {
  index: number;
  op: string;
  label?: string;
  ret: number;
  errno: string | null;
  vmstat: { nr_foll_pin_acquired: number; nr_foll_pin_released: number };
  why?: { fn: string; rule: string };
  failures?: string[];
  [extra: string]: unknown;
}

export interface RunResult {
  schemaVersion: number;
  scenario: string;
  engine: 'model' | 'kernel';
  kernel: string;
  ok: boolean;
  steps: StepResult[];
  vmstat: { nr_foll_pin_acquired: number; nr_foll_pin_released: number };
  pins: OutstandingHold[];
  warnings: WarnRecord[];
}

type Handler = (ctx: RunContext, s: never) => Outcome;

const HANDLERS: Record<string, Handler> = {
  mmap: mem.mmap, munmap: mem.munmap, mprotect: mem.mprotect, madvise: mem.madvise,
  read: mem.touch, write: mem.touch, create_file: mem.createFile, fork: mem.fork, exit: mem.exit,
  fail_alloc: mem.failAlloc, fatal_signal: mem.fatalSignal,
  io_uring_register_buffers: cons.ioUringRegister, io_uring_unregister_buffers: cons.ioUringUnregister,
  odirect_read: cons.odirect, odirect_write: cons.odirect,
  get_user_pages: gup.rawGup, get_user_pages_fast: gup.rawGup, get_user_pages_fast_only: gup.rawGup,
  get_user_pages_unlocked: gup.rawGup, get_user_pages_remote: gup.rawGup, pin_user_pages: gup.rawGup,
  pin_user_pages_fast: gup.rawGup, pin_user_pages_unlocked: gup.rawGup, pin_user_pages_remote: gup.rawGup,
  unpin_user_pages: gup.unpin, unpin_user_pages_dirty_lock: gup.unpin, unpin_user_page: gup.unpin, put_page: gup.putPage,
  vmstat: obs.vmstat, inspect: obs.inspect, dump_page: obs.dumpPage,
  ...extraConsumerOps,
};

function pinCounters(d: Record<string, number>): StepResult['vmstat'] {
  return { nr_foll_pin_acquired: d.nr_foll_pin_acquired!, nr_foll_pin_released: d.nr_foll_pin_released! };
}

/** Run every step; never throws for kernel-level failures (they are results). */
export function runScenario(sc: Scenario, opts: { name?: string } = {}): RunResult {
  return executeScenario(sc, opts).result;
}

/**
 * Run the steps up to and including `stopAfter` (default: all), returning the result and the run's
 * context (machine, regions, handles) for inspection.
 */
export function executeScenario(sc: Scenario, opts: { name?: string; stopAfter?: number } = {}): { result: RunResult; ctx: RunContext } {
  const ctx = new RunContext(sc);
  const steps: StepResult[] = [];
  let ok = true;
  const last = Math.min(opts.stopAfter ?? sc.steps.length - 1, sc.steps.length - 1);
  sc.steps.slice(0, last + 1).forEach((step, index) => {
    ctx.m.warns.step = index;
    const res = step.op === 'expect' ? runExpect(ctx, step, steps) : runStep(ctx, step, index);
    if (step.label) res.label = step.label;
    if (res.failures?.length) ok = false;
    steps.push(res);
  });
  ctx.m.warns.step = undefined;
  const result: RunResult = {
    schemaVersion: SCHEMA_VERSION,
    scenario: sc.name ?? opts.name ?? 'scenario',
    engine: 'model',
    kernel: `model of Linux ${ctx.m.profile.release}`,
    ok,
    steps,
    vmstat: pinCounters(ctx.vmstatDelta()),
    pins: outstanding(ctx.m),
    warnings: ctx.m.warns.records,
  };
  return { result, ctx };
}

/** The first region the step names that no successful mmap defined, if any. */
function unmappedRegion(ctx: RunContext, step: Step): string | undefined {
  const r = step as { region?: string; regions?: string[]; local?: string };
  for (const name of [r.region, r.local, ...(r.regions ?? [])]) if (name !== undefined && !ctx.regions.has(name)) return name;
  return undefined;
}

function runStep(ctx: RunContext, step: Step, index: number): StepResult {
  const handler = HANDLERS[step.op];
  if (!handler) throw new Error(`gupsim bug: no handler for op ${step.op}`);
  const runs = step.repeat ?? 1;
  let out: Outcome = { ret: 0 };
  const unmapped = unmappedRegion(ctx, step);
  for (let r = 0; r < runs; r++) {
    ctx.m.why = undefined;
    // A region whose mmap failed has no address: like MAP_FAILED, using it faults.
    out = unmapped ? { ret: -EFAULT, extra: { why: { fn: 'gupsim', rule: `region "${unmapped}" is not mapped: its mmap step failed` } } } : handler(ctx, step as never);
  }
  const res: StepResult = {
    index,
    op: step.op,
    ret: out.ret,
    errno: out.ret < 0 ? errnoName(out.ret) : null,
    vmstat: pinCounters(ctx.vmstatDelta()),
  };
  const extra = out.extra ?? {};
  if (out.ret < 0 && !extra.why && ctx.m.why) res.why = { fn: ctx.m.why.fn, rule: ctx.m.why.rule };
  for (const [k, v] of Object.entries(extra)) if (v !== undefined) res[k] = v;
  return res;
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function runExpect(ctx: RunContext, s: Extract<Step, { op: 'expect' }>, done: StepResult[]): StepResult {
  const delta = ctx.vmstatDelta();
  const { failures } = checkExpect(s, done, {
    vmstat: delta,
    warnings: ctx.m.warns.records.length,
    pins: outstanding(ctx.m).reduce((t, h) => t + h.pins, 0),
  });
  const res: StepResult = { index: done.length, op: 'expect', ret: failures.length ? 1 : 0, errno: null, vmstat: pinCounters(delta) };
  if (failures.length) res.failures = failures;
  return res;
}

/** What an expect step sees besides the earlier steps' results (each engine fills it in). */
export interface ExpectEnv {
  /** Counters as deltas since the scenario began; undefined: not observable, the checks are skipped. */
  vmstat?: Record<string, number>;
  /** WARN records so far; undefined: not observable. */
  warnings?: number;
  /** Pins outstanding; undefined: not observable. */
  pins?: number;
  /** A reason why a step's results cannot be checked (e.g. the engine could not run it). */
  unchecked?: (target: StepResult) => string | undefined;
  /** Skip page fields the engine reports as null (it cannot observe them). */
  skipNullFields?: boolean;
  /** Page fields not to check, with why (e.g. zone: the live host's memory layout is its own). */
  skipFields?: Record<string, string>;
}

/**
 * Evaluate an expect step against the results so far. Returns the failures, the checks skipped
 * (with why) and how many checks were made. Shared by the model runner and the live-kernel probe.
 */
export function checkExpect(s: Extract<Step, { op: 'expect' }>, done: StepResult[], env: ExpectEnv): { failures: string[]; skipped: string[]; checked: number } {
  const failures: string[] = [];
  const skipped: string[] = [];
  let checked = 0;
  const delta = env.vmstat;
  for (const [k, want] of Object.entries(s.vmstat ?? {})) {
    if (!delta) { skipped.push(`vmstat ${k}`); continue; }
    checked++;
    if (!(k in delta)) failures.push(`vmstat ${k}: no such counter`);
    else if (delta[k] !== want) failures.push(`vmstat ${k}: got ${delta[k]}, want ${want}`);
  }
  if (s.step !== undefined || s.ret !== undefined || s.errno !== undefined || s.pages !== undefined || s.why !== undefined) {
    const target = typeof s.step === 'number' ? done[s.step]
      : s.step !== undefined ? [...done].reverse().find((d) => d.label === s.step)
      : [...done].reverse().find((d) => d.op !== 'expect');
    const tname = typeof s.step === 'string' ? `"${s.step}"` : `step ${target?.index}`;
    const why = target && env.unchecked?.(target);
    if (!target) { checked++; failures.push(`no step ${String(s.step)} to check`); }
    else if (why) skipped.push(`${tname}: ${why}`);
    else {
      if (s.ret !== undefined) { checked++; if (target.ret !== s.ret) failures.push(`${tname} ret: got ${target.ret}, want ${s.ret}`); }
      if (s.errno !== undefined) { checked++; if (target.errno !== s.errno) failures.push(`${tname} errno: got ${target.errno}, want ${s.errno}`); }
      if (s.why !== undefined) {
        const w = target.why ? `${target.why.fn}: ${target.why.rule}` : '';
        if (!target.why && env.skipNullFields) skipped.push(`${tname} why`);
        else { checked++; if (!w.includes(s.why)) failures.push(`${tname} why: got "${w}", want it to mention "${s.why}"`); }
      }
      if (s.pages !== undefined) {
        const got = (target.pages ?? []) as Array<Record<string, unknown>>;
        const wantList: Array<[number, Record<string, unknown>]> = Array.isArray(s.pages)
          ? s.pages.map((w, i) => [i, w])
          : Object.entries(s.pages).map(([k, w]) => [Number(k), w]);
        for (const [i, w] of wantList) {
          for (const [field, v] of Object.entries(w)) {
            const g = got[i]?.[field];
            if ((env.skipNullFields && g === null) || env.skipFields?.[field] !== undefined) { skipped.push(`${tname} pages[${i}].${field}`); continue; }
            checked++;
            if (!same(g, v)) failures.push(`${tname} pages[${i}].${field}: got ${JSON.stringify(g)}, want ${JSON.stringify(v)}`);
          }
        }
      }
    }
  }
  if (s.warnings !== undefined) {
    if (env.warnings === undefined) skipped.push('warnings');
    else { checked++; if (env.warnings !== s.warnings) failures.push(`warnings: got ${env.warnings}, want ${s.warnings}`); }
  }
  if (s.pins !== undefined) {
    if (env.pins === undefined) skipped.push('pins');
    else { checked++; if (env.pins !== s.pins) failures.push(`outstanding pins: got ${env.pins}, want ${s.pins}`); }
  }
  return { failures, skipped, checked };
}
