// `gupsim diff`: run a scenario on the model and on a live kernel (the host's, or with `kernel`
// Debian's 6.1 / 6.12 in a qemu VM) and compare them step by step: ret, errno, the per-step
// increments of nr_foll_pin_acquired / nr_foll_pin_released, the hugetlb pool counters, the `inspect`
// fields the kernel exposes (present, order, mapcount, zero_page; in a VM also what gupsim's module
// reads from the struct page, and the zone), which inspected pages share a frame, and page contents
// (the `data` a read-like step saw, and each inspected page's). Steps the kernel
// engine cannot run are skipped with the reason; a scenario it cannot run at all (settings it could
// not apply, no probe helper, no VM) is "not compared" with the reason. The summary counts what was
// compared, and agreement is claimed only when something was and nothing failed to agree.
//
// The kernel's counters are machine-wide, so a difference is re-measured: the scenario is re-run on
// the kernel (at most maxRuns times in all). Idle windows around every step show whether other
// activity moved the counters; runs with noise next to a step may be discarded for that step, but a
// difference seen in a clean run never is (the step is `flaky` when the clean runs disagree). A VM
// has no other tenant: no idle windows, and one run is enough by default.

import { release } from 'node:os';
import { SCHEMA_VERSION, type Scenario } from '../scenario/schema.js';
import { runScenario } from '../scenario/run.js';
import { profileByName } from '../mm/profile.js';
import { type RunResult, type StepResult } from '../scenario/result.js';
import {
  changesState,
  probeScenario,
  type KernelRunResult,
  type KernelStepResult,
  type ProbeOptions,
  type VmInfo,
} from './engine.js';
import { ProbeError } from './errors.js';
import { hostCmdline, withKernelZeroPage, zeroPageOptions } from './zeropage.js';
import { INSPECT_FIELD_SOURCE } from './kpage.js';
import { parseKernelOption } from './vm/releases.js';
import { counter, renderTable, type Row } from '../scenario/table.js';
import { formatData } from '../scenario/data.js';

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
   * same / differs (in every kernel run without noise next to it); flaky: the runs without noise
   * disagree, some differ from the model and some do not; skipped: the host could not run it, or
   * the kernel engine could not read what it shows (`not_compared`); unverified: it differs, but an
   * earlier step that changes state could not run on the host, so the two engines were not in the
   * same state; noisy: other activity moved the counters next to this step in every run and the
   * runs disagree, so it could not be measured.
   */
  status: 'same' | 'differs' | 'flaky' | 'skipped' | 'unverified' | 'noisy';
  /** Why the step was skipped, is unverified or noisy. */
  reason?: string;
  model: EngineView;
  kernel: EngineView | null;
  /** What differs, in words (from a kernel run that showed the outcome the status says). */
  differences: string[];
  /** Page fields the kernel engine could not read, named: not compared, never taken as equal. */
  not_compared?: string[];
  /** Kernel runs in which this step differed from the model, out of `runs`. */
  runs_differing: number;
  /** Some kernel run saw other activity move the counters next to this step. */
  noise: boolean;
}

/** What a diff compared: the single source of `agree`, of the CLI's exit code and of the live tests. */
export interface DiffSummary {
  /** Steps both engines ran and whose outcomes were compared: same + differ + flaky. */
  compared: number;
  same: number;
  differ: number;
  flaky: number;
  /** Steps not compared, with the reason (the host could not run them, or not read what they show). */
  skipped: Array<{ step: number; reason: string }>;
  /** Steps that differ after a state-changing step the host could not run. */
  unverified: number;
  /** Steps other activity on the host made unmeasurable in every run. */
  noisy: number;
  /** Why the scenario as a whole was not compared (no step then is). */
  notCompared?: string;
}

