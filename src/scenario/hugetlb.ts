// The hugetlb pool counters a scenario shows and checks: per size, the files of
// /sys/kernel/mm/hugepages/hugepages-<size>kB/ (HugePages_Total/Free/Rsvd/Surp of /proc/meminfo are
// the 2M ones). Both engines report them on every step of a scenario that uses hugetlb, as `hugetlb`.

import type { Machine } from '../mm/machine.js';
import { HUGETLB_SIZES, type HugetlbCounters, type HugetlbSize } from '../mm/hugetlb.js';
import type { Scenario } from './schema.js';

/** Counters by size, as in a step result: { '2M': { nr_hugepages: 4, ... }, '1G': { ... } }. */
export type HugetlbView = Partial<Record<HugetlbSize, HugetlbCounters>>;

/** Whether the scenario sets up or maps hugetlb memory (its steps then carry `hugetlb`). */
export function usesHugetlb(sc: Scenario): boolean {
  const mc = sc.machine ?? {};
  if (mc.hugetlb !== undefined || mc.hugetlb_overcommit !== undefined) return true;
  return sc.steps.some((s) => s.op === 'mmap' && s.type === 'hugetlb');
}

/** The model's counters for every size. */
export function modelHugetlbCounters(m: Machine): HugetlbView {
  const out: HugetlbView = {};
  for (const [size, order] of Object.entries(HUGETLB_SIZES)) out[size as HugetlbSize] = m.hugetlb.counters(order);
  return out;
}
