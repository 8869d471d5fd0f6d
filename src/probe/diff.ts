// `gupsim diff`: run a scenario on the model and on the host kernel and compare them step by step:
// ret, errno, the per-step increments of nr_foll_pin_acquired / nr_foll_pin_released, the hugetlb
// pool counters, the `inspect` fields the kernel exposes (present, order, mapcount, zero_page) and
// which inspected pages share a frame. Steps the host cannot run are skipped with the reason, never
// counted as differences.
//
// The kernel's counters are machine-wide, so a difference is believed only when it repeats: the
// scenario is re-run on the kernel (at most maxRuns times in all) and each step takes the majority
// outcome. Idle windows around every step show whether other activity moved the counters.

import { SCHEMA_VERSION, type Scenario } from '../scenario/schema.js';
import { runScenario } from '../scenario/run.js';
import { type RunResult, type StepResult } from '../scenario/result.js';
import {
  changesState,
  probeScenario,
  type KernelRunResult,
  type KernelStepResult,
  type ProbeOptions,
} from './engine.js';

export interface EngineView {
  ret: number | null;
  errno: string | null;
  /** Counter increments of this step. */
  acquired: number;
  released: number;
  /** Counters since the scenario began, after this step. */
  total_acquired: number;
  total_released: number;
}

export interface StepDiff {
  index: number;
  op: string;
  label?: string;
  /**
   * same / differs; skipped: the host could not run it; unverified: it differs, but an earlier step
   * that changes state could not run on the host, so the two engines were not in the same state
   * (shown, not counted as a difference); noisy: other activity moved the counters next to this step
   * in every run and the runs disagree, so it could not be measured (agreement is not claimed).
   */
  status: 'same' | 'differs' | 'skipped' | 'unverified' | 'noisy';
  /** Why the step was skipped or is unverified. */
  reason?: string;
  model: EngineView;
  kernel: EngineView | null;
  /** What differs, in words (from a kernel run that showed the majority outcome). */
  differences: string[];
  /** Kernel runs in which this step differed from the model, out of `runs`. */
  runs_differing: number;
  /** Some kernel run saw other activity move the counters next to this step. */
  noise: boolean;
}

export interface DiffResult {
  schemaVersion: number;
  scenario: string;
  model: string;
  kernel: string;
  /** True when no step differs (skipped steps aside). */
  agree: boolean;
  /** Kernel runs made (1 when the first agreed). */
  runs: number;
  /** Any kernel run saw noise. */
  noise: boolean;
  steps: StepDiff[];
  notes: string[];
  /** The model could not run the scenario (a gupsim bug or a missing feature). */
  model_error?: string;
  /** The probe failed (e.g. a helper timed out). */
  kernel_error?: string;
}

export interface DiffOptions extends ProbeOptions {
  /** Kernel runs at most (default 3). */
  maxRuns?: number;
  /** The kernel engine (tests may replace it). */
  probe?: (sc: Scenario, opts: ProbeOptions) => Promise<KernelRunResult>;
}

type AnyStep = StepResult | KernelStepResult;

function view(s: AnyStep, prev: AnyStep | undefined): EngineView {
  const a = s.vmstat.nr_foll_pin_acquired;
  const r = s.vmstat.nr_foll_pin_released;
  return {
    ret: s.ret,
    errno: s.errno,
    acquired: a - (prev?.vmstat.nr_foll_pin_acquired ?? 0),
    released: r - (prev?.vmstat.nr_foll_pin_released ?? 0),
    total_acquired: a,
    total_released: r,
  };
}

/** Inspect fields the kernel exposes and compares faithfully (zone is the host's layout: not compared). */
const PAGE_FIELDS = ['present', 'order', 'mapcount', 'zero_page'] as const;

function pagesOf(s: AnyStep): Array<Record<string, unknown>> {
  return Array.isArray(s.pages) ? (s.pages as Array<Record<string, unknown>>) : [];
}

