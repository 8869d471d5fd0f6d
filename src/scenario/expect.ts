// The `expect` step: checks of counters, earlier steps' results, WARNs and outstanding pins. Shared
// by the model runner and the live-kernel probe, which fill in what their engine can observe.

import type { Step } from './schema.js';
import type { StepResult } from './result.js';
import { formatData, stepData } from './data.js';

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** What an expect step sees besides the earlier steps' results (each engine fills it in). */
export interface ExpectEnv {
  /** Counters as deltas since the scenario began; undefined: not observable, the checks are skipped. */
  vmstat?: Record<string, number>;
  /** WARN records so far; undefined: not observable. */
  warnings?: number;
  /** gupsim's misuse records so far; undefined: not observable (the live kernel cannot tell). */
  misuse?: number;
  /** Pins outstanding; undefined: not observable. */
  pins?: number;
  /** A reason why a step's results cannot be checked (e.g. the engine could not run it). */
  unchecked?: (target: StepResult) => string | undefined;
  /** Skip page fields the engine reports as null (it cannot observe them). */
  skipNullFields?: boolean;
  /** Page fields not to check, with why (e.g. zone: the live host's memory layout is its own). */
  skipFields?: Record<string, string>;
  /** hugetlb pool counters now, by size; undefined: not observable. */
  hugetlb?: Partial<Record<string, Partial<Record<string, number>>>>;
}

/**
 * Evaluate an expect step against the results so far. Returns the failures, the checks skipped
 * (with why) and how many checks were made. Shared by the model runner and the live-kernel probe.
 */
export function checkExpect(
  s: Extract<Step, { op: 'expect' }>,
  done: StepResult[],
  env: ExpectEnv,
): { failures: string[]; skipped: string[]; checked: number } {
  const failures: string[] = [];
  const skipped: string[] = [];
  let checked = 0;
  const delta = env.vmstat;
  for (const [k, want] of Object.entries(s.vmstat ?? {})) {
    if (!delta) {
      skipped.push(`vmstat ${k}`);
      continue;
    }
    checked++;
    if (!(k in delta)) failures.push(`vmstat ${k}: no such counter`);
    else if (delta[k] !== want) failures.push(`vmstat ${k}: got ${delta[k]}, want ${want}`);
  }
  if (
    s.step !== undefined ||
    s.ret !== undefined ||
    s.errno !== undefined ||
    s.pages !== undefined ||
    s.why !== undefined ||
    s.data !== undefined
  ) {
    const target = findStep(done, s.step);
    const tname = typeof s.step === 'string' ? `"${s.step}"` : `step ${target?.index}`;
    const why = target && env.unchecked?.(target);
    if (!target) {
      checked++;
      failures.push(`no step ${String(s.step)} to check`);
    } else if (why) skipped.push(`${tname}: ${why}`);
    else {
      if (s.ret !== undefined) {
        checked++;
        if (target.ret !== s.ret) failures.push(`${tname} ret: got ${target.ret}, want ${s.ret}`);
      }
      if (s.errno !== undefined) {
        checked++;
        if (target.errno !== s.errno) failures.push(`${tname} errno: got ${target.errno}, want ${s.errno}`);
      }
      if (s.why !== undefined) {
        const w = target.why ? `${target.why.fn}: ${target.why.rule}` : '';
        if (!target.why && env.skipNullFields) skipped.push(`${tname} why`);
        else {
          checked++;
          if (!w.includes(s.why)) failures.push(`${tname} why: got "${w}", want it to mention "${s.why}"`);
        }
      }
      if (s.pages !== undefined) {
        const got = (target.pages ?? []) as Array<Record<string, unknown>>;
        const wantList: Array<[number, Record<string, unknown>]> = Array.isArray(s.pages)
          ? s.pages.map((w, i) => [i, w])
          : Object.entries(s.pages).map(([k, w]) => [Number(k), w]);
        for (const [i, w] of wantList) {
          for (const [field, v] of Object.entries(w)) {
            const g = got[i]?.[field];
            if ((env.skipNullFields && g === null) || env.skipFields?.[field] !== undefined) {
              skipped.push(`${tname} pages[${i}].${field}`);
              continue;
            }
            checked++;
            if (!same(g, v))
              failures.push(`${tname} pages[${i}].${field}: got ${JSON.stringify(g)}, want ${JSON.stringify(v)}`);
          }
        }
      }
      if (s.data !== undefined) checked += checkData(s.data, target, tname, done, env, failures, skipped);
    }
  }
  if (s.warnings !== undefined) {
    if (env.warnings === undefined) skipped.push('warnings');
    else {
      checked++;
      if (env.warnings !== s.warnings) failures.push(`warnings: got ${env.warnings}, want ${s.warnings}`);
    }
  }
  for (const [size, want] of Object.entries(s.hugetlb ?? {})) {
    for (const [k, v] of Object.entries(want ?? {})) {
      const got = env.hugetlb?.[size]?.[k];
      if (got === undefined) {
        skipped.push(`hugetlb ${size} ${k}`);
        continue;
      }
      checked++;
      if (got !== v) failures.push(`hugetlb ${size} ${k}: got ${got}, want ${v}`);
    }
  }
  if (s.misuse !== undefined) {
    if (env.misuse === undefined) skipped.push('misuse');
    else {
      checked++;
      if (env.misuse !== s.misuse) failures.push(`misuse records: got ${env.misuse}, want ${s.misuse}`);
    }
  }
  if (s.pins !== undefined) {
    if (env.pins === undefined) skipped.push('pins');
    else {
      checked++;
      if (env.pins !== s.pins) failures.push(`outstanding pins: got ${env.pins}, want ${s.pins}`);
    }
  }
  return { failures, skipped, checked };
}

