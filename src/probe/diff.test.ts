// diffScenario with a stand-in kernel engine: agreement, a confirmed difference, a one-off (noise)
// difference outvoted by re-runs, a clean one that is not (flaky), skipped steps, frame identity,
// page fields the kernel could not read, scenarios not compared, and the summary. Runs anywhere.

import { describe, it, expect } from 'vitest';
import type { Scenario } from '../scenario/schema.js';
import { loadScenario } from '../scenario/load.js';
import { runScenario } from '../scenario/run.js';
import { diffScenario, formatDiff, type DiffResult } from './diff.js';
import type { KernelRunResult, KernelStepResult } from './engine.js';
import { ProbeError } from './errors.js';

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
    expect(d.summary).toEqual({
      compared: 7,
      same: 7,
      differ: 0,
      flaky: 0,
      skipped: [{ step: 6, reason: 'needs CONFIG_GUP_TEST' }],
      unverified: 0,
      noisy: 0,
    });
    expect(lastLine(d)).toBe(
      'summary: 7 step(s) compared: 7 same, 0 differ, 0 flaky; 1 skipped, 0 unverified; 1 kernel run(s): ' +
        'the model and the kernel agree',
    );
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
    expect(d.summary).toMatchObject({ compared: 6, same: 5, differ: 1, flaky: 0, unverified: 1 });
    expect(lastLine(d)).toMatch(/^summary: 6 step\(s\) compared: 5 same, 1 differ, .*the model and the kernel DIFFER$/);
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

  it('marks differences after a skipped state-changing step as unverified: no agreement claimed', async () => {
    const d = await diffScenario(sc, {
      maxRuns: 1,
      probe: async () =>
        kernelLike((s) => {
          s[7]!.ret = -6;
          s[7]!.errno = 'ENXIO';
        }),
    });
    expect(d.steps[7]!.status).toBe('unverified');
    expect(d.summary).toMatchObject({ compared: 6, same: 6, differ: 0, unverified: 1 });
    expect(d.agree).toBe(false);
    expect(lastLine(d)).toMatch(/no agreement claimed: steps differ after steps this host could not run$/);
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
    expect(d.summary.noisy).toBe(1);
    expect(lastLine(d)).toMatch(/no agreement claimed: the host was too noisy/);
  });

  it('never votes away a difference seen in a run without noise: the step is flaky', async () => {
    let runs = 0;
    const d = await diffScenario(sc, {
      probe: async () => {
        runs++;
        return kernelLike((s) => {
          if (runs === 1) {
            s[1]!.ret = -14;
            s[1]!.errno = 'EFAULT';
          }
        });
      },
    });
    expect(runs).toBe(3);
    expect(d.steps[1]!.status).toBe('flaky');
    expect(d.steps[1]!.runs_differing).toBe(1);
    expect(d.steps[1]!.differences.join('\n')).toContain('errno: model none, kernel EFAULT');
    expect(d.summary).toMatchObject({ compared: 7, same: 6, differ: 0, flaky: 1 });
    expect(d.agree).toBe(false);
    expect(formatDiff(d)).toContain('FLAKY');
    expect(lastLine(d)).toMatch(/1 flaky; .*the model and the kernel DIFFER$/);
  });

  it('compares contents: the data a page shows, and what a read saw', async () => {
    const dataSc = loadScenario(`
machine: { memory: 256MiB }
steps:
  - { op: mmap, proc: app, as: buf, size: 8KiB, type: anon }
  - { op: write, proc: app, region: buf, value: 7 }
  - { op: read, proc: app, region: buf }
  - { op: inspect, proc: app, region: buf }
`);
    const m = runScenario(dataSc);
    const kernel = (edit: (s: KernelStepResult[]) => void) => async (): Promise<KernelRunResult> => {
      const steps = JSON.parse(JSON.stringify(m.steps)) as KernelStepResult[];
      edit(steps);
      return { ...m, engine: 'kernel', kernel: 'test', steps, settings: [], notes: [], noise: false };
    };
    const same = await diffScenario(dataSc, { maxRuns: 1, probe: kernel(() => {}) });
    expect(same.agree, formatDiff(same)).toBe(true);
    const d = await diffScenario(dataSc, {
      maxRuns: 1,
      probe: kernel((s) => {
        s[2]!.data = [7, 8];
        (s[3]!.pages as Array<Record<string, unknown>>)[1]!.data = 8;
      }),
    });
    expect(d.steps[2]!.differences).toEqual([
      'data: model 0x00000007×2, kernel 0x00000007 0x00000008 (first difference at page 1)',
    ]);
    expect(d.steps[3]!.differences).toEqual(['page 1 data: model 7, kernel 8']);
    // Contents the kernel engine could not read are named, not taken as equal.
    const unread = await diffScenario(dataSc, {
      maxRuns: 1,
      probe: kernel((s) => {
        delete s[2]!.data;
        (s[3]!.pages as Array<Record<string, unknown>>)[0]!.data = null;
      }),
    });
    expect(unread.steps[2]!.not_compared).toEqual(['data: the kernel engine reported none']);
    expect(unread.steps[3]!.not_compared).toEqual([
      'data of page 0: not read from a load by the process of its present page',
    ]);
    expect([unread.steps[2]!.status, unread.steps[3]!.status]).toEqual(['skipped', 'skipped']);
  });

  it('a step whose page lists differ in length differs', async () => {
    const d = await diffScenario(sc, {
      maxRuns: 1,
      probe: async () => kernelLike((s) => void (s[3]!.pages as unknown[]).push({ page: 1, present: false })),
    });
    expect(d.steps[3]!.status).toBe('differs');
    expect(d.steps[3]!.differences).toContain('pages listed: 1 on the model, 2 on the kernel');
    expect(d.agree).toBe(false);
  });

  it('names the page fields the kernel engine could not read, and never counts them as equal', async () => {
    const d = await diffScenario(sc, {
      maxRuns: 1,
      // /proc/kpagecount and /proc/kpageflags could not be opened: mapcount, order and zero_page are null.
      probe: async () =>
        kernelLike((s) => {
          for (const i of [3, 5]) {
            const page = (s[i]!.pages as Array<Record<string, unknown>>)[0]!;
            page.mapcount = null;
            page.order = null;
            page.zero_page = null;
          }
        }),
    });
    for (const i of [3, 5]) {
      expect(d.steps[i]!.status).toBe('skipped');
      expect(d.steps[i]!.not_compared).toEqual([
        'order of page 0: not read from /proc/kpageflags (compound head and tail bits)',
        'mapcount of page 0: not read from /proc/kpagecount',
        'zero_page of page 0: not read from /proc/kpageflags',
      ]);
    }
    expect(d.summary.skipped.map((x) => x.step)).toEqual([3, 5, 6]);
    expect(d.summary.skipped[0]!.reason).toMatch(/could not read .*mapcount of page 0/);
    expect(d.summary.compared).toBe(5);
  });

  it('a scenario the host could not set up is not compared, and never agrees', async () => {
    const why =
      'host settings could not be applied: mTHP 64K: /sys/kernel/mm/.../enabled does not exist on this kernel';
    const d = await diffScenario(sc, {
      // What the engine gives: every step unsupported for the scenario-wide reason, and the reason.
      probe: async () => ({
        ...kernelLike((s) => {
          for (const [i, st] of s.entries()) s[i] = { index: i, op: st.op, ret: null, errno: null, vmstat: st.vmstat };
          for (const st of s) st.unsupported = why;
        }),
        notCompared: why,
      }),
    });
    expect(d.agree).toBe(false);
    expect(d.summary).toEqual({
      compared: 0,
      same: 0,
      differ: 0,
      flaky: 0,
      skipped: [],
      unverified: 0,
      noisy: 0,
      notCompared: why,
    });
    expect(lastLine(d)).toBe(`summary: not compared: ${why}; no agreement claimed`);
  });

  it('a host without the probe (no compiler, not Linux) makes the scenario not compared', async () => {
    const d = await diffScenario(sc, {
      probe: async () => {
        throw new ProbeError('ERR_PROBE_UNSUPPORTED', 'no C compiler found');
      },
    });
    expect(d.agree).toBe(false);
    expect(d.summary.notCompared).toBe('no C compiler found');
    expect(lastLine(d)).toBe('summary: not compared: no C compiler found; no agreement claimed');
  });

  it('a scenario the model cannot run is not compared, and the kernel is not probed', async () => {
    // The validator refuses such a machine; built directly, it makes the model itself fail.
    const tiny: Scenario = {
      machine: { memory: 1 << 20 },
      steps: [{ op: 'mmap', proc: 'a', as: 'b', size: 4096, type: 'anon' }],
    };
    let probed = false;
    const d = await diffScenario(tiny, {
      probe: async () => {
        probed = true;
        return kernelLike();
      },
    });
    expect(probed).toBe(false);
    expect(d.agree).toBe(false);
    expect(d.model_error).toBeDefined();
    expect(d.summary.notCompared).toBe(`the model could not run this scenario: ${d.model_error}`);
    expect(lastLine(d)).toMatch(/^summary: not compared: the model could not run this scenario: /);
  });

  it('compares nothing, and claims nothing, when every step was skipped', async () => {
    const d = await diffScenario(sc, {
      probe: async () =>
        kernelLike((s) => {
          for (const [i, st] of s.entries())
            s[i] = { index: i, op: st.op, ret: null, errno: null, vmstat: st.vmstat, unsupported: `reason ${i}` };
        }),
    });
    expect(d.summary.compared).toBe(0);
    expect(d.summary.skipped).toHaveLength(8);
    expect(d.agree).toBe(false);
    expect(lastLine(d)).toMatch(/^summary: 0 step\(s\) compared: .*no agreement claimed: no step could be compared$/);
  });
});

