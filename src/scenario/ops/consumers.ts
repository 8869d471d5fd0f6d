// Consumer steps: the kernel's users of GUP, each through its model in src/consumers.

import type { RunContext, Outcome } from '../context.js';
import type { StepOf } from '../schema.js';
import {
  IoRing,
  io_uring_setup,
  io_sqe_buffers_register,
  io_sqe_buffers_unregister,
} from '../../consumers/io_uring.js';
import { directIo } from '../../consumers/direct_io.js';
import { EBADF, ENXIO } from '../../uapi/errno.js';

export function ioUringRegister(ctx: RunContext, s: StepOf<'io_uring_register_buffers'>): Outcome {
  const p = ctx.live(s.proc);
  if (typeof p === 'number') return { ret: p };
  const existing = ctx.objects.get(s.as);
  let ring: IoRing;
  if (existing instanceof IoRing && !existing.closed) {
    ring = existing;
  } else {
    // The first use of a ring name is io_uring_setup() in this process.
    const r = io_uring_setup(ctx.m, s.as, p, s.entries);
    if (typeof r === 'number') return { ret: r };
    ring = r;
    ctx.register(ring);
  }
  const iovecs = s.regions
    ? s.regions.map((r) => ({ base: ctx.regions.get(r)!.addr, len: ctx.regions.get(r)!.len }))
    : [
        (() => {
          const { addr, len } = ctx.range(s);
          return { base: addr, len };
        })(),
      ];
  ctx.m.why = undefined;
  return { ret: io_sqe_buffers_register(ctx.m, ring, iovecs) };
}

export function ioUringUnregister(ctx: RunContext, s: StepOf<'io_uring_unregister_buffers'>): Outcome {
  const ring = ctx.objects.get(s.ring);
  if (!(ring instanceof IoRing) || ring.closed) {
    const rule = !ring
      ? `no ring "${s.ring}" was set up (its step failed)`
      : ring instanceof IoRing
        ? `ring "${s.ring}" was closed`
        : `"${s.ring}" is not an io_uring`;
    return { ret: -EBADF, extra: { why: { fn: 'io_uring_register', rule } } };
  }
  const ret = io_sqe_buffers_unregister(ctx.m, ring);
  // -ENXIO is said here: the register path's own cleanup also calls it, and must not overwrite its why.
  if (ret === -ENXIO)
    return { ret, extra: { why: { fn: 'io_sqe_buffers_unregister', rule: 'no buffers are registered on the ring' } } };
  return { ret };
}

export function odirect(ctx: RunContext, s: StepOf<'odirect_read'> | StepOf<'odirect_write'>): Outcome {
  const p = ctx.live(s.proc);
  if (typeof p === 'number') return { ret: p };
  const { addr, len } = ctx.range(s);
  const file = ctx.files.get(s.file)!;
  return { ret: directIo(ctx.m, p, file, s.file_offset ?? 0, addr, len, s.op === 'odirect_read') };
}
