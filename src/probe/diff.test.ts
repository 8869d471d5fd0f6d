// diffScenario with a stand-in kernel engine: agreement, a confirmed difference, a one-off (noise)
// difference outvoted by re-runs, skipped steps, frame identity. Runs anywhere.

import { describe, it, expect } from 'vitest';
import { loadScenario } from '../scenario/load.js';
import { runScenario } from '../scenario/run.js';
import { diffScenario, formatDiff } from './diff.js';
import type { KernelRunResult, KernelStepResult } from './engine.js';

const sc = loadScenario(`
name: t
machine: { memory: 256MiB }
steps:
  - { op: mmap, proc: app, as: buf, size: 64KiB, type: anon }
  - { op: write, proc: app, region: buf }
  - { op: io_uring_register_buffers, proc: app, region: buf, as: ring, label: reg }
  - { op: inspect, proc: app, region: buf, page: 0, label: a }
  - { op: fork, proc: app, child: kid }
  - { op: inspect, proc: app, region: buf, page: 0, label: b }
  - { op: pin_user_pages, proc: app, region: buf, pages: 1, as: p }
  - { op: io_uring_unregister_buffers, ring: ring }
`);

/** The model's result dressed as a kernel run, with edits. */
function kernelLike(edit: (steps: KernelStepResult[]) => void = () => {}): KernelRunResult {
  const m = runScenario(sc);
  const steps = JSON.parse(JSON.stringify(m.steps)) as KernelStepResult[];
  steps[6] = {
    index: 6,
    op: 'pin_user_pages',
    ret: null,
    errno: null,
    vmstat: steps[5]!.vmstat,
    unsupported: 'needs CONFIG_GUP_TEST',
  };
  // Counters after the skipped pin: the kernel never took it.
  for (const s of steps.slice(7)) s.vmstat = { nr_foll_pin_acquired: 16, nr_foll_pin_released: 16 };
  edit(steps);
  return { ...m, engine: 'kernel', kernel: 'test', steps, settings: [], notes: [], noise: false };
}

describe('diffScenario', () => {
  it("agrees when the kernel gives the model's results; skipped steps are not differences", async () => {
    let runs = 0;
    const d = await diffScenario(sc, {
      probe: async () => {
        runs++;
        return kernelLike();
      },
    });
    expect(d.agree, formatDiff(d)).toBe(true);
    expect(runs).toBe(1);
    expect(d.steps[6]!.status).toBe('skipped');
    expect(d.steps[6]!.reason).toBe('needs CONFIG_GUP_TEST');
    expect(d.steps[7]!.status).toBe('same'); // per-step increments agree: +0/+16 on both
  });

  it('confirms a difference that repeats (two identical runs) and reports it per step', async () => {
    let runs = 0;
    const d = await diffScenario(sc, {
      probe: async () => {
        runs++;
        return kernelLike((s) => {
          s[2]!.vmstat = { nr_foll_pin_acquired: 17, nr_foll_pin_released: 0 };
          s[3]!.vmstat = s[2]!.vmstat;
          s[4]!.vmstat = s[2]!.vmstat;
          s[5]!.vmstat = s[2]!.vmstat;
          s[6]!.vmstat = s[2]!.vmstat;
        });
      },
    });
    expect(runs).toBe(2);
    expect(d.agree).toBe(false);
    const reg = d.steps[2]!;
    expect(reg.status).toBe('differs');
    expect(reg.differences.join('\n')).toContain('nr_foll_pin_acquired +16 on the model, +17 on the kernel');
    expect(reg.runs_differing).toBe(2);
    // Only the step whose increment differs: the later ones have the same increments (step 7
    // differs too, but after the skipped pin: unverified).
    expect(d.steps.filter((s) => s.status === 'differs').map((s) => s.index)).toEqual([2]);
    expect(d.steps[7]!.status).toBe('unverified');
    expect(formatDiff(d)).toContain('DIFFERS');
  });

  it('outvotes a one-off difference seen with noise (three runs, majority kept)', async () => {
    let runs = 0;
    const d = await diffScenario(sc, {
      probe: async () => {
        runs++;
        return kernelLike((s) => {
          if (runs === 1) {
            s[1]!.ret = -14;
            s[1]!.errno = 'EFAULT';
            s[1]!.noise = true;
          }
        });
      },
    });
    expect(runs).toBe(3);
    expect(d.agree).toBe(true);
    expect(d.steps[1]!.status).toBe('same');
    expect(d.steps[1]!.runs_differing).toBe(1);
    expect(d.noise).toBe(false);
    expect(d.steps[1]!.noise).toBe(true);
    expect(formatDiff(d)).toContain('differed in 1 of 3 runs');
  });

  it('compares whether a page keeps its frame between inspect steps of the same region', async () => {
    const d = await diffScenario(sc, {
      maxRuns: 1,
      probe: async () =>
        kernelLike((s) => {
          (s[5]!.pages as Array<{ pfn: number }>)[0]!.pfn += 1;
        }),
    });
    expect(d.agree).toBe(false);
    expect(d.steps[5]!.differences.join('\n')).toContain('the same frame on the model, different frames on the kernel');
  });

  it('marks differences after a skipped state-changing step as unverified, not counted', async () => {
    const d = await diffScenario(sc, {
      maxRuns: 1,
      probe: async () =>
        kernelLike((s) => {
          s[7]!.ret = -6;
          s[7]!.errno = 'ENXIO';
        }),
    });
    expect(d.steps[7]!.status).toBe('unverified');
    expect(d.agree).toBe(true);
  });

  it('does not claim agreement for a step that was noisy in every run with differing outcomes', async () => {
    let runs = 0;
    const d = await diffScenario(sc, {
      probe: async () => {
        runs++;
        return kernelLike((s) => {
          s[1]!.noise = true;
          if (runs !== 2) {
            s[1]!.ret = -runs;
            s[1]!.errno = `E${runs}`;
          }
        });
      },
    });
    expect(runs).toBe(3);
    expect(d.steps[1]!.status).toBe('noisy');
    expect(d.agree).toBe(false);
    expect(formatDiff(d)).toContain('no agreement can be claimed');
  });
});

describe('diffScenario: hugetlb counters', () => {
  const hsc = loadScenario(`
machine: { memory: 256MiB, hugetlb: { 2M: 2 } }
steps:
  - { op: mmap, proc: app, as: buf, size: 2MiB, type: hugetlb }
  - { op: write, proc: app, region: buf }
`);
  it("compares each step's hugetlb pool counters: a different HugePages_Rsvd is a difference", async () => {
    const d = await diffScenario(hsc, {
      probe: async () => {
        const m = runScenario(hsc);
        const steps = JSON.parse(JSON.stringify(m.steps)) as KernelStepResult[];
        (steps[1]!.hugetlb as Record<string, Record<string, number>>)['2M']!.resv_hugepages = 1;
        return { ...m, engine: 'kernel', kernel: 'test', steps, settings: [], notes: [], noise: false };
      },
    });
    expect(d.steps[0]!.status).toBe('same');
    expect(d.steps[1]!.status).toBe('differs');
    expect(d.steps[1]!.differences).toEqual(['hugetlb 2M resv_hugepages: model 0, kernel 1']);
  });
});
