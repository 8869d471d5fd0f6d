// Every scenario in examples/ validates, runs on the model, and its expect steps hold.
import { describe, it, expect } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadScenario } from '../src/scenario/load.js';
import { runScenario } from '../src/scenario/run.js';

const dir = join(import.meta.dirname, '..', 'examples');
const files = readdirSync(dir)
  .filter((f) => /\.(ya?ml|json)$/.test(f))
  .sort();

describe('examples/', () => {
  it('has scenarios', () => expect(files.length).toBeGreaterThan(5));
  for (const f of files) {
    it(`${f} runs and its expectations hold`, () => {
      const sc = loadScenario(readFileSync(join(dir, f), 'utf8'), f);
      expect(
        sc.steps.some((s) => s.op === 'expect' || s.op === 'assert'),
        'every example checks something',
      ).toBe(true);
      const res = runScenario(sc);
      const failures = res.steps.flatMap((s) => s.failures ?? []);
      expect(failures).toEqual([]);
      expect(res.ok).toBe(true);
    });
  }
});
