// `gupsim run --kernel all FILE`: the scenario on every release profile, then a compact table of the
// observations that differ (ret, errno, why, pin-counter deltas, inspect fields, dump_page and vmstat
// text, WARNs) with the profile fields that explain each. Exit 1 only if an expect step failed (or,
// with --strict, a run leaked pins); a release that lacks a setting of the scenario is "not run".

import { compareKernels, type KernelComparison } from '../tools/kernel_compare.js';
import type { Scenario } from '../scenario/schema.js';
import type { RunResult } from '../scenario/result.js';

const COL = 22;

function cell(s: string, n = COL): string {
  const one = s.replace(/\s+/g, ' ');
  const t = one.length > n - 1 ? one.slice(0, n - 2) + '…' : one;
  return t + ' '.repeat(Math.max(1, n - t.length));
}

/** For multi-line text (dump_page, vmstat): each release's first line that is not the same in all. */
function firstDifferingLines(values: Record<string, string>): Record<string, string> {
  const lines = Object.fromEntries(Object.entries(values).map(([k, v]) => [k, v.split('\n')]));
  const n = Math.max(...Object.values(lines).map((l) => l.length));
  for (let i = 0; i < n; i++) {
    const at = Object.values(lines).map((l) => l[i] ?? '');
    if (new Set(at).size > 1)
      return Object.fromEntries(Object.entries(lines).map(([k, l]) => [k, `${i + 1}| ${l[i] ?? '(none)'}`]));
  }
  return values;
}

/** The human report of a comparison. */
export function formatKernelComparison(name: string, c: KernelComparison): string {
  const out: string[] = [];
  const releases = c.runs.map((r) => r.release);
  out.push(`scenario: ${name}   engine: model (Linux ${releases.join(', ')}; differences against ${c.reference})`);
  for (const r of c.runs) {
    const state = r.notRun
      ? `not run: ${r.notRun}`
      : r.result!.ok
        ? `ok (${r.result!.steps.length} steps, ${r.result!.warnings.length} WARN(s))`
        : 'FAILED: an expect step did not hold';
    out.push(`  Linux ${r.release}: ${state}`);
  }
  if (!c.differences.length) {
    out.push('', 'no differences: every step answers the same on these releases');
    return out.join('\n') + '\n';
  }
  out.push('');
  out.push(
    cell('#', 5) + cell('step', 30) + cell('field', 18) + releases.map((r) => cell(r)).join('') + 'profile fields',
  );
  for (const d of c.differences) {
    const step = d.step === undefined ? 'end of run' : `${d.op}${d.label ? ` [${d.label}]` : ''}`;
    const because = Object.entries(d.because)
      .map(([r, f]) => `${r}: ${f.length ? f.join(' + ') : '(not found)'}`)
      .join('; ');
    const head = cell(d.step === undefined ? '-' : String(d.step), 5) + cell(step, 30) + cell(d.field, 18);
    if (d.field === 'text') {
      // Kernel text (dump_page, vmstat): the first line that differs, one release per line.
      out.push(head + cell('(first differing line)', COL * releases.length) + because);
      const lines = firstDifferingLines(d.values);
      for (const r of releases) out.push(`       ${cell(r + ':', 7)}${lines[r] ?? '-'}`);
      continue;
    }
    out.push(head + releases.map((r) => cell(d.values[r] ?? '-')).join('') + because);
  }
  out.push('', `${c.differences.length} difference(s)`);
  return out.join('\n') + '\n';
}

/** Run, print (text or JSON), and return the exit code. */
export function runAllKernels(
  sc: Scenario,
  name: string,
  o: { json: boolean; strict: boolean; strictFails: (r: RunResult) => boolean },
): number {
  const c = compareKernels(sc, { name });
  const results = c.runs.flatMap((r) => (r.result ? [r.result] : []));
  const failed = results.some((r) => !r.ok);
  const strictFailed = o.strict && results.some(o.strictFails);
  if (o.json) {
    const kernels = c.runs.map((r) =>
      r.result ? { release: r.release, result: r.result } : { release: r.release, notRun: r.notRun },
    );
    const json = { scenario: name, engine: 'model', reference: c.reference, kernels, differences: c.differences };
    process.stdout.write(JSON.stringify(json, null, 2) + '\n');
  } else process.stdout.write(formatKernelComparison(name, c));
  return failed || strictFailed ? 1 : 0;
}
