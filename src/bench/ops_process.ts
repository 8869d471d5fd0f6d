// Runs the model side of the per-path benchmark (ops.ts) in a child Node process started with V8's
// --single-threaded. Its clock is the process's CPU time (process.cpuUsage(): Node 20 cannot read one
// thread's), and V8 otherwise keeps compiler and garbage-collector threads busy beside the main one:
// their time lands in whichever interval it overlaps (a 10 us unregister read 40 us). With one thread
// the model is charged for its own work, its garbage collection included, as the host helper reads its
// thread's CPU clock. Without the compiled child (no dist/), the rows are timed in this process.

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../probe/package.js';
import { benchOps, opRunsFor, WARMUP_PAGES, type ModelOpRow, type OpBacking } from './ops.js';

/** benchOps() in a single-threaded child process (in this one if the child script is not built). */
export function benchOpsIsolated(
  backing: OpBacking,
  bytes: number,
  runs = opRunsFor(bytes),
  warmPages = WARMUP_PAGES,
): ModelOpRow {
  const child = join(packageRoot(), 'dist', 'bench', 'ops_child.js');
  if (!existsSync(child)) return benchOps(backing, bytes, runs, warmPages);
  const r = spawnSync(
    process.execPath,
    ['--single-threaded', child, backing, String(bytes), String(runs), String(warmPages)],
    { encoding: 'utf8', maxBuffer: 1 << 20 },
  );
  if (r.status !== 0) throw new Error(`gupsim bench: the model's ${backing} ${bytes} B run failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as ModelOpRow;
}