export interface DiffResult {
  schemaVersion: number;
  scenario: string;
  model: string;
  kernel: string;
  /**
   * True only when the scenario was compared, at least one step was, and no step differs, is flaky,
   * unverified or noisy (agrees(summary)).
   */
  agree: boolean;
  summary: DiffSummary;
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
  /** The VM the kernel ran in (`kernel` 6.1 / 6.12), absent for the host. */
  vm?: VmInfo;
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

/**
 * Inspect fields the kernel exposes and compares faithfully: /proc's on any kernel; the struct page
 * fields gupsim's module reads in a VM (null on a host, so not compared there); the zone only in a
 * VM, whose memory layout is the scenario's (a host's is its own).
 */
const PAGE_FIELDS = [
  'present',
  'order',
  'mapcount',
  'zero_page',
  'refcount',
  'pincount',
  'maybe_dma_pinned',
  'anon_exclusive',
  'mapped_by',
  'writable',
  'data',
] as const;
const VM_PAGE_FIELDS = [...PAGE_FIELDS, 'zone'] as const;
/** Fields of a present page the kernel engine must read for the step to be compared (pfn: frame identity). */
const READ_FIELDS = ['order', 'mapcount', 'zero_page', 'pfn', 'data'] as const;
/** In a VM also what gupsim's module reads from the struct page, and the zone (the scenario's layout). */
const VM_READ_FIELDS = [...READ_FIELDS, 'refcount', 'maybe_dma_pinned', 'anon_exclusive', 'mapped_by', 'zone'] as const;
const MODULE_SOURCE = "gupsim's module (struct page, page table walk)";
const FIELD_SOURCE: Record<(typeof VM_READ_FIELDS)[number], string> = {
  ...INSPECT_FIELD_SOURCE,
  pfn: '/proc/<pid>/pagemap (PFNs need CAP_SYS_ADMIN)',
  data: 'a load by the process of its present page',
  refcount: MODULE_SOURCE,
  maybe_dma_pinned: MODULE_SOURCE,
  anon_exclusive: MODULE_SOURCE,
  mapped_by: MODULE_SOURCE,
  zone: "the VM's /proc/zoneinfo",
};

function pagesOf(s: AnyStep): Array<Record<string, unknown>> {
  return Array.isArray(s.pages) ? (s.pages as Array<Record<string, unknown>>) : [];
}

const known = (v: unknown) => v !== null && v !== undefined;

/** One kernel run's view of one step: what differs, and what could not be compared. */
interface StepComparison {
  differences: string[];
  /** Page fields the kernel engine could not read, named. */
  unread: string[];
}

/** Differences of one step (not the pfn relations), in words. */
function compareStep(m: AnyStep, mv: EngineView, k: KernelStepResult, kv: EngineView, vm = false): StepComparison {
  const out: string[] = [];
  if (k.error) return { differences: [`the probe failed here: ${k.error}`], unread: [] };
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
    return { differences: out, unread: [] };
  }
  if (mv.ret !== kv.ret) out.push(`ret: model ${mv.ret}, kernel ${kv.ret}`);
  if (mv.errno !== kv.errno) out.push(`errno: model ${mv.errno ?? 'none'}, kernel ${kv.errno ?? 'none'}`);
  if (mv.acquired !== kv.acquired)
    out.push(`nr_foll_pin_acquired +${mv.acquired} on the model, +${kv.acquired} on the kernel`);
  if (mv.released !== kv.released)
    out.push(`nr_foll_pin_released +${mv.released} on the model, +${kv.released} on the kernel`);
  out.push(...compareHugetlb(m, k));
  // What a read saw (read, pread, read_disk, pipe_read, dma_read, process_vm_readv): page by page.
  const unread = new Map<string, number[]>();
  if (Array.isArray(m.data) && Array.isArray(k.data)) {
    const md = m.data as number[];
    const kd = k.data as number[];
    if (JSON.stringify(md) !== JSON.stringify(kd)) {
      const at = md.findIndex((v, i) => v !== kd[i]);
      out.push(
        `data: model ${formatData(md)}, kernel ${formatData(kd)}` +
          (at >= 0 && at < kd.length ? ` (first difference at page ${at})` : ''),
      );
    }
  } else if (Array.isArray(m.data) && m.data.length && mv.ret === kv.ret) unread.set('data', []);
  const mp = pagesOf(m);
  const kp = pagesOf(k);
  if (mp.length !== kp.length) out.push(`pages listed: ${mp.length} on the model, ${kp.length} on the kernel`);
  for (let i = 0; i < Math.min(mp.length, kp.length); i++) {
    const a = mp[i]!;
    const b = kp[i]!;
    if (a.present !== b.present) {
      out.push(
        `page ${String(a.page)} present: model ${JSON.stringify(a.present)}, kernel ${JSON.stringify(b.present)}`,
      );
      continue;
    }
    if (a.present !== true) continue;
    for (const f of vm ? VM_READ_FIELDS : READ_FIELDS) {
      if (known(a[f]) && !known(b[f])) unread.set(f, [...(unread.get(f) ?? []), Number(a.page)]);
    }
    for (const f of vm ? VM_PAGE_FIELDS : PAGE_FIELDS) {
      if (f === 'present' || !known(b[f])) continue;
      if (a[f] !== b[f])
        out.push(
          `page ${String(a.page)} ${f}: model ${JSON.stringify(a[f])}, kernel ${JSON.stringify(b[f])}` +
            (f === 'refcount' ? lruHint(b) : ''),
        );
    }
  }
  const names = [...unread].map(([f, pages]) => {
    if (!pages.length) return `${f}: the kernel engine reported none`;
    const which = pages.length === 1 ? `page ${pages[0]}` : `${pages.length} pages from page ${pages[0]}`;
    return `${f} of ${which}: not read from ${FIELD_SOURCE[f as (typeof VM_READ_FIELDS)[number]]}`;
  });
  return { differences: out, unread: names };
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

/**
 * Why a kernel refcount may be one more than a model's: a page not yet on an LRU list sits in a
 * per-CPU batch (folio_batch of mm/swap.c's lru_add), which holds a reference until it is drained.
 */
function lruHint(k: Record<string, unknown>): string {
  const flags = k.kpageflags;
  return Array.isArray(flags) && !flags.includes('LRU') && !flags.includes('ZERO_PAGE')
    ? ' (not on an LRU list yet: a per-CPU LRU batch holds a reference)'
    : '';
}

interface Frame {
  step: number;
  region: string;
  page: number;
  pfn: number;
  /** The model's folio number (PageInfo.serial); undefined on the kernel. */
  serial?: number;
}

function frames(sc: Scenario, steps: AnyStep[]): Map<string, Frame> {
  const out = new Map<string, Frame>();
  for (const s of steps) {
    const step = sc.steps[s.index];
    if (s.op !== 'inspect' || step?.op !== 'inspect' || step.region === undefined) continue;
    for (const p of pagesOf(s)) {
      if (typeof p.pfn !== 'number' || p.present !== true || p.zero_page === true) continue;
      const f: Frame = { step: s.index, region: step.region, page: Number(p.page), pfn: p.pfn };
      if (typeof p.serial === 'number') f.serial = p.serial;
      out.set(`${s.index}:${String(p.page)}`, f);
    }
  }
  return out;
}

/**
 * Whether a page keeps its frame between inspect steps of the same region and page (e.g. fork: the
 * parent keeps its pinned frame, the child gets a copy; a longterm pin migrates it): "same frame"
 * must agree on both engines. Reported on the later step. Other pairs are not compared: a frame
 * freed and allocated again is reused by the model's allocator deterministically, by the kernel's
 * as it happens (so a page the model shows in the same frame but as another folio, a new serial, is
 * left out: e.g. a page-cache page dropped and read in again); the zero page is compared through
 * zero_page.
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
      if (a.pfn === b.pfn && a.serial !== b.serial) continue;
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
  /** Per step: what differs and what was not read, or undefined when the host did not run it. */
  steps: Array<StepComparison | undefined>;
}