/** Differences of one step (not the pfn relations), in words. */
function compareStep(m: AnyStep, mv: EngineView, k: KernelStepResult, kv: EngineView): string[] {
  const out: string[] = [];
  if (k.error) return [`the probe failed here: ${k.error}`];
  if (m.op === 'expect') {
    if (m.ret !== k.ret) {
      const kf = (k.failures ?? []).join('; ');
      const mf = (m.failures ?? []).join('; ');
      out.push(
        m.ret === 0
          ? `expect holds on the model, fails on the kernel: ${kf}`
          : `expect fails on the model (${mf}), holds on the kernel`,
      );
    }
    return out;
  }
  if (mv.ret !== kv.ret) out.push(`ret: model ${mv.ret}, kernel ${kv.ret}`);
  if (mv.errno !== kv.errno) out.push(`errno: model ${mv.errno ?? 'none'}, kernel ${kv.errno ?? 'none'}`);
  if (mv.acquired !== kv.acquired)
    out.push(`nr_foll_pin_acquired +${mv.acquired} on the model, +${kv.acquired} on the kernel`);
  if (mv.released !== kv.released)
    out.push(`nr_foll_pin_released +${mv.released} on the model, +${kv.released} on the kernel`);
  out.push(...compareHugetlb(m, k));
  const mp = pagesOf(m);
  const kp = pagesOf(k);
  for (let i = 0; i < Math.min(mp.length, kp.length); i++) {
    for (const f of PAGE_FIELDS) {
      const a = mp[i]![f];
      const b = kp[i]![f];
      if (b === null || b === undefined || a === undefined) continue;
      if (f !== 'present' && (mp[i]!.present !== true || kp[i]!.present !== true)) continue;
      if (a !== b)
        out.push(`page ${String(mp[i]!.page)} ${f}: model ${JSON.stringify(a)}, kernel ${JSON.stringify(b)}`);
    }
  }
  return out;
}

/** hugetlb pool counters after the step (both engines report them for scenarios that use hugetlb). */
function compareHugetlb(m: AnyStep, k: AnyStep): string[] {
  const mh = (m.hugetlb ?? {}) as Record<string, Record<string, number>>;
  const kh = (k.hugetlb ?? {}) as Record<string, Record<string, number> | undefined>;
  const out: string[] = [];
  for (const [size, counters] of Object.entries(mh)) {
    for (const [name, v] of Object.entries(counters)) {
      const kv = kh[size]?.[name];
      if (kv !== undefined && kv !== v) out.push(`hugetlb ${size} ${name}: model ${v}, kernel ${kv}`);
    }
  }
  return out;
}

interface Frame {
  step: number;
  region: string;
  page: number;
  pfn: number;
}

function frames(sc: Scenario, steps: AnyStep[]): Map<string, Frame> {
  const out = new Map<string, Frame>();
  for (const s of steps) {
    const step = sc.steps[s.index];
    if (s.op !== 'inspect' || step?.op !== 'inspect') continue;
    for (const p of pagesOf(s)) {
      if (typeof p.pfn !== 'number' || p.present !== true || p.zero_page === true) continue;
      out.set(`${s.index}:${String(p.page)}`, { step: s.index, region: step.region, page: Number(p.page), pfn: p.pfn });
    }
  }
  return out;
}

/**
 * Whether a page keeps its frame between inspect steps of the same region and page (e.g. fork: the
 * parent keeps its pinned frame, the child gets a copy; a longterm pin migrates it): "same frame"
 * must agree on both engines. Reported on the later step. Other pairs are not compared: a frame
 * freed and allocated again is reused by the model's allocator deterministically, by the kernel's
 * as it happens; the zero page is compared through zero_page.
 */
function compareFrames(sc: Scenario, model: AnyStep[], kernel: AnyStep[]): Map<number, string[]> {
  const mf = frames(sc, model);
  const kf = frames(sc, kernel);
  const keys = [...mf.keys()].filter((k) => kf.has(k)).slice(0, 512);
  const out = new Map<number, string[]>();
  for (let i = 0; i < keys.length; i++) {
    for (let j = i + 1; j < keys.length; j++) {
      const a = mf.get(keys[i]!)!;
      const b = mf.get(keys[j]!)!;
      if (a.step === b.step || a.region !== b.region || a.page !== b.page) continue;
      const ms = a.pfn === b.pfn;
      const ks = kf.get(keys[i]!)!.pfn === kf.get(keys[j]!)!.pfn;
      if (ms === ks) continue;
      const later = Math.max(a.step, b.step);
      const msg =
        `page ${b.page} of ${b.region} here and at step ${a.step}: ` +
        `${ms ? 'the same frame' : 'different frames'} on the model, ${ks ? 'the same frame' : 'different frames'} ` +
        `on the kernel`;
      out.set(later, [...(out.get(later) ?? []), msg]);
    }
  }
  return out;
}

interface RunComparison {
  kernel: KernelRunResult;
  /** Per step: differences (empty: same), or undefined when skipped. */
  diffs: Array<string[] | undefined>;
}