/** The step an expect names (label or index), or the last step that is not an expect. */
function findStep(done: StepResult[], step: string | number | undefined): StepResult | undefined {
  if (typeof step === 'number') return done[step];
  if (step !== undefined) return [...done].reverse().find((d) => d.label === step);
  return [...done].reverse().find((d) => d.op !== 'expect');
}

/** The `data` check: one value for every page, a list, or the same as / different from another step's. */
function checkData(
  want: NonNullable<Extract<Step, { op: 'expect' }>['data']>,
  target: StepResult,
  tname: string,
  done: StepResult[],
  env: ExpectEnv,
  failures: string[],
  skipped: string[],
): number {
  const got = stepData(target);
  if (!got) {
    failures.push(`${tname} data: the step shows no data`);
    return 1;
  }
  if (env.skipNullFields && got.some((v) => v === null)) {
    skipped.push(`${tname} data`);
    return 0;
  }
  if (typeof want === 'number') {
    const bad = got.findIndex((v) => v !== want);
    if (bad >= 0)
      failures.push(
        `${tname} data: page ${bad} holds ${formatData([got[bad]!])}, want ${formatData([want])} in every page`,
      );
    return 1;
  }
  if (Array.isArray(want)) {
    if (!same(got, want)) failures.push(`${tname} data: got ${formatData(got)}, want ${formatData(want)}`);
    return 1;
  }
  const ref = 'sameAs' in want ? want.sameAs : want.differentFrom;
  const other = findStep(done, ref);
  const oname = typeof ref === 'string' ? `"${ref}"` : `step ${ref}`;
  if (!other) {
    failures.push(`${tname} data: no step ${String(ref)} to compare with`);
    return 1;
  }
  const why = env.unchecked?.(other);
  if (why) {
    skipped.push(`${tname} data vs ${oname}: ${why}`);
    return 0;
  }
  const od = stepData(other);
  if (!od) {
    failures.push(`${tname} data: ${oname} shows no data`);
    return 1;
  }
  if (env.skipNullFields && od.some((v) => v === null)) {
    skipped.push(`${tname} data vs ${oname}`);
    return 0;
  }
  const eq = same(got, od);
  if ('sameAs' in want && !eq) failures.push(`${tname} data: got ${formatData(got)}, ${oname} has ${formatData(od)}`);
  if ('differentFrom' in want && eq) failures.push(`${tname} data: ${formatData(got)}, the same as ${oname}`);
  return 1;
}