function compareRun(sc: Scenario, model: RunResult, kernel: KernelRunResult): RunComparison {
  const rel = compareFrames(sc, model.steps, kernel.steps);
  const steps = model.steps.map((m, i) => {
    const k = kernel.steps[i];
    if (!k || k.unsupported !== undefined) return undefined;
    const c = compareStep(m, view(m, model.steps[i - 1]), k, view(k, kernel.steps[i - 1]), kernel.vm !== undefined);
    return { differences: [...c.differences, ...(rel.get(i) ?? [])], unread: c.unread };
  });
  return { kernel, steps };
}

function differs(c: RunComparison): boolean {
  return c.steps.some((d) => d !== undefined && d.differences.length > 0);
}

/** Whether a diff may claim agreement: the scenario and some step compared, nothing else found. */
export function agrees(s: DiffSummary): boolean {
  return (
    s.notCompared === undefined &&
    s.compared > 0 &&
    s.differ === 0 &&
    s.flaky === 0 &&
    s.unverified === 0 &&
    s.noisy === 0
  );
}

/** The summary of per-step outcomes (notCompared: the scenario-wide reason, if any). */
export function summarize(steps: readonly StepDiff[], notCompared?: string): DiffSummary {
  const n = (st: StepDiff['status']) => steps.filter((s) => s.status === st).length;
  const summary: DiffSummary = {
    compared: n('same') + n('differs') + n('flaky'),
    same: n('same'),
    differ: n('differs'),
    flaky: n('flaky'),
    skipped: steps.filter((s) => s.status === 'skipped').map((s) => ({ step: s.index, reason: s.reason ?? '' })),
    unverified: n('unverified'),
    noisy: n('noisy'),
  };
  if (notCompared !== undefined) summary.notCompared = notCompared;
  return summary;
}

