// Live-kernel tests: `gupsim diff` (diffScenario) on every scenario of ../shared/conformance (the
// examples run on the host and in the VMs in test/examples-kernels.test.ts). What this host can do
// is found from the host (capability.ts: Linux, a compiler, root, io_uring, the THP/mTHP/hugetlb
// files a scenario needs...): a scenario it cannot run is skipped with the reason printed; every
// other one must be compared and agree - a "not compared" scenario, a step skipped that is not an
// expect check of what the kernel does not expose, a difference, a flaky or an unverified step
// fails. Only a hugetlb pool the kernel could not fill (free memory) and a host too noisy to measure
// are skipped after the run, with the reason.

import { describe, it, expect } from 'vitest';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadScenario } from '../scenario/load.js';
import type { Scenario } from '../scenario/schema.js';
import { diffScenario, formatDiff, formatSummary, type DiffResult } from './diff.js';
import { scenarioUnsupportedReason } from './engine.js';
import { hostCannotCompare, hostCapabilities } from './capability.js';
import { onlyPoolShortfalls } from './host.js';
import { packageRoot } from './package.js';

const root = packageRoot();
const EXAMPLES = join(root, 'examples');
const CONFORMANCE = join(root, '..', 'shared', 'conformance');
const THP = '/sys/kernel/mm/transparent_hugepage';

/**
 * Disagreements found by the probe and left for the model's owners (the scenario's expectations are
 * not changed): the steps that differ on this kernel, and why. Any other differing step fails.
 */
const KNOWN_DIFFERENCES: Record<string, { steps: number[]; why: string }> = {};

const caps = await hostCapabilities();
const hostReason = caps.probe ?? (caps.root ? undefined : 'not root (the probe needs root for exact counters)');

function scenarios(dirs: string[]): Array<{ file: string; path: string; sc: Scenario }> {
  const out: Array<{ file: string; path: string; sc: Scenario }> = [];
  for (const dir of dirs) {
    if (!existsSync(dir)) {
      console.log(`live-kernel tests: ${dir} not found, its scenarios are not run`);
      continue;
    }
    for (const file of readdirSync(dir)
      .filter((f) => /\.(ya?ml|json)$/.test(f) && !f.endsWith('.expect.json'))
      .sort()) {
      const path = join(dir, file);
      out.push({ file, path, sc: loadScenario(readFileSync(path, 'utf8'), path) });
    }
  }
  return out;
}

const steps = (d: DiffResult, st: string) => d.steps.filter((s) => s.status === st).map((s) => s.index);

/** Under CI (CI=true) the shared scenarios must be there: CI claims to compare them (scripts/conformance.mjs). */
const CI = ['true', '1', 'yes'].includes((process.env.CI ?? '').toLowerCase());

