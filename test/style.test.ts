// House style that a formatter cannot enforce on its own: prettier (npm test runs `prettier --check`)
// does not break long strings or comments, so the line width is checked here; and no test measures
// time (timings belong in `gupsim bench`: a test's speed depends on the machine and its load).

import { describe, it, expect } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

const ROOT = join(import.meta.dirname, '..');
const WIDTH = (JSON.parse(readFileSync(join(ROOT, '.prettierrc.json'), 'utf8')) as { printWidth: number }).printWidth;

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name === 'node_modules' || e.name === 'dist') continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...sources(p));
    else if (/\.(ts|mjs)$/.test(p)) out.push(p);
  }
  return out;
}

describe('house style', () => {
  it(`no source line is wider than the formatter's ${WIDTH} columns`, () => {
    const long: string[] = [];
    for (const dir of ['src', 'test', 'scripts', 'web']) {
      let files: string[] = [];
      try {
        files = sources(join(ROOT, dir));
      } catch {
        continue; // the folder does not exist (yet)
      }
      for (const f of files) {
        readFileSync(f, 'utf8')
          .split('\n')
          .forEach((line, i) => {
            if (line.length > WIDTH) long.push(`${relative(ROOT, f)}:${i + 1} (${line.length})`);
          });
      }
    }
    expect(long).toEqual([]);
  });

  it('no test measures time (performance.now, process.hrtime): figures go in `gupsim bench`', () => {
    const timed: string[] = [];
    for (const dir of ['src', 'test']) {
      // This file names the calls it looks for.
      for (const f of sources(join(ROOT, dir)).filter((p) => p.endsWith('.test.ts') && p !== import.meta.filename)) {
        readFileSync(f, 'utf8')
          .split('\n')
          .forEach((line, i) => {
            if (/\bperformance\.now\(|\bhrtime\b/.test(line)) timed.push(`${relative(ROOT, f)}:${i + 1}`);
          });
      }
    }
    expect(timed).toEqual([]);
  });
});