/** A diff of a scenario that was not compared at all, and why. */
function notComparedResult(
  scenario: string,
  model: string,
  kernel: string,
  reason: string,
  extra: Partial<DiffResult> = {},
): DiffResult {
  const summary = summarize([], reason);
  return {
    schemaVersion: SCHEMA_VERSION,
    scenario,
    model,
    kernel,
    agree: agrees(summary),
    summary,
    runs: 0,
    noise: false,
    steps: [],
    notes: [],
    ...extra,
  };
}

/** The verdict of one step over the kernel runs (see the rule in docs/probe.md). */
function verdictOf(runs: RunComparison[], i: number): 'same' | 'differs' | 'flaky' | 'noisy' {
  const differing = (r: RunComparison) => r.steps[i]!.differences.length > 0;
  // Runs with noise next to the step may be discarded; a difference in a clean run never is.
  const clean = runs.filter((r) => r.kernel.steps[i]?.noise !== true);
  if (clean.length) {
    const n = clean.filter(differing).length;
    return n === 0 ? 'same' : n === clean.length ? 'differs' : 'flaky';
  }
  // Every run was noisy: only an outcome all runs share is believed.
  const n = runs.filter(differing).length;
  if (n === 0) return 'same';
  const first = JSON.stringify(runs[0]!.steps[i]!.differences);
  if (n === runs.length && runs.every((r) => JSON.stringify(r.steps[i]!.differences) === first)) return 'differs';
  return 'noisy';
}

