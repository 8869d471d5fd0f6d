// Scenario steps for the consumers in their own modules: process_vm_readv/writev, vmsplice (and
// `close`, which closes any consumer fd: pipe, ring, MR, VFIO mapping, HMM mirror), RDMA MRs, VFIO DMA
// mappings and HMM mirrors. Each step's `ret` is the syscall's value (bytes for process_vm and
// vmsplice, 0 for registrations); extra fields show what the object holds afterwards.

import { close_fd, file_count } from '../../kernel/file_table.js';
import { type RunContext, type Outcome, PinHandle } from '../context.js';
import type { StepOf } from '../schema.js';
import type { Process } from '../../mm/task.js';
import { EBADF, EEXIST } from '../../uapi/errno.js';
import { PAGE_SIZE } from '../../mm/memmap.js';
import { do_mmap, do_munmap } from '../../mm/mmap.js';
import { userAccess } from '../../mm/user_access.js';
import { memcpy_to_page, pageValue } from '../../mm/highmem.js';
import { process_vm_rw } from '../../consumers/process_vm.js';
import { Pipe, pipeCreate, vmsplice_to_pipe } from '../../consumers/vmsplice.js';
import { IbMr, ib_umem_get, ib_umem_release } from '../../consumers/rdma.js';
import { VfioDma, vfio_dma_do_map, vfio_dma_do_unmap } from '../../consumers/vfio.js';
import {
  HmmMirror,
  hmm_range_fault,
  mmu_interval_notifier_insert,
  mmu_interval_notifier_remove,
} from '../../consumers/hmm.js';
import { IoRing } from '../../consumers/io_uring.js';

/** A handle name already held by a live object of another step: refuse rather than lose track of it. */
function nameInUse(ctx: RunContext, name: string): Outcome | undefined {
  const h = ctx.objects.get(name);
  if (!h) return undefined;
  const live = h.pins() > 0 || h.refs() > 0 || (h instanceof HmmMirror && !h.closed);
  if (!live) return undefined;
  return {
    ret: -EEXIST,
    extra: { why: { fn: 'gupsim', rule: `handle "${name}" is still open (close or release it first)` } },
  };
}

/**
 * process_vm_readv / process_vm_writev: `proc` copies to/from `region` of `target`. The caller's own
 * buffer is `local` (a region of the caller, same length as the remote range) or, when not given, a
 * scratch anonymous buffer mapped for the call and unmapped after it (a malloc'd buffer).
 */
export function processVm(ctx: RunContext, s: StepOf<'process_vm_readv'> | StepOf<'process_vm_writev'>): Outcome {
  const caller = ctx.live(s.proc);
  if (typeof caller === 'number') return { ret: caller };
  const target = ctx.proc(s.target);
  const { addr, len } = ctx.range(s);
  const m = ctx.m;
  let local: { addr: number; len: number };
  let scratch = 0;
  if (s.local) {
    local = { addr: ctx.regions.get(s.local)!.addr, len };
  } else if (len > 0) {
    scratch = do_mmap(m, caller, { size: len, type: 'anon', name: `${s.op}@scratch` });
    if (scratch < 0)
      return { ret: scratch, extra: { why: { fn: 'gupsim', rule: "could not map the caller's scratch buffer" } } };
    local = { addr: scratch, len };
  } else {
    local = { addr: 0, len: 0 };
  }
  const write = s.op === 'process_vm_writev';
  // A scratch buffer for writev holds the value the caller writes (the probe's helper fills it too).
  const value = write && !s.local ? ctx.value(s.value) : undefined;
  if (value !== undefined && scratch > 0)
    userAccess(m, caller, scratch, len, true, (pfn) => memcpy_to_page(m, pfn, value));
  const ret = process_vm_rw(m, caller, target, local, { addr, len }, write);
  const why = m.why;
  // readv: what arrived in the caller's buffer, read back by the caller.
  const data: number[] = [];
  if (!write && ret > 0) userAccess(m, caller, local.addr, ret, false, (pfn, i) => (data[i] = pageValue(m, pfn)));
  if (scratch > 0) do_munmap(m, caller, scratch, Math.ceil(len / PAGE_SIZE) * PAGE_SIZE);
  m.why = why;
  return {
    ret,
    extra: {
      target_has_pinned: target.mm.has_pinned,
      ...(value !== undefined ? { value } : {}),
      ...(!write && ret > 0 ? { data } : {}),
    },
  };
}

/** vmsplice into the pipe named `as` (created on first use; without `as`, a pipe nobody closes). */
export function vmsplice(ctx: RunContext, s: StepOf<'vmsplice'>): Outcome {
  const p = ctx.live(s.proc);
  if (typeof p === 'number') return { ret: p };
  const name = s.as ?? `vmsplice@${ctx.m.warns.step ?? '?'}`;
  const existing = ctx.objects.get(name);
  let pipe: Pipe;
  if (existing instanceof Pipe) pipe = existing;
  else if (existing) return { ret: -EBADF, extra: { why: { fn: 'vmsplice', rule: `"${name}" is not a pipe` } } };
  else {
    pipe = pipeCreate(ctx.m, name, p);
    ctx.register(pipe);
  }
  const { addr, len } = ctx.range(s);
  const ret = vmsplice_to_pipe(ctx.m, p, pipe, addr, len);
  return { ret, extra: { pipe: name, pipe_pages: pipe.refs(), pipe_bytes: pipe.bytes } };
}