function compareRun(sc: Scenario, model: RunResult, kernel: KernelRunResult): RunComparison {
  const rel = compareFrames(sc, model.steps, kernel.steps);
  const diffs = model.steps.map((m, i) => {
    const k = kernel.steps[i];
    if (!k || k.unsupported !== undefined) return undefined;
    const d = compareStep(m, view(m, model.steps[i - 1]), k, view(k, kernel.steps[i - 1]));
    return [...d, ...(rel.get(i) ?? [])];
  });
  return { kernel, diffs };
}

function differs(c: RunComparison): boolean {
  return c.diffs.some((d) => d !== undefined && d.length > 0);
}

/** Run both engines and compare; re-runs the kernel to confirm a difference. */
export async function diffScenario(sc: Scenario, opts: DiffOptions = {}): Promise<DiffResult> {
  const maxRuns = Math.max(1, Math.min(opts.maxRuns ?? 3, 5));
  const probe = opts.probe ?? probeScenario;
  let model: RunResult | undefined;
  let modelError: string | undefined;
  try {
    model = runScenario(sc, opts.name !== undefined ? { name: opts.name } : {});
  } catch (e) {
    modelError = (e as Error).message;
  }
  const runs: RunComparison[] = [];
  const first = await probe(sc, opts);
  if (!model) {
    return {
      schemaVersion: SCHEMA_VERSION,
      scenario: first.scenario,
      model: 'model',
      kernel: `Linux ${first.kernel}`,
      agree: false,
      runs: 1,
      noise: first.noise,
      steps: [],
      notes: first.notes,
      model_error: modelError!,
    };
  }
  runs.push(compareRun(sc, model, first));
  if (differs(runs[0]!) && !first.error) {
    while (runs.length < maxRuns) {
      runs.push(compareRun(sc, model, await probe(sc, opts)));
      // Two runs with the very same outcome and no noise: the difference is consistent, no third run.
      if (
        runs.length === 2 &&
        JSON.stringify(runs[0]!.diffs) === JSON.stringify(runs[1]!.diffs) &&
        !runs.some((r) => r.kernel.noise)
      )
        break;
    }
  }
  const steps: StepDiff[] = model.steps.map((m, i) => {
    const mv = view(m, model!.steps[i - 1]);
    const base = { index: i, op: m.op, ...(m.label ? { label: m.label } : {}), model: mv };
    const noise = runs.some((r) => r.kernel.steps[i]?.noise === true);
    const skippedIn = runs.find((r) => r.diffs[i] === undefined);
    if (skippedIn) {
      const k = skippedIn.kernel.steps[i];
      return {
        ...base,
        status: 'skipped',
        reason: k?.unsupported ?? 'not run',
        kernel: null,
        differences: [],
        runs_differing: 0,
        noise,
      };
    }
    const differing = runs.filter((r) => r.diffs[i]!.length > 0);
    // Measurements without noise around the step win; among them the majority (a tie is not a
    // repeated difference). When every run was noisy, only an outcome all runs share is believed.
    const clean = runs.filter((r) => r.kernel.steps[i]?.noise !== true);
    let verdict: 'same' | 'differs' | 'noisy';
    if (clean.length)
      verdict = clean.filter((r) => r.diffs[i]!.length > 0).length * 2 > clean.length ? 'differs' : 'same';
    else if (differing.length === 0) verdict = 'same';
    else if (
      differing.length === runs.length &&
      runs.every((r) => JSON.stringify(r.diffs[i]) === JSON.stringify(runs[0]!.diffs[i]))
    )
      verdict = 'differs';
    else verdict = 'noisy';
    const pool =
      verdict === 'same'
        ? (clean.length ? clean : runs).filter((r) => r.diffs[i]!.length === 0)
        : (clean.length ? clean : runs).filter((r) => r.diffs[i]!.length > 0);
    const rep = pool[pool.length - 1] ?? runs[runs.length - 1]!;
    const ks = rep.kernel.steps;
    const taints = ks
      .slice(0, i)
      .filter((k) => k.unsupported !== undefined && changesState(k.op))
      .map((k) => k.index);
    const unverified = verdict !== 'same' && taints.length > 0;
    return {
      ...base,
      status: unverified ? 'unverified' : verdict,
      ...(unverified
        ? {
            reason:
              `follows step(s) ${taints.join(', ')}, which did not run on this host: the two engines were not ` +
              `in the same state`,
          }
        : verdict === 'noisy'
          ? {
              reason:
                `other activity moved the pin counters next to this step in all ${runs.length} runs, and the ` +
                `runs disagree`,
            }
          : {}),
      kernel: view(ks[i]!, ks[i - 1]),
      differences: verdict === 'same' ? [] : rep.diffs[i]!,
      runs_differing: differing.length,
      noise,
    } satisfies StepDiff;
  });
  const notes = [
    ...new Set([
      ...runs.flatMap((r) =>
        r.kernel.settings.map((c) => `host setting for the run (restored after it): ${c.what} ${c.from} -> ${c.to}`),
      ),
      ...runs.flatMap((r) => r.kernel.notes),
    ]),
  ];
  const kernelError = runs.map((r) => r.kernel.error).find((e) => e !== undefined);
  const result: DiffResult = {
    schemaVersion: SCHEMA_VERSION,
    scenario: model.scenario,
    model: model.kernel,
    kernel: `Linux ${first.kernel}`,
    agree: !kernelError && steps.every((s) => s.status !== 'differs' && s.status !== 'noisy'),
    runs: runs.length,
    noise: runs.some((r) => r.kernel.noise),
    steps,
    notes,
  };
  if (kernelError) result.kernel_error = kernelError;
  return result;
}

