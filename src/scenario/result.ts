// The result JSON of a scenario run (DESIGN.md's contract), the same for every engine.

import type { OutstandingHold } from './holders.js';
import type { WarnRecord } from '../mm/warn.js';
import type { HugetlbView } from './hugetlb.js';
import type { MisuseRecord } from '../mm/misuse.js';

export interface StepResult {
  index: number;
  op: string;
  label?: string;
  ret: number;
  errno: string | null;
  vmstat: { nr_foll_pin_acquired: number; nr_foll_pin_released: number };
  why?: { fn: string; rule: string };
  failures?: string[];
  /** hugetlb pool counters after the step, by size (scenarios that use hugetlb). */
  hugetlb?: HugetlbView;
  /** gupsim's misuse records of this step (model engine only). */
  misuse?: MisuseRecord[];
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
  /** Every misuse record, in order (model engine; the kernel cannot tell). */
  misuse?: MisuseRecord[];
}