describe('gupsim diff on the live kernel', () => {
  if (hostReason) console.log(`live-kernel tests skipped: ${hostReason}`);
  if (!existsSync(CONFORMANCE)) {
    if (CI)
      it(`${CONFORMANCE} is beside this checkout, as CI needs`, () => {
        throw new Error(`${CONFORMANCE} is missing, and CI must compare the shared conformance scenarios`);
      });
    else it.skip(`${CONFORMANCE} is not beside this checkout: the shared scenarios are not compared`);
  }
  for (const { file, path, sc } of scenarios([CONFORMANCE])) {
    const why = hostCannotCompare(sc, caps);
    if (why && !hostReason) console.log(`live-kernel test skipped for ${file}: ${why}`);
    it.skipIf(why !== undefined)(
      `${path}: compared, and the model and the kernel agree`,
      async (ctx) => {
        const name = file.replace(/\.(ya?ml|json)$/, '');
        let d = await diffScenario(sc, { name });
        // A step the host's own activity made unmeasurable in every run: try once more when it may be
        // quieter.
        if (d.summary.noisy) d = await diffScenario(sc, { name });
        const report = formatDiff(d);
        const notCompared = d.summary.notCompared;
        if (notCompared !== undefined && onlyPoolShortfalls(notCompared)) {
          console.log(`${file}: skipped, the host could not fill a hugetlb pool (free memory): ${notCompared}`);
          ctx.skip();
        }
        expect(notCompared, report).toBeUndefined();
        expect(d.model_error, report).toBeUndefined();
        expect(d.kernel_error, report).toBeUndefined();
        // The host can run every step (hostCannotCompare said so): only expect checks of values the
        // kernel does not expose may be skipped.
        const skipped = d.steps.filter((s) => s.status === 'skipped' && s.op !== 'expect');
        expect(
          skipped.map((s) => `step ${s.index} (${s.op}): ${s.reason}`),
          report,
        ).toEqual([]);
        const known = KNOWN_DIFFERENCES[file];
        const differing = steps(d, 'differs');
        if (known)
          console.log(
            `${file}: known disagreement (steps ${known.steps.join(', ')}): ${known.why}; differing now: ` +
              `${differing.join(', ') || 'none'}`,
          );
        expect(
          differing.filter((i) => !known?.steps.includes(i)),
          report,
        ).toEqual([]);
        expect(steps(d, 'flaky'), report).toEqual([]);
        expect(steps(d, 'unverified'), report).toEqual([]);
        expect(d.summary.compared, report).toBeGreaterThan(0);
        if (d.summary.noisy) {
          console.log(`${file}: skipped, the host was too noisy to measure steps ${steps(d, 'noisy').join(', ')}`);
          ctx.skip();
        }
        if (!known) expect(d.agree, formatSummary(d)).toBe(true);
      },
      240_000,
    );
  }
});

describe('probe coverage', () => {
  it('the probe-* examples run entirely on a live host (no step needs GUP_TEST or a device)', () => {
    const probeExamples = scenarios([EXAMPLES]).filter((s) => s.file.startsWith('probe-'));
    expect(probeExamples.length).toBeGreaterThanOrEqual(8);
    for (const { file, sc } of probeExamples)
      expect(scenarioUnsupportedReason(sc, { root: true }), file).toBeUndefined();
    const ops = new Set(probeExamples.flatMap((s) => s.sc.steps.map((st) => st.op)));
    for (const op of [
      'io_uring_register_buffers',
      'odirect_read',
      'odirect_write',
      'process_vm_readv',
      'fork',
      'exit',
      'inspect',
      'mremap',
      'mlock',
      'munlock',
      'mprotect',
    ])
      expect(ops.has(op as never), op).toBe(true);
    const types = new Set(
      probeExamples.flatMap((s) => s.sc.steps.flatMap((st) => (st.op === 'mmap' ? [st.type] : []))),
    );
    for (const t of ['anon', 'shmem', 'memfd', 'file', 'hugetlb']) expect(types.has(t as never), t).toBe(true);
    const machines = probeExamples.map((s) => s.sc.machine ?? {});
    expect(machines.some((m) => m.mthp?.['64K'] === 'always')).toBe(true);
    expect(machines.some((m) => (m.hugetlb?.['2M'] ?? 0) > 0)).toBe(true);
  });

  // A host with root, the probe, io_uring and the THP, mTHP and hugetlb files must compare every
  // probe-* example: a regression in what the probe says it can do must not turn the live tests into skips.
  const mthpDirs = ['16', '32', '64', '128', '256', '512', '1024', '2048'].map((k) => `${THP}/hugepages-${k}kB`);
  const lacks = [
    caps.probe,
    caps.root ? undefined : 'not root',
    caps.ioUring,
    ...[`${THP}/enabled`, ...mthpDirs, '/sys/kernel/mm/hugepages/hugepages-2048kB', '/proc/kpageflags'].map((p) =>
      existsSync(p) ? undefined : `${p} is missing`,
    ),
  ].filter((x) => x !== undefined);
  if (lacks.length) console.log(`probe coverage on this host skipped: ${lacks.join('; ')}`);
  it.skipIf(lacks.length > 0)('a host that has what the probe-* examples use compares every one of them', () => {
    const probeExamples = scenarios([EXAMPLES]).filter((s) => s.file.startsWith('probe-'));
    expect(probeExamples.map((s) => [s.file, hostCannotCompare(s.sc, caps)])).toEqual(
      probeExamples.map((s) => [s.file, undefined]),
    );
  });
});
