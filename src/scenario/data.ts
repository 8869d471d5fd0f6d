// Page contents in scenarios: the values steps write when they name none, the values a new file
// holds, and the `data` of a step's result (what a read, a device read or an inspect saw) that
// `expect` checks. Shared by the model runner and the live-kernel probe, which must write the same
// values to compare what comes back.

import type { StepResult } from './result.js';

/** Repeats of one step that get distinct fresh values (a step has at most this many). */
const REPEATS_PER_STEP = 1 << 16;

/**
 * The value a step writes when it names none: unique to the step (and to the repeat), so any two
 * writes differ; never 0 (what fresh pages hold), never a file's value (top bit clear). Readable in
 * hex: 0xSSSSRRRR is step SSSS - 1, repeat RRRR.
 */
export function freshValue(step: number, rep = 0): number {
  return (((step + 1) % 0x8000) * REPEATS_PER_STEP + (rep % REPEATS_PER_STEP)) >>> 0;
}

/**
 * What block `block` of a file created at step `step` holds when create_file names no value:
 * 0x80000000 | (step & 0x7ff) << 20 | (block & 0xfffff), distinct per block of a file up to 4 GiB and
 * from every fresh value. The probe's helper computes the same (helper.c file_block_value()).
 */
export function fileBlockValue(step: number, block: number): number {
  return (0x80000000 | ((step & 0x7ff) << 20) | (block & 0xfffff)) >>> 0;
}

/** The data a step's result shows, one value per page: `data`, or the `data` of inspected pages. */
export function stepData(r: StepResult): Array<number | null> | undefined {
  if (Array.isArray(r.data)) return r.data as Array<number | null>;
  if (Array.isArray(r.pages))
    return (r.pages as Array<{ data?: number | null }>).map((p) => (p.data === undefined ? null : p.data));
  if (Array.isArray(r.frames))
    return (r.frames as Array<{ data?: number[] }>).flatMap((f) => (Array.isArray(f.data) ? f.data : [null]));
  return undefined;
}

/** Values as text: runs of equal values as value×count, in hex. */
export function formatData(data: ReadonlyArray<number | null>, max = 8): string {
  const runs: Array<[number | null, number]> = [];
  for (const v of data) {
    const last = runs[runs.length - 1];
    if (last && last[0] === v) last[1]++;
    else runs.push([v, 1]);
  }
  const text = runs.slice(0, max).map(([v, n]) => `${v === null ? '-' : hex(v)}${n > 1 ? `×${n}` : ''}`);
  if (runs.length > max) text.push(`... (${data.length} pages)`);
  return text.join(' ');
}

export function hex(v: number): string {
  return '0x' + (v >>> 0).toString(16).padStart(8, '0');
}
