// The functions the scenario schema (schema.ts) calls: the transforms of size fields and of `kernel:`, and
// the check on the machine's memory. They live here, without zod, so that the parser generated from the
// schema at build time (parser_gen.ts) can import and call the very same functions.

import { parseSize } from './sizes.js';

/** The smallest machine a scenario may ask for. */
export const MIN_MACHINE_MEMORY = 8 << 20;

/** What a zod transform may do to report a problem (the part of zod's context these functions use). */
export interface IssueSink {
  addIssue(issue: { code: 'custom'; message: string }): void;
}

/** A size field's bytes; an issue (and NaN, which the failed parse never returns) when it is not a size. */
export function sizeField(v: number | string, ctx: IssueSink): number {
  const n = parseSize(v);
  if (n !== undefined) return n;
  ctx.addIssue({
    code: 'custom',
    message: `expected a size such as 4096, 64KiB, 2M or 1GiB, got ${JSON.stringify(v)}`,
  });
  return NaN;
}

/** machine.memory is large enough. */
export function machineMemoryOk(bytes: number): boolean {
  return bytes >= MIN_MACHINE_MEMORY;
}

/** `kernel:` as the release's name: YAML reads `kernel: 6.12` as a number. */
export function kernelName(v: string | number): string {
  return String(v);
}
