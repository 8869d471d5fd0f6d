// Every example on every release profile: the model's answers differ between releases only where a
// profile field says so. For each observation that differs from 6.18 (ret, errno, why, a step's pin
// counters, inspect fields, dump_page text, WARNs, pins left), setting the fields compareKernels()
// names back to 6.18's values must make it agree - and nothing in the model may branch on the
// release's name: a profile renamed answers the same.
import { describe, it, expect } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadScenario } from '../src/scenario/load.js';
import { runScenario } from '../src/scenario/run.js';
import { kernelProblems } from '../src/scenario/kernel.js';
import { compareKernels } from '../src/tools/kernel_compare.js';
import { LINUX_6_18, PROFILES, type KernelProfile } from '../src/mm/profile.js';

const dir = join(import.meta.dirname, '..', 'examples');
const examples = readdirSync(dir)
  .filter((f) => /\.ya?ml$/.test(f))
  .sort();

describe('every example on 6.1, 6.12 and 6.18', () => {
  it('finds the examples', () => {
    expect(examples.length).toBeGreaterThan(30);
  });

  for (const file of examples) {
    it(`${file}: each difference from 6.18 is explained by named profile fields`, () => {
      const sc = loadScenario(readFileSync(join(dir, file), 'utf8'), file);
      const c = compareKernels(sc, { name: file });
      for (const run of c.runs) {
        // A release runs the scenario unless it lacks one of its settings.
        const problems = kernelProblems(
          sc,
          PROFILES.find((p) => p.release === run.release)!,
        );
        expect(run.notRun ?? '', `${file} on ${run.release}`).toBe(problems.join('; '));
      }
      for (const d of c.differences) {
        const where = `${file} step ${d.step ?? 'end'} ${d.field}: ${JSON.stringify(d.values)}`;
        for (const [release, value] of Object.entries(d.values)) {
          if (release === c.reference || value === d.values[c.reference]) continue;
          expect(d.because[release], where).toBeDefined();
          expect(d.because[release]!.length, `${where}: no profile field of ${release} explains it`).toBeGreaterThan(0);
        }
      }
    });
  }

  it('nothing branches on the release name: a renamed profile gives the same answers', () => {
    for (const file of examples) {
      const sc = loadScenario(readFileSync(join(dir, file), 'utf8'), file);
      for (const p of PROFILES) {
        if (kernelProblems(sc, p).length) continue;
        const renamed: KernelProfile = { ...p, release: `${p.release}-renamed` };
        const a = runScenario(sc, { profile: p });
        const b = runScenario(sc, { profile: renamed });
        expect({ ...b, kernel: a.kernel }, `${file} on ${p.release}`).toEqual(a);
      }
    }
  });

  it('6.18 is the reference, and the examples (written for it) hold there', () => {
    for (const file of examples) {
      const sc = loadScenario(readFileSync(join(dir, file), 'utf8'), file);
      expect(runScenario(sc, { profile: LINUX_6_18 }).ok, file).toBe(true);
    }
  });
});
