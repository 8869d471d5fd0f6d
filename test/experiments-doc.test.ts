// docs/experiments.md is the report of `npm run docs:experiments`: this test runs the same command
// (`gupsim experiment all --quick --seed 1`, on worker threads as CI would) into a temporary folder and
// compares. Values measured on the machine (timings, the host kernel; marked <!--m-->...<!--/m--> in the
// markdown) and the plots drawn from them cannot match a fresh run and are compared masked / by name
// only; everything else must be byte for byte what the command writes. The run skips the host
// measurement (--no-host): the host's figures are measured values anyway.

import { describe, it, expect, beforeAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { maskMeasured, MEASURED_PLOT } from '../src/tools/experiments/markdown.js';

const root = join(import.meta.dirname, '..');
const docs = join(root, 'docs');
const fresh = mkdtempSync(join(tmpdir(), 'gupsim-docs-'));
const REGENERATE = 'run `npm run docs:experiments` and commit docs/experiments.md and docs/experiments/';

/** The gupsim arguments of package.json's docs:experiments script, with --out pointed elsewhere. */
function docsArgs(out: string): string[] {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  const script = pkg.scripts['docs:experiments'];
  const m = /node bin\/gupsim\.js (experiment all[^&;|]*?) --out docs\s*$/.exec(script ?? '');
  if (!m)
    throw new Error(`package.json docs:experiments is not "... node bin/gupsim.js experiment all ... --out docs"`);
  return [...m[1]!.trim().split(/\s+/), '--out', out, '--no-host'];
}

/** Measured plots (drawn from timings): their names from the markdown's measured captions. */
function measuredPlots(md: string): Set<string> {
  const out = new Set<string>();
  for (const m of md.matchAll(/!\[[^\]]*\]\(experiments\/([^)]+\.svg)\)\n\n([^\n]*)/g))
    if (m[2]!.includes(MEASURED_PLOT)) out.add(m[1]!);
  return out;
}

let committed = '';
let regenerated = '';

beforeAll(() => {
  const r = spawnSync(process.execPath, [join(root, 'bin', 'gupsim.js'), ...docsArgs(fresh)], {
    cwd: root,
    encoding: 'utf8',
    timeout: 600_000,
  });
  if (r.status !== 0) throw new Error(`gupsim experiment all failed (${r.status}): ${r.stderr}`);
  committed = readFileSync(join(docs, 'experiments.md'), 'utf8');
  regenerated = readFileSync(join(fresh, 'experiments.md'), 'utf8');
}, 600_000);

describe('docs/experiments.md is current', () => {
  it(`is what the command writes, measured values aside (else ${REGENERATE})`, () => {
    expect(committed).toContain('gupsim experiment all --quick --seed 1');
    expect(maskMeasured(committed), REGENERATE).toBe(maskMeasured(regenerated));
  });

  it(`has exactly the plots the command writes, equal unless drawn from measured values (else ${REGENERATE})`, () => {
    const ours = readdirSync(join(docs, 'experiments')).sort();
    const theirs = readdirSync(join(fresh, 'experiments')).sort();
    expect(ours, REGENERATE).toEqual(theirs);
    const measured = measuredPlots(regenerated);
    expect([...measured]).toEqual(['7-cost-cost.svg']);
    for (const f of theirs) {
      if (measured.has(f)) continue;
      expect(readFileSync(join(docs, 'experiments', f), 'utf8'), `${f}: ${REGENERATE}`).toBe(
        readFileSync(join(fresh, 'experiments', f), 'utf8'),
      );
    }
  });

  it('is linked from the README, with the command', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    expect(readme).toContain('(docs/experiments.md)');
    expect(readme).toMatch(/gupsim experiment (list|all|run)/);
    expect(readme).toContain('npm run docs:experiments');
  });
});
