#!/usr/bin/env node
// Run the shared conformance scenarios (../shared/conformance) when they are beside this checkout,
// as they are for developers and CI. Under CI (CI=true) their absence is a failure: CI claims to check
// them. A clone on its own, elsewhere, skips them and says so.
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dir = join(root, '..', 'shared', 'conformance');
const runner = join(dir, 'run.mjs');
const ci = ['true', '1', 'yes'].includes((process.env.CI ?? '').toLowerCase());
if (!existsSync(runner)) {
  if (ci) {
    console.error(`conformance: FAILED: ${runner} is missing, and CI must run the shared conformance scenarios`);
    process.exit(1);
  }
  console.log(`conformance: skipped (${dir} is not beside this checkout)`);
  process.exit(0);
}
const r = spawnSync(process.execPath, [runner], { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);
