// One scenario on several release profiles (gupsim run --kernel all): where the model's answers
// differ - per step ret, errno, why, the step's own pin-counter deltas, inspect fields, dump_page and
// vmstat text, WARNs - and which profile fields explain each difference: a field explains it when
// running the release with that field (or a few fields together) set back to the reference release's
// value makes the answer agree with the reference.

import { runScenario } from '../scenario/run.js';
import { ScenarioError } from '../scenario/error.js';
import type { Scenario } from '../scenario/schema.js';
import type { RunResult, StepResult } from '../scenario/result.js';
import { DEFAULT_PROFILE, PROFILES, profileDifferences, type KernelProfile } from '../mm/profile.js';

/** One release's run, or why it could not run (a setting the release lacks). */
export interface KernelRun {
  release: string;
  result?: RunResult;
  notRun?: string;
}

/** One observable that differs: where, and each release's value (as text). */
export interface KernelDifference {
  /** Step index, or undefined for the end of the run (pins, warnings, ok). */
  step?: number;
  op: string;
  label?: string;
  /** 'ret', 'errno', 'why', 'acquired', 'released', 'warnings', 'page 3 refcount', 'text', ... */
  field: string;
  values: Record<string, string>;
  /** Per release that differs from the reference: the profile fields that explain it ([] if none found). */
  because: Record<string, string[]>;
}

export interface KernelComparison {
  reference: string;
  runs: KernelRun[];
  differences: KernelDifference[];
}

type Observations = Map<string, { step?: number; op: string; label?: string; field: string; value: string }>;

/** Fields of a result that are identities, not behaviour: compared nowhere. */
const IGNORED_PAGE_FIELDS = new Set(['pfn', 'page']);

function show(v: unknown): string {
  return v === undefined ? '-' : typeof v === 'string' ? v : JSON.stringify(v);
}

/** Everything comparable of a run, keyed by "step/field". */
function observe(r: RunResult): Observations {
  const out: Observations = new Map();
  const put = (s: StepResult | undefined, field: string, value: unknown): void => {
    const key = `${s ? s.index : 'end'}/${field}`;
    const o: { step?: number; op: string; label?: string; field: string; value: string } = {
      op: s ? s.op : 'end of run',
      field,
      value: show(value),
    };
    if (s) o.step = s.index;
    if (s?.label) o.label = s.label;
    out.set(key, o);
  };
  let prev = { nr_foll_pin_acquired: 0, nr_foll_pin_released: 0 };
  for (const s of r.steps) {
    if (s.op === 'expect') continue;
    put(s, 'ret', s.ret);
    put(s, 'errno', s.errno);
    put(s, 'why', s.why ? `${s.why.fn}: ${s.why.rule}` : undefined);
    put(s, 'acquired', s.vmstat.nr_foll_pin_acquired - prev.nr_foll_pin_acquired);
    put(s, 'released', s.vmstat.nr_foll_pin_released - prev.nr_foll_pin_released);
    prev = s.vmstat;
    put(
      s,
      'warnings',
      r.warnings.filter((w) => w.step === s.index).map((w) => `${w.fn}: ${w.condition}`),
    );
    if (typeof s.text === 'string') put(s, 'text', s.text.replace(/\n$/, ''));
    const pages = s.pages as Array<Record<string, unknown>> | undefined;
    for (const p of pages ?? [])
      for (const [k, v] of Object.entries(p)) if (!IGNORED_PAGE_FIELDS.has(k)) put(s, `page ${String(p.page)} ${k}`, v);
  }
  put(
    undefined,
    'pins',
    r.pins.map((p) => `${p.type} ${p.owner}: ${p.pins} pin(s), ${p.refs} ref(s)`),
  );
  put(undefined, 'warnings', r.warnings.length);
  return out;
}

/** A run on `profile`, or the reason it cannot run there. */
function runOn(sc: Scenario, profile: KernelProfile, name: string): KernelRun {
  try {
    return { release: profile.release, result: runScenario(sc, { name, profile }) };
  } catch (e) {
    if (e instanceof ScenarioError) return { release: profile.release, notRun: e.problems.join('; ') };
    throw e;
  }
}

/** `profile` with `fields` set to the reference's values. */
function flipped(profile: KernelProfile, ref: KernelProfile, fields: readonly (keyof KernelProfile)[]): KernelProfile {
  const p: Record<string, unknown> = { ...profile };
  for (const f of fields) p[f] = ref[f];
  return p as unknown as KernelProfile;
}

/** Subsets of `items` of size k (k small). */
function subsets<T>(items: readonly T[], k: number): T[][] {
  if (k === 0) return [[]];
  const out: T[][] = [];
  items.forEach((x, i) => {
    for (const rest of subsets(items.slice(i + 1), k - 1)) out.push([x, ...rest]);
  });
  return out;
}