/** Run both engines and compare; re-runs the kernel to confirm a difference. */
export async function diffScenario(sc: Scenario, opts: DiffOptions = {}): Promise<DiffResult> {
  // A --kernel value that names no kernel is bad input (thrown), not a scenario left uncompared.
  const choice = parseKernelOption(opts.kernel, release());
  const kernelName = choice.kind === 'vm' ? `Linux ${choice.release} (qemu)` : `Linux ${release()}`;
  // A VM has no other tenant: a difference is confirmed by default only on a shared host.
  const maxRuns = Math.max(1, Math.min(opts.maxRuns ?? (choice.kind === 'vm' ? 1 : 3), 5));
  const probe = opts.probe ?? probeScenario;
  const name = sc.name ?? opts.name ?? 'scenario';
  // The model applies the rules of the release the kernel runs: a VM's profile (mm/profile.ts);
  // on the host, the scenario's kernel: (else 6.18, the host's release).
  const profile = choice.kind === 'vm' ? profileByName(choice.release) : undefined;
  const runModel = (scenario: Scenario): RunResult | DiffResult => {
    try {
      return runScenario(scenario, {
        ...(opts.name !== undefined ? { name: opts.name } : {}),
        ...(profile ? { profile } : {}),
      });
    } catch (e) {
      const msg = (e as Error).message;
      return notComparedResult(name, 'model', kernelName, `the model could not run this scenario: ${msg}`, {
        model_error: msg,
      });
    }
  };
  const ran = runModel(sc);
  if (!('engine' in ran)) return ran;
  let model = ran;
  let first: KernelRunResult;
  try {
    first = await probe(sc, opts);
  } catch (e) {
    // No probe on this host (not Linux, no C compiler, the helper does not build, the lock is held),
    // or no VM (no qemu, the kernel cannot be had, no disk modules for a disk file).
    if (!(e instanceof ProbeError) || e.code !== 'ERR_PROBE_UNSUPPORTED') throw e;
    return notComparedResult(model.scenario, model.kernel, kernelName, e.message);
  }
  const settingNotes = (r: KernelRunResult) =>
    r.settings.map((c) =>
      r.vm
        ? `VM setting for the run: ${c.what} ${c.from} -> ${c.to}`
        : `host setting for the run (restored after it): ${c.what} ${c.from} -> ${c.to}`,
    );
  if (first.notCompared !== undefined) {
    return notComparedResult(model.scenario, model.kernel, `Linux ${first.kernel}`, first.notCompared, {
      runs: 1,
      noise: first.noise,
      notes: [...new Set([...settingNotes(first), ...first.notes])],
      ...(first.vm ? { vm: first.vm } : {}),
    });
  }
  // A kernel that maps no zero page: the model runs as it does (zeropage.ts), and says so.
  const modelNotes: string[] = [];
  const asKernel = withKernelZeroPage(sc, first.zero_page);
  if (asKernel) {
    const again = runModel(asKernel);
    if (!('engine' in again)) return again;
    model = again;
    const options = first.vm ? [] : zeroPageOptions(hostCmdline());
    modelNotes.push(
      `read faults on this kernel do not map the zero page (mm_forbids_zeropage()` +
        `${options.length ? `; kernel command line: ${options.join(' ')}` : ''}): the model ran with ` +
        'machine.zero_page: false',
    );
  }
  const runs: RunComparison[] = [compareRun(sc, model, first)];
  const rerunNotes: string[] = [];
  if (differs(runs[0]!) && !first.error) {
    while (runs.length < maxRuns) {
      const again = await probe(sc, opts);
      if (again.notCompared !== undefined) {
        rerunNotes.push(`kernel run ${runs.length + 1} could not be made (${again.notCompared}): not counted`);
        break;
      }
      runs.push(compareRun(sc, model, again));
      // Two runs with the very same outcome and no noise: the difference is consistent, no third run.
      if (
        runs.length === 2 &&
        JSON.stringify(runs[0]!.steps) === JSON.stringify(runs[1]!.steps) &&
        !runs.some((r) => r.kernel.noise)
      )
        break;
    }
  }
  const steps: StepDiff[] = model.steps.map((m, i) => {
    const mv = view(m, model.steps[i - 1]);
    const base = { index: i, op: m.op, ...(m.label ? { label: m.label } : {}), model: mv };
    const noise = runs.some((r) => r.kernel.steps[i]?.noise === true);
    const skippedIn = runs.find((r) => r.steps[i] === undefined);
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
    const differsIn = (r: RunComparison) => r.steps[i]!.differences.length > 0;
    const differing = runs.filter(differsIn);
    const verdict = verdictOf(runs, i);
    const clean = runs.filter((r) => r.kernel.steps[i]?.noise !== true);
    // The run shown: the last one (without noise, if any) whose outcome the verdict names.
    const pool = (clean.length ? clean : runs).filter((r) => differsIn(r) === (verdict !== 'same'));
    const rep = pool[pool.length - 1] ?? runs[runs.length - 1]!;
    const cmp = rep.steps[i]!;
    const ks = rep.kernel.steps;
    const taints = ks
      .slice(0, i)
      .filter((k) => k.unsupported !== undefined && changesState(k.op))
      .map((k) => k.index);
    const unverified = verdict !== 'same' && taints.length > 0;
    const unread = verdict === 'same' && cmp.unread.length > 0;
    const status: StepDiff['status'] = unverified ? 'unverified' : unread ? 'skipped' : verdict;
    const reason = unverified
      ? `follows step(s) ${taints.join(', ')}, which did not run ${rep.kernel.vm ? 'in the VM' : 'on this host'}: ` +
        `the two engines were not in the same state`
      : unread
        ? `the kernel engine could not read what this step shows: ${cmp.unread.join('; ')}`
        : verdict === 'noisy'
          ? `other activity moved the pin counters next to this step in all ${runs.length} runs, and the ` +
            `runs disagree`
          : verdict === 'flaky'
            ? `differed in ${differing.filter((r) => clean.includes(r)).length} of ${clean.length} run(s) ` +
              `without noise, and agreed in the others`
            : undefined;
    return {
      ...base,
      status,
      ...(reason !== undefined ? { reason } : {}),
      kernel: view(ks[i]!, ks[i - 1]),
      differences: verdict === 'same' ? [] : cmp.differences,
      ...(cmp.unread.length ? { not_compared: cmp.unread } : {}),
      runs_differing: differing.length,
      noise,
    } satisfies StepDiff;
  });
  const notes = [
    ...new Set([
      ...modelNotes,
      ...runs.flatMap((r) => settingNotes(r.kernel)),
      ...runs.flatMap((r) => r.kernel.notes),
      ...rerunNotes,
    ]),
  ];
  const kernelError = runs.map((r) => r.kernel.error).find((e) => e !== undefined);
  const summary = summarize(steps);
  const result: DiffResult = {
    schemaVersion: SCHEMA_VERSION,
    scenario: model.scenario,
    model: model.kernel,
    kernel: `Linux ${first.kernel}`,
    agree: agrees(summary),
    summary,
    runs: runs.length,
    noise: runs.some((r) => r.kernel.noise),
    steps,
    notes,
  };
  if (kernelError) result.kernel_error = kernelError;
  if (first.vm) result.vm = first.vm;
  return result;
}

