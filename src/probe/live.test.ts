// Live-kernel tests: `gupsim diff` (diffScenario) on every scenario of examples/ and of
// ../shared/conformance whose steps this host can run, asserting that the model and the kernel
// agree. They need Linux, a C compiler and root; elsewhere they are skipped with the reason printed.

import { describe, it, expect } from 'vitest';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadScenario } from '../scenario/load.js';
import type { Scenario } from '../scenario/schema.js';
import { diffScenario, formatDiff } from './diff.js';
import { scenarioUnsupportedReason } from './engine.js';
import { probeUnsupportedReason } from './build.js';
import { packageRoot } from './package.js';
import { isRoot } from './host.js';

const root = packageRoot();
const DIRS = [join(root, 'examples'), join(root, '..', 'shared', 'conformance')];

/**
 * Disagreements found by the probe and left for the model's owners (the scenario's expectations are
 * not changed): the steps that differ on this kernel, and why. Any other differing step fails.
 */
const KNOWN_DIFFERENCES: Record<string, { steps: number[]; why: string }> = {};

const liveReason =
  probeUnsupportedReason() ??
  (isRoot() ? undefined : 'not root: the probe needs root for stat_refresh, pagemap PFNs and THP/hugetlb settings');

function scenarios(): Array<{ file: string; path: string; sc: Scenario }> {
  const out: Array<{ file: string; path: string; sc: Scenario }> = [];
  for (const dir of DIRS) {
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

describe('gupsim diff on the live kernel', () => {
  if (liveReason) console.log(`live-kernel tests skipped: ${liveReason}`);
  for (const { file, path, sc } of scenarios()) {
    const why = liveReason ?? scenarioUnsupportedReason(sc);
    if (why && !liveReason) console.log(`live-kernel test skipped for ${file}: ${why}`);
    it.skipIf(why !== undefined)(
      `${path}: the model and the kernel agree`,
      async (ctx) => {
        const name = file.replace(/\.(ya?ml|json)$/, '');
        let d = await diffScenario(sc, { name });
        // A step the host's own activity made unmeasurable in every run: try once more when it may be
        // quieter, then give up on this host (a skip with the reason, not a pass).
        const noisy = () => d.steps.some((s) => s.status === 'noisy');
        if (noisy()) d = await diffScenario(sc, { name });
        if (noisy() && !d.steps.some((s) => s.status === 'differs')) {
          console.log(
            `${file}: skipped, the host was too noisy to measure steps ${d.steps
              .filter((s) => s.status === 'noisy')
              .map((s) => s.index)
              .join(', ')}`,
          );
          ctx.skip();
        }
        const report = formatDiff(d);
        expect(d.model_error, report).toBeUndefined();
        expect(d.kernel_error, report).toBeUndefined();
        const known = KNOWN_DIFFERENCES[file];
        const differing = d.steps.filter((s) => s.status === 'differs').map((s) => s.index);
        if (known)
          console.log(
            `${file}: known disagreement (steps ${known.steps.join(', ')}): ${known.why}; differing now: ` +
              `${differing.join(', ') || 'none'}`,
          );
        expect(
          differing.filter((i) => !known?.steps.includes(i)),
          report,
        ).toEqual([]);
        if (!known) expect(d.agree, report).toBe(true);
      },
      240_000,
    );
  }
});

describe('probe coverage', () => {
  it('the probe-* examples run entirely on a live host (no step needs GUP_TEST or a device)', () => {
    const probeExamples = scenarios().filter((s) => s.file.startsWith('probe-'));
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
});
