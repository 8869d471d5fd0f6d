// scripts/conformance.mjs, the last step of `npm test`: a copy of it in a checkout with no
// ../shared/conformance beside it fails under CI and skips (saying so) elsewhere; with a runner there,
// the runner's exit code is the script's.

import { describe, it, expect, afterAll } from 'vitest';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const SCRIPT = join(import.meta.dirname, '..', 'scripts', 'conformance.mjs');
const base = mkdtempSync(join(tmpdir(), 'gupsim-conformance-test-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));

/** A checkout at base/<name>/ holding only scripts/conformance.mjs; its ../shared is base/shared. */
function checkout(name: string): string {
  const dir = join(base, name);
  mkdirSync(join(dir, 'scripts'), { recursive: true });
  copyFileSync(SCRIPT, join(dir, 'scripts', 'conformance.mjs'));
  return dir;
}

function run(dir: string, ci: string | undefined) {
  const env = { ...process.env };
  delete env.CI;
  if (ci !== undefined) env.CI = ci;
  return spawnSync(process.execPath, [join(dir, 'scripts', 'conformance.mjs')], { env, encoding: 'utf8' });
}

describe('scripts/conformance.mjs', () => {
  it('fails under CI when ../shared/conformance is missing', () => {
    const r = run(checkout('lone-ci'), 'true');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/conformance: FAILED: .*run\.mjs is missing/);
  });

  it('elsewhere skips and says so', () => {
    for (const ci of [undefined, '', 'false']) {
      const r = run(checkout('lone'), ci);
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(/conformance: skipped \(.*shared[/\\]conformance is not beside this checkout\)/);
    }
  });

  it("runs the shared runner when it is there, and exits with the runner's code", () => {
    const dir = checkout('with-shared');
    mkdirSync(join(base, 'shared', 'conformance'), { recursive: true });
    writeFileSync(join(base, 'shared', 'conformance', 'run.mjs'), "console.log('runner ran'); process.exit(3);\n");
    const r = run(dir, 'true');
    expect(r.stdout).toContain('runner ran');
    expect(r.status).toBe(3);
  });
});
