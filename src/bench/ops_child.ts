// The model side of the per-path benchmark (ops.ts) in a process of its own, which ops_process.ts
// starts with V8's --single-threaded. Usage: node --single-threaded ops_child.js BACKING BYTES RUNS WARM
// Prints benchOps()'s row as JSON.

import { benchOps, OP_BACKINGS, type OpBacking } from './ops.js';

const [backing, bytes, runs, warm] = process.argv.slice(2);
if (!OP_BACKINGS.includes(backing as OpBacking)) throw new Error(`ops_child: unknown backing ${backing}`);
process.stdout.write(JSON.stringify(benchOps(backing as OpBacking, Number(bytes), Number(runs), Number(warm))));
