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