/** close(2) of a consumer's fd: the kernel releases what the object holds. */
export function close(ctx: RunContext, s: StepOf<'close'>): Outcome {
  const h = ctx.objects.get(s.handle);
  const m = ctx.m;
  if (h instanceof Pipe || h instanceof IoRing) {
    // close(2) of this process's fd (default: the creator's); the object goes with its last fd.
    const p = s.proc ? ctx.proc(s.proc) : h.owner;
    const refs = h.refs();
    const fds = file_count(p, h);
    if (!close_fd(p, h)) return { ret: m.refuse(-EBADF, 'close', `${p.name} has no open fd for "${s.handle}"`) };
    const released = fds === 1;
    if (released && h instanceof IoRing) ctx.objects.delete(s.handle);
    return { ret: 0, extra: { released, ...(h instanceof Pipe && released ? { put_pages: refs } : {}) } };
  }
  if (h instanceof IbMr) return { ret: ib_umem_release(m, h) };
  if (h instanceof VfioDma) return { ret: vfio_dma_do_unmap(m, h) };
  if (h instanceof HmmMirror) return { ret: mmu_interval_notifier_remove(m, h) };
  if (h instanceof PinHandle)
    return {
      ret: m.refuse(
        -EBADF,
        'close',
        `"${s.handle}" is a GUP pin handle, not a file: release it with unpin_user_pages or put_page`,
      ),
    };
  return { ret: m.refuse(-EBADF, 'close', `no open file "${s.handle}"`) };
}

export function rdmaRegMr(ctx: RunContext, s: StepOf<'rdma_reg_mr'>): Outcome {
  const p = ctx.live(s.proc);
  if (typeof p === 'number') return { ret: p };
  const busy = nameInUse(ctx, s.as);
  if (busy) return busy;
  const { addr, len } = ctx.range(s);
  const r = ib_umem_get(ctx.m, p, s.as, addr, len, s.writable ?? true);
  if (typeof r === 'number') return { ret: r, extra: { pinned_vm: p.mm.pinned_vm } };
  ctx.register(r);
  return { ret: 0, extra: { npages: r.npages, sg_entries: r.sg.length, pinned_vm: p.mm.pinned_vm } };
}

export function rdmaDeregMr(ctx: RunContext, s: StepOf<'rdma_dereg_mr'>): Outcome {
  const mr = ctx.objects.get(s.mr);
  if (!(mr instanceof IbMr)) return { ret: ctx.m.refuse(-EBADF, 'ib_uverbs_dereg_mr', `"${s.mr}" is not an MR`) };
  const ret = ib_umem_release(ctx.m, mr);
  return { ret, extra: { pinned_vm: mr.owner.mm.pinned_vm } };
}

export function vfioMapDma(ctx: RunContext, s: StepOf<'vfio_map_dma'>): Outcome {
  const p = ctx.live(s.proc);
  if (typeof p === 'number') return { ret: p };
  const busy = nameInUse(ctx, s.as);
  if (busy) return busy;
  const { addr, len } = ctx.range(s);
  const r = vfio_dma_do_map(ctx.m, p, s.as, addr, len, s.write ?? true);
  if (typeof r === 'number') return { ret: r, extra: { locked_vm: p.mm.locked_vm } };
  ctx.register(r);
  const pfnmap = r.runs.reduce((t, x) => t + (x.rsvd ? x.npages : 0), 0);
  return {
    ret: 0,
    extra: {
      npages: r.size / PAGE_SIZE,
      pinned: r.pins(),
      pfnmap_pages: pfnmap,
      runs: r.runs.length,
      locked_vm: p.mm.locked_vm,
    },
  };
}

export function vfioUnmapDma(ctx: RunContext, s: StepOf<'vfio_unmap_dma'>): Outcome {
  const dma = ctx.objects.get(s.dma);
  if (!(dma instanceof VfioDma))
    return { ret: ctx.m.refuse(-EBADF, 'vfio_dma_do_unmap', `"${s.dma}" is not a VFIO DMA mapping`) };
  const ret = vfio_dma_do_unmap(ctx.m, dma);
  return { ret, extra: { locked_vm: dma.owner.mm.locked_vm } };
}

/**
 * hmm_range_fault: the first step naming `as` inserts the mirror's interval notifier on the selected
 * range; later steps with the same `as` re-read that range.
 */
export function hmmRangeFault(ctx: RunContext, s: StepOf<'hmm_range_fault'>): Outcome {
  const p = ctx.live(s.proc);
  if (typeof p === 'number') return { ret: p };
  let mirror = ctx.objects.get(s.as);
  if (mirror && !(mirror instanceof HmmMirror))
    return { ret: ctx.m.refuse(-EBADF, 'hmm_range_fault', `"${s.as}" is not an HMM mirror`) };
  if (!mirror || (mirror as HmmMirror).closed) {
    const { addr, len } = ctx.range(s);
    const start = addr - (addr % PAGE_SIZE);
    const end = Math.ceil((addr + len) / PAGE_SIZE) * PAGE_SIZE;
    mirror = mmu_interval_notifier_insert(ctx.m, s.as, p as Process, start, end);
    ctx.register(mirror);
  }
  const mi = mirror as HmmMirror;
  const { ret, retries } = hmm_range_fault(ctx.m, mi, s.write ?? false);
  let writable = 0;
  for (const w of mi.writable) writable += w;
  return {
    ret,
    extra: {
      pfns: mi.mirrored,
      writable_pfns: writable,
      invalidations: mi.invalidations.length,
      seq: mi.seq,
      retries,
      events: mi.eventCounts(),
    },
  };
}

export const moreConsumerOps = {
  process_vm_readv: processVm,
  process_vm_writev: processVm,
  vmsplice,
  close,
  rdma_reg_mr: rdmaRegMr,
  rdma_dereg_mr: rdmaDeregMr,
  vfio_map_dma: vfioMapDma,
  vfio_unmap_dma: vfioUnmapDma,
  hmm_range_fault: hmmRangeFault,
};