function pad(s: string, n: number): string {
  return s.length >= n ? s + ' ' : s + ' '.repeat(n - s.length);
}

function cell(v: EngineView | null): string {
  if (!v) return '';
  const r = v.errno ? `-${v.errno}` : String(v.ret);
  return `${r} +${v.acquired}/+${v.released} (${v.total_acquired}/${v.total_released})`;
}

/** The human report: one line per step, then what differs, what was skipped and the noise seen. */
export function formatDiff(d: DiffResult): string {
  const out: string[] = [];
  out.push(`diff: ${d.scenario}`);
  out.push(`  model:  ${d.model}`);
  out.push(`  kernel: ${d.kernel}`);
  if (d.model_error) {
    out.push(`the model could not run this scenario: ${d.model_error}`);
    return out.join('\n') + '\n';
  }
  out.push('  columns: ret  +acquired/+released in the step  (totals since the scenario began)');
  out.push(`${pad('#', 4)}${pad('step', 36)}${pad('model', 32)}${pad('kernel', 32)}`);
  for (const s of d.steps) {
    const label = s.label ? `${s.op} [${s.label}]` : s.op;
    const mark = {
      same: 'same',
      skipped: 'skipped',
      unverified: 'unverified',
      differs: 'DIFFERS',
      noisy: 'NOISY (not measured)',
    }[s.status];
    const extra = s.status === 'same' && s.runs_differing ? ` (differed in ${s.runs_differing} of ${d.runs} runs)` : '';
    out.push(
      `${pad(String(s.index), 4)}${pad(label, 36)}${pad(cell(s.model), 32)}` +
        `${pad(s.status === 'skipped' ? '-' : cell(s.kernel), 32)}${mark}${extra}${s.noise ? ' [noise]' : ''}`,
    );
    if (s.status === 'skipped') out.push(`      skipped: ${s.reason}`);
    if (s.status === 'unverified') out.push(`      not counted: ${s.reason}`);
    if (s.status === 'noisy') out.push(`      could not be measured: ${s.reason}`);
    for (const x of s.differences)
      out.push(`      ${x}${s.runs_differing > 1 ? ` (in ${s.runs_differing} of ${d.runs} runs)` : ''}`);
  }
  const n = (st: StepDiff['status']) => d.steps.filter((s) => s.status === st).length;
  out.push('');
  out.push(
    `${n('same')} step(s) agree, ${n('differs')} differ, ${n('skipped')} ` +
      `skipped${n('unverified') ? `, ${n('unverified')} unverified` : ''}` +
      `${n('noisy') ? `, ${n('noisy')} not measurable for host noise` : ''}; ${d.runs} kernel run(s)`,
  );
  if (d.noise) {
    const where = d.steps.filter((s) => s.noise).map((s) => s.index);
    out.push(
      `host noise: other activity moved the pin counters next to step(s) ${where.join(', ')}; differences were ` +
        `re-measured (${d.runs} runs), measurements without noise preferred`,
    );
  } else out.push('host noise: none seen');
  for (const x of d.notes) out.push(`note: ${x}`);
  if (d.kernel_error) out.push(`probe error: ${d.kernel_error}`);
  out.push(
    d.agree
      ? 'the model and the kernel agree'
      : d.steps.some((s) => s.status === 'differs') || d.kernel_error
        ? 'the model and the kernel DIFFER'
        : 'no agreement can be claimed: the host was too noisy (re-run when the machine is quieter)',
  );
  return out.join('\n') + '\n';
}
