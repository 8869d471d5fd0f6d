#!/usr/bin/env node
// Run the shared conformance scenarios (../shared/conformance) when they are beside this checkout,
// as they are for developers and CI; a clone on its own skips them and says so.
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const runner = join(root, '..', 'shared', 'conformance', 'run.mjs');
if (!existsSync(runner)) {
  console.log('conformance: skipped (../shared/conformance is not beside this checkout)');
  process.exit(0);
}
const r = spawnSync(process.execPath, [runner], { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);