/** At most this many fields are tried together to explain one difference. */
const MAX_FIELDS_TOGETHER = 3;

/**
 * Run `sc` on each profile and list where the answers differ from the reference's (default 6.18),
 * with the profile fields that explain each difference.
 */
export function compareKernels(
  sc: Scenario,
  opts: { name?: string; profiles?: readonly KernelProfile[]; reference?: KernelProfile } = {},
): KernelComparison {
  const profiles = opts.profiles ?? PROFILES;
  const ref = opts.reference ?? DEFAULT_PROFILE;
  const name = opts.name ?? sc.name ?? 'scenario';
  const runs = profiles.map((p) => runOn(sc, p, name));
  const obs = new Map<string, Observations>();
  for (const r of runs) if (r.result) obs.set(r.release, observe(r.result));
  const refObs = obs.get(ref.release);
  const keys = new Set<string>();
  for (const o of obs.values()) for (const k of o.keys()) keys.add(k);
  const differences: KernelDifference[] = [];
  // Runs of a release with some fields set back, memoized by the flipped fields.
  const flipRuns = new Map<string, Observations | undefined>();
  // The field sets found so far per release: a set that explains one observation often explains
  // another of the same step (a page's refcount and its lru flag).
  const found = new Map<string, (keyof KernelProfile)[][]>();
  const flipObs = (p: KernelProfile, fields: (keyof KernelProfile)[]): Observations | undefined => {
    const key = `${p.release}:${fields.join(',')}`;
    if (!flipRuns.has(key)) {
      const r = runOn(sc, flipped(p, ref, fields), name);
      flipRuns.set(key, r.result ? observe(r.result) : undefined);
    }
    return flipRuns.get(key);
  };
  for (const key of keys) {
    const values: Record<string, string> = {};
    let first: { step?: number; op: string; label?: string; field: string } | undefined;
    for (const [release, o] of obs) {
      const v = o.get(key);
      values[release] = v?.value ?? '-';
      first ??= v;
    }
    if (new Set(Object.values(values)).size <= 1 || !first) continue;
    const because: Record<string, string[]> = {};
    if (refObs) {
      const want = refObs.get(key)?.value ?? '-';
      for (const p of profiles) {
        if (p === ref || !obs.has(p.release) || values[p.release] === want) continue;
        const set = explain(p, ref, key, want, flipObs, found.get(p.release) ?? []);
        because[p.release] = set;
        if (set.length) found.set(p.release, [...(found.get(p.release) ?? []), set]);
      }
    }
    const d: KernelDifference = { op: first.op, field: first.field, values, because };
    if (first.step !== undefined) d.step = first.step;
    if (first.label) d.label = first.label;
    differences.push(d);
  }
  differences.sort((a, b) => (a.step ?? Infinity) - (b.step ?? Infinity));
  return { reference: ref.release, runs, differences };
}

/** The smallest set of p's fields that, set to ref's values, makes observation `key` read `want`. */
function explain(
  p: KernelProfile,
  ref: KernelProfile,
  key: string,
  want: string,
  flipObs: (p: KernelProfile, fields: (keyof KernelProfile)[]) => Observations | undefined,
  earlier: (keyof KernelProfile)[][] = [],
): (keyof KernelProfile)[] {
  const fields = profileDifferences(p, ref);
  const agrees = (set: (keyof KernelProfile)[]) => (flipObs(p, set)?.get(key)?.value ?? '-') === want;
  const base = flipObs(p, [])?.get(key)?.value ?? '-';
  // Fields that move this observation at all; combinations are searched among them only.
  const moving = fields.filter((f) => (flipObs(p, [f])?.get(key)?.value ?? '-') !== base);
  for (let k = 1; k <= Math.min(MAX_FIELDS_TOGETHER, moving.length); k++)
    for (const set of subsets(moving, k)) if (agrees(set)) return set;
  // Fields that only matter together (which pin path runs and whether that path refuses; large folios
  // in the page cache and fault-around mapping them whole): a moving field with any other, then any
  // two.
  for (const f of moving) for (const g of fields) if (g !== f && agrees([f, g])) return [f, g];
  for (const set of subsets(fields, 2)) if (agrees(set)) return set;
  for (const set of earlier) if (agrees(set)) return set;
  // A moving field with any two others (a pin path that only then copies a page into a new folio,
  // whose LRU batch moves at a point set by both the batch size and the page cache's folio sizes).
  for (const f of moving)
    for (const pair of subsets(
      fields.filter((g) => g !== f),
      2,
    ))
      if (agrees([f, ...pair])) return [f, ...pair];
  return [];
}