/** An engine's cells of a step: ret (or -ERRNO), then the pin counters as `total (+delta)`. */
function engineCells(v: EngineView): string[] {
  return [
    v.errno ? `-${v.errno}` : v.ret === null ? '-' : String(v.ret),
    counter(v.total_acquired, v.acquired),
    counter(v.total_released, v.released),
  ];
}

/** What the summary means, in a few words. */
function verdictText(d: DiffResult): string {
  const s = d.summary;
  if (d.agree) return 'the model and the kernel agree';
  if (s.differ || s.flaky || d.kernel_error) return 'the model and the kernel DIFFER';
  if (s.unverified)
    return `no agreement claimed: steps differ after steps ${d.vm ? 'the VM' : 'this host'} could not run`;
  if (s.noisy) return 'no agreement claimed: the host was too noisy (re-run when the machine is quieter)';
  return 'no agreement claimed: no step could be compared';
}

/**
 * The summary as one line: the counts of DiffSummary, the kernel runs, and the verdict (or why the
 * scenario was not compared).
 */
export function formatSummary(d: DiffResult): string {
  const s = d.summary;
  if (s.notCompared !== undefined) return `summary: not compared: ${s.notCompared}; no agreement claimed`;
  return (
    `summary: ${s.compared} step(s) compared: ${s.same} same, ${s.differ} differ, ${s.flaky} flaky; ` +
    `${s.skipped.length} skipped, ${s.unverified} unverified${s.noisy ? `, ${s.noisy} noisy` : ''}; ` +
    `${d.runs} kernel run(s): ${verdictText(d)}`
  );
}

/** The human report: one line per step, what differs, what was skipped, the noise seen, the summary line. */
export function formatDiff(d: DiffResult): string {
  const out: string[] = [];
  out.push(`diff: ${d.scenario}`);
  out.push(`  model:  ${d.model}`);
  out.push(`  kernel: ${d.kernel}`);
  if (d.steps.length) {
    out.push("  per engine: ret, then nr_foll_pin_acquired and nr_foll_pin_released as total (+this step's increment)");
    const rows: Row[] = d.steps.map((s) => {
      const label = s.label ? `${s.op} [${s.label}]` : s.op;
      const mark = {
        same: 'same',
        skipped: 'skipped',
        unverified: 'unverified',
        differs: 'DIFFERS',
        flaky: 'FLAKY',
        noisy: 'NOISY (not measured)',
      }[s.status];
      const extra =
        s.status === 'same' && s.runs_differing ? ` (differed in ${s.runs_differing} of ${d.runs} runs)` : '';
      const details: string[] = [];
      if (s.status === 'skipped') details.push(`skipped: ${s.reason}`);
      if (s.status === 'unverified') details.push(`not counted as agreeing: ${s.reason}`);
      if (s.status === 'flaky') details.push(`flaky: ${s.reason}`);
      if (s.status === 'noisy') details.push(`could not be measured: ${s.reason}`);
      for (const x of s.differences)
        details.push(`${x}${s.runs_differing > 1 ? ` (in ${s.runs_differing} of ${d.runs} runs)` : ''}`);
      if (s.status !== 'skipped') for (const x of s.not_compared ?? []) details.push(`not compared: ${x}`);
      return {
        cells: [
          String(s.index),
          label,
          ...engineCells(s.model),
          ...(s.kernel ? engineCells(s.kernel) : ['-', '', '']),
          `${mark}${extra}${s.noise ? ' [noise]' : ''}`,
        ],
        details,
      };
    });
    out.push(
      ...renderTable(['#', 'step', 'model', 'acquired', 'released', 'kernel', 'acquired', 'released', 'verdict'], rows),
    );
  }
  if (d.steps.length) {
    if (d.noise) {
      const where = d.steps.filter((s) => s.noise).map((s) => s.index);
      out.push(
        `host noise: other activity moved the pin counters next to step(s) ${where.join(', ')}; differences ` +
          `were re-measured (${d.runs} runs); runs with noise next to a step may be discarded for it, a ` +
          `difference in a run without noise never is`,
      );
    } else out.push(d.vm ? 'noise: not measured (the VM runs nothing but the scenario)' : 'host noise: none seen');
  }
  for (const x of d.notes) out.push(`note: ${x}`);
  if (d.kernel_error) out.push(`probe error: ${d.kernel_error}`);
  out.push(formatSummary(d));
  return out.join('\n') + '\n';
}
