// How long the CLI takes to start, beside `node -e 0` (the floor: Node itself): `gupsim --version` and
// `gupsim run` of a small scenario, each a fresh process, interleaved run by run so that load on the
// machine falls on all three alike; medians of wall time, and of the CPU time each process used (read
// at its exit through a preloaded module: the figure other load on the machine does not change).

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../probe/package.js';
import { median } from './pin.js';

/** The `cli_start` object of the benchmark JSON (milliseconds of wall time, medians). */
export interface CliStartResult {
  node_ms: number;
  version_ms: number;
  run_ms: number;
  /** CPU time (user + system) of each process, milliseconds. */
  node_cpu_ms: number;
  version_cpu_ms: number;
  run_cpu_ms: number;
  /** The scenario `run` ran. */
  scenario: string;
  /** version_ms / node_ms and run_ms / node_ms, wall time and CPU time (the target: at most 1.5). */
  version_ratio: number;
  run_ratio: number;
  version_cpu_ratio: number;
  run_cpu_ratio: number;
  runs: number;
}

/** The small scenario the `run` figure runs. */
export const CLI_START_SCENARIO = join('examples', 'vmsplice.yaml');

/** Preloaded into each timed process: writes its CPU time in microseconds to fd 3 as it exits. */
const CPU_AT_EXIT =
  'data:text/javascript,import{writeSync}from"node:fs";' +
  'process.on("exit",()=>{const u=process.cpuUsage();writeSync(3,String(u.user+u.system))})';

/** Wall and CPU milliseconds of one `node args` process. */
function timeNode(args: string[], cwd: string): { wall: number; cpu: number } {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, ['--import', CPU_AT_EXIT, ...args], {
    cwd,
    stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
  });
  const wall = performance.now() - t0;
  if (r.status !== 0) throw new Error(`gupsim bench: node ${args.join(' ')} exited ${r.status}: ${String(r.stderr)}`);
  return { wall, cpu: Number(String(r.output[3] ?? '')) / 1000 };
}

/** Time the three commands `runs` times each (after one warm-up round), or say why not. */
export function benchCliStart(runs = 9): CliStartResult | { skipped: string } {
  const root = packageRoot();
  const bin = join(root, 'bin', 'gupsim.js');
  if (!existsSync(join(root, 'dist', 'cli', 'main.js'))) return { skipped: 'the CLI is not built (npm run build)' };
  const scenario = join(root, CLI_START_SCENARIO);
  if (!existsSync(scenario)) return { skipped: `${CLI_START_SCENARIO} not found` };
  const t = { node: [] as number[][], version: [] as number[][], run: [] as number[][] };
  for (let r = 0; r <= runs; r++) {
    const a = timeNode(['-e', '0'], root);
    const b = timeNode([bin, '--version'], root);
    const c = timeNode([bin, 'run', scenario], root);
    if (r === 0) continue;
    t.node.push([a.wall, a.cpu]);
    t.version.push([b.wall, b.cpu]);
    t.run.push([c.wall, c.cpu]);
  }
  const med = (xs: number[][], k: number) => median(xs.map((x) => x[k]!));
  const round = (x: number, d = 10) => Math.round(x * d) / d;
  return {
    node_ms: round(med(t.node, 0)),
    version_ms: round(med(t.version, 0)),
    run_ms: round(med(t.run, 0)),
    node_cpu_ms: round(med(t.node, 1)),
    version_cpu_ms: round(med(t.version, 1)),
    run_cpu_ms: round(med(t.run, 1)),
    scenario: CLI_START_SCENARIO,
    version_ratio: round(med(t.version, 0) / med(t.node, 0), 100),
    run_ratio: round(med(t.run, 0) / med(t.node, 0), 100),
    version_cpu_ratio: round(med(t.version, 1) / med(t.node, 1), 100),
    run_cpu_ratio: round(med(t.run, 1) / med(t.node, 1), 100),
    runs,
  };
}
