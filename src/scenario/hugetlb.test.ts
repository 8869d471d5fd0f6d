// The hugetlb pool counters in scenarios: every step of a scenario that uses hugetlb reports them
// (`hugetlb`, by size, as /sys/kernel/mm/hugepages/hugepages-*kB/ shows them), an expect step checks
// them, and the machine and mmap fields that change them (hugetlb_overcommit, noreserve) validate.

import { describe, it, expect } from 'vitest';
import { loadScenario, ScenarioError } from './load.js';
import { runScenario } from './run.js';

const run = (text: string) => runScenario(loadScenario(text, 's.yaml'));

function problems(text: string): string[] {
  try {
    loadScenario(text, 's.yaml');
  } catch (e) {
    if (e instanceof ScenarioError) return e.problems;
    throw e;
  }
  return [];
}

describe('hugetlb counters in scenarios', () => {
  it('each step of a hugetlb scenario reports the counters of both sizes; other scenarios do not', () => {
    const r = run(
      'machine: { memory: 256MiB, hugetlb: { 2M: 2 } }\nsteps:\n' +
        '  - { op: mmap, proc: app, as: buf, size: 4MiB, type: hugetlb }\n' +
        '  - { op: write, proc: app, region: buf, length: 4KiB }\n',
    );
    expect(r.steps[0]!.hugetlb).toEqual({
      '2M': { nr_hugepages: 2, free_hugepages: 2, resv_hugepages: 2, surplus_hugepages: 0, nr_overcommit_hugepages: 0 },
      '1G': { nr_hugepages: 0, free_hugepages: 0, resv_hugepages: 0, surplus_hugepages: 0, nr_overcommit_hugepages: 0 },
    });
    expect(r.steps[1]!.hugetlb?.['2M']).toMatchObject({ free_hugepages: 1, resv_hugepages: 1 });
    const plain = run('steps:\n  - { op: mmap, proc: app, as: buf, size: 4KiB, type: anon }\n');
    expect(plain.steps[0]!.hugetlb).toBeUndefined();
  });

  it('an expect step checks the counters now, and says which one differs', () => {
    const r = run(
      'machine: { memory: 256MiB, hugetlb: { 2M: 1 }, hugetlb_overcommit: { 2M: 1 } }\nsteps:\n' +
        '  - { op: mmap, proc: app, as: buf, size: 4MiB, type: hugetlb, label: map }\n' +
        '  - { op: expect, step: map, ret: 0, hugetlb: { 2M: { nr_hugepages: 2, surplus_hugepages: 1 } } }\n' +
        '  - { op: expect, hugetlb: { 2M: { resv_hugepages: 1 }, 1G: { nr_hugepages: 0 } } }\n',
    );
    expect(r.steps[1]!.failures).toBeUndefined();
    expect(r.steps[2]!.failures).toEqual(['hugetlb 2M resv_hugepages: got 2, want 1']);
    expect(r.ok).toBe(false);
  });

  it('noreserve: true maps without a reservation (MAP_NORESERVE)', () => {
    const r = run(
      'machine: { memory: 256MiB, hugetlb: { 2M: 1 } }\nsteps:\n' +
        '  - { op: mmap, proc: app, as: buf, size: 2MiB, type: hugetlb, noreserve: true }\n' +
        '  - { op: expect, hugetlb: { 2M: { resv_hugepages: 0, free_hugepages: 1 } } }\n',
    );
    expect(r.ok).toBe(true);
  });

  it('unknown sizes and counters are errors that name the field', () => {
    expect(problems('steps:\n  - { op: expect, hugetlb: { 2M: { HugePages_Rsvd: 1 } } }\n')).toEqual([
      's.yaml:2: step 0 (expect): unknown field "hugetlb.2M.HugePages_Rsvd"',
    ]);
    expect(problems('steps:\n  - { op: expect, hugetlb: { 4M: { nr_hugepages: 1 } } }\n')).toEqual([
      's.yaml:2: step 0 (expect): unknown field "hugetlb.4M"',
    ]);
    expect(problems('machine: { hugetlb_overcommit: { 2M: -1 } }\nsteps: []\n')[0]).toMatch(
      /field "machine\.hugetlb_overcommit\.2M"/,
    );
  });
});
