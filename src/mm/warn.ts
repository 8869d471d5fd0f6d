// Models WARN_ON_ONCE / VM_WARN_ON_ONCE (include/asm-generic/bug.h): the kernel prints a splat once
// per call site and carries on. The model records every occurrence, marking repeats of a call site
// as `once: false` (what the kernel would not print again), and never throws.

export interface WarnRecord {
  /** Kernel function that warned, e.g. 'is_valid_gup_args'. */
  fn: string;
  /** The condition, e.g. 'FOLL_LONGTERM without FOLL_PIN'. */
  condition: string;
  /** First time this call site fired (the kernel prints only this one). */
  once: boolean;
  /** Step index of the scenario (set by the runner), if any. */
  step?: number;
}

export class WarnLog {
  readonly records: WarnRecord[] = [];
  private readonly seen = new Set<string>();
  /** Set by the scenario runner so records name the step. */
  step: number | undefined;

  warn(fn: string, condition: string): void {
    const key = `${fn}\u0000${condition}`;
    const once = !this.seen.has(key);
    this.seen.add(key);
    const rec: WarnRecord = { fn, condition, once };
    if (this.step !== undefined) rec.step = this.step;
    this.records.push(rec);
  }
}

/** WARN sites outside mm/gup.c. */
const FN_FILE: Record<string, string> = {
  io_pin_pages: 'io_uring/memmap.c',
  verify_dma_pinned: 'mm/gup_test.c',
};

/** A WARN record in the shape of the kernel's splat header. */
export function formatWarn(w: WarnRecord): string {
  const file = FN_FILE[w.fn] ?? 'mm/gup.c';
  const step = w.step !== undefined ? ` (step ${w.step})` : '';
  return (
    `WARNING: at ${file} ${w.fn}: ` +
    `${w.condition}${w.once ? '' : ' [repeat: not ' + 'printed again by ' + 'WARN_ON_ONCE]'}${step}`
  );
}
