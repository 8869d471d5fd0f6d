// The explorer's threads (no kernel counterpart: the CPUs of a real machine): each step of a `concurrent`
// block's thread becomes an op (op.ts) that runs in atomic points. GUP, fork, munmap, migrate_pages and
// io_uring buffer (un)registration run point by point through the model's own per-entry code (gup_ops.ts,
// fork_op.ts, munmap_op.ts, migrate_op.ts, io_uring_ops.ts); every other step is one atomic point running
// the scenario's own handler.

import type { ThreadStep } from '../../scenario/schema.js';
import { AtomicOp, type Op } from './op.js';
import { GupFastOp, GupSlowOp } from './gup_ops.js';
import { ForkOp } from './fork_op.js';
import { MunmapOp } from './munmap_op.js';
import { MigrateOp } from './migrate_op.js';
import { IoUringRegisterOp, IoUringUnregisterOp } from './io_uring_ops.js';

/** The op that runs a thread's step. */
export function makeOp(thread: string, step: ThreadStep): Op {
  switch (step.op) {
    case 'pin_user_pages_fast':
    case 'get_user_pages_fast':
    case 'get_user_pages_fast_only':
      return new GupFastOp(thread, step);
    case 'pin_user_pages':
    case 'get_user_pages':
      return new GupSlowOp(thread, step);
    case 'fork':
      return new ForkOp(thread, step);
    case 'munmap':
      return new MunmapOp(thread, step);
    case 'migrate_pages':
      return new MigrateOp(thread, step);
    case 'io_uring_register_buffers':
      return new IoUringRegisterOp(thread, step);
    case 'io_uring_unregister_buffers':
      return new IoUringUnregisterOp(thread, step);
    default:
      return new AtomicOp(thread, step);
  }
}