/** The last line of the human report: the one summary line. */
function lastLine(d: DiffResult): string {
  const lines = formatDiff(d).trimEnd().split('\n');
  expect(lines.filter((l) => l.startsWith('summary:'))).toHaveLength(1);
  return lines[lines.length - 1]!;
}
describe('formatDiff', () => {
  it('renders through the shared table: columns kept whatever the labels, counters as total (+delta)', async () => {
    const long = loadScenario(`
name: t
machine: { memory: 256MiB }
steps:
  - { op: mmap, proc: app, as: buf, size: 64KiB, type: anon }
  - { op: write, proc: app, region: buf }
  - { op: io_uring_register_buffers, proc: app, region: buf, as: ring, label: a_label_much_longer_than_any_column }
  - { op: io_uring_unregister_buffers, ring: ring }
`);
    const d = await diffScenario(long, {
      probe: async () => {
        const m = runScenario(long);
        const steps = JSON.parse(JSON.stringify(m.steps)) as KernelStepResult[];
        steps[3]!.vmstat = { nr_foll_pin_acquired: 16, nr_foll_pin_released: 15 };
        return { ...m, engine: 'kernel', kernel: 'test', steps, settings: [], notes: [], noise: false };
      },
    });
    const lines = formatDiff(d).trimEnd().split('\n');
    const head = lines.findIndex((l) => l.startsWith('#'));
    const header = lines[head]!;
    const verdictAt = header.indexOf('verdict');
    const rows = lines.slice(head + 1, head + 5);
    expect(rows.map((r) => r.slice(verdictAt).split(' ')[0])).toEqual(['same', 'same', 'same', 'DIFFERS']);
    const reg = /^2 +io_uring_register_buffers \[a_label_much_longer_than_any_column\] +0 +16 \(\+16\) +0 +0 +16 /;
    expect(rows[2]).toMatch(new RegExp(reg.source + /\(\+16\) +0 +same$/.source));
    expect(rows[3]).toMatch(/ 16 +16 \(\+16\) +0 +16 +15 \(\+15\) +DIFFERS$/);
    // What differs, indented under its row; the summary line last, as before.
    expect(lines[head + 5]).toBe('      nr_foll_pin_released +16 on the model, +15 on the kernel (in 2 of 2 runs)');
    expect(lastLine(d)).toMatch(/^summary: 4 step\(s\) compared: 3 same, 1 differ, .*DIFFER$/);
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
