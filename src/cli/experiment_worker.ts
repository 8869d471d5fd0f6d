// A worker thread of `gupsim experiment` (src/cli/experiment.ts): runs each shard it is sent with the
// pure runner (src/tools/experiments/runner.ts) and posts back progress and the shard's result.

import { parentPort } from 'node:worker_threads';
import { runPlannedShard, type PlannedShard } from '../tools/experiments/runner.js';
import type { RunOptions } from '../tools/experiments/types.js';

export interface ShardJob {
  id: number;
  shard: PlannedShard;
  options: RunOptions;
}

export type WorkerMessage =
  | { type: 'progress'; id: number; fraction: number }
  | { type: 'done'; id: number; result: unknown }
  | { type: 'error'; id: number; message: string; stack?: string };

/** Progress is posted in steps of this much of a shard, not on every call. */
const PROGRESS_STEP = 0.01;

const port = parentPort;
if (port) {
  port.on('message', (job: ShardJob) => {
    let last = 0;
    const post = (m: WorkerMessage) => port.postMessage(m);
    try {
      const result = runPlannedShard(job.shard, job.options, (fraction) => {
        if (fraction - last >= PROGRESS_STEP) {
          last = fraction;
          post({ type: 'progress', id: job.id, fraction });
        }
      });
      post({ type: 'done', id: job.id, result });
    } catch (e) {
      const err = e as Error;
      post({ type: 'error', id: job.id, message: err?.message ?? String(e), stack: err?.stack });
    }
  });
}
