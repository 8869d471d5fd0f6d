// Steps about page contents: files as a reader and as the disk see them (pread, pwrite, read_disk),
// writeback and cache dropping (fsync, msync, sync, writeback, drop_caches, truncate), io_uring fixed
// buffer I/O, devices reading and writing through what a holder keeps (dma_*, rdma_*), and reading
// a pipe. Each read-like step reports `data`, one value per page.

import { type RunContext, type Outcome, PinHandle } from '../context.js';
import type { StepOf } from '../schema.js';
import type { AddressSpace } from '../../mm/fs.js';
import { NO_PFN, PAGE_SIZE, ZERO_PFN } from '../../mm/memmap.js';
import { memcpy_from_page, memcpy_to_page } from '../../mm/highmem.js';
import { diskBlock } from '../../mm/bdev.js';
import { filemap_read, generic_perform_write } from '../../mm/filemap.js';
import { filemap_write_and_wait_range, writebackFile } from '../../mm/page-writeback.js';
import { dropPagecache, truncate_pagecache } from '../../mm/truncate.js';
import { WB_SYNC_ALL, WB_SYNC_NONE, type WbSyncMode } from '../../mm/writeback_pinned.js';
import { is_huge_zero_folio } from '../../mm/huge_mm.js';
import { VM_SHARED } from '../../mm/mm_types.js';
import { EBADF, EFAULT, EINVAL, ENOMEM } from '../../uapi/errno.js';
import { IoRing } from '../../consumers/io_uring.js';
import { ioRwFixed } from '../../consumers/io_uring_rw.js';
import { IbMr } from '../../consumers/rdma.js';
import { VfioDma } from '../../consumers/vfio.js';
import { HmmMirror } from '../../consumers/hmm.js';
import { Pipe, pipe_read } from '../../consumers/vmsplice.js';

/** [first, first + nr) pages of a file for a step's offset and length (default: to the end). */
function filePages(file: AddressSpace, s: { offset?: number; length?: number }): { first: number; nr: number } {
  const off = s.offset ?? 0;
  const len = s.length ?? Math.max(0, file.sizePages * PAGE_SIZE - off);
  const first = Math.floor(off / PAGE_SIZE);
  return { first, nr: Math.max(0, Math.ceil((off + len) / PAGE_SIZE) - first) };
}

/** pread(2), buffered: the file as a reader sees it. ret: bytes (short at EOF). */
export function pread(ctx: RunContext, s: StepOf<'pread'>): Outcome {
  if (s.proc !== undefined) {
    const p = ctx.live(s.proc);
    if (typeof p === 'number') return { ret: p };
  }
  const file = ctx.files.get(s.file)!;
  const { first, nr } = filePages(file, s);
  const data: number[] = [];
  const r = filemap_read(ctx.m, file, first, nr, (v) => data.push(v));
  if (r < 0) return { ret: r };
  const off = s.offset ?? 0;
  const len = s.length ?? Math.max(0, file.sizePages * PAGE_SIZE - off);
  return { ret: Math.max(0, Math.min(len, file.sizePages * PAGE_SIZE - off)), extra: { data } };
}

/** pwrite(2), buffered: the page cache takes the value, dirty. ret: bytes. */
export function pwrite(ctx: RunContext, s: StepOf<'pwrite'>): Outcome {
  if (s.proc !== undefined) {
    const p = ctx.live(s.proc);
    if (typeof p === 'number') return { ret: p };
  }
  const file = ctx.files.get(s.file)!;
  const off = s.offset ?? 0;
  const len = s.length ?? Math.max(0, file.sizePages * PAGE_SIZE - off);
  if (len === 0) return { ret: 0 };
  const first = Math.floor(off / PAGE_SIZE);
  const nr = Math.ceil((off + len) / PAGE_SIZE) - first;
  const value = ctx.value(s.value);
  const w = generic_perform_write(ctx.m, file, first, new Array<number>(nr).fill(value));
  return { ret: w < 0 ? w : len, extra: { value } };
}

/** What the disk holds, past the page cache: an observation, nothing changes. */
export function readDisk(ctx: RunContext, s: StepOf<'read_disk'>): Outcome {
  const file = ctx.files.get(s.file)!;
  if (file.fs === 'tmpfs')
    return { ret: ctx.m.refuse(-EINVAL, 'read_disk', 'a tmpfs file has no disk: its page cache is all there is') };
  const { first, nr } = filePages(file, s);
  const data: number[] = [];
  for (let i = first; i < Math.min(first + nr, file.sizePages); i++) data.push(diskBlock(ctx.m, file, i));
  return { ret: 0, extra: { data } };
}

/** fsync(2): the file's dirty pages are written back. ret 0; `written`: pages written. */
export function fsync(ctx: RunContext, s: StepOf<'fsync'>): Outcome {
  return { ret: 0, extra: { written: writebackFile(ctx.m, ctx.files.get(s.file)!) } };
}

/**
 * msync(MS_SYNC) of a range: for a shared file mapping, vfs_fsync_range() of the file range it maps.
 * -ENOMEM when part of the range is not mapped.
 */
export function msync(ctx: RunContext, s: StepOf<'msync'>): Outcome {
  const p = ctx.live(s.proc);
  if (typeof p === 'number') return { ret: p };
  const { addr, len } = ctx.range(s);
  let written = 0;
  for (let a = addr - (addr % PAGE_SIZE); a < addr + len;) {
    const vma = p.mm.vma_lookup(a);
    if (!vma) return { ret: ctx.m.refuse(-ENOMEM, 'msync', `nothing is mapped at 0x${a.toString(16)}`) };
    const end = Math.min(vma.end, addr + len);
    if (vma.file && vma.flags & VM_SHARED) {
      const first = vma.pgoff + (a - vma.start) / PAGE_SIZE;
      const last = vma.pgoff + Math.ceil((end - vma.start) / PAGE_SIZE) - 1;
      written += filemap_write_and_wait_range(ctx.m, vma.file, first, last);
    }
    a = end;
  }
  return { ret: 0, extra: { written } };
}

/** sync(2) (WB_SYNC_ALL) and the flusher threads (WB_SYNC_NONE): every file's dirty pages are written back. */
function writebackAll(ctx: RunContext, sync: WbSyncMode): Outcome {
  let written = 0;
  for (const f of ctx.m.addressSpaces()) written += writebackFile(ctx.m, f, sync);
  return { ret: 0, extra: { written } };
}

export const syncAll = (ctx: RunContext): Outcome => writebackAll(ctx, WB_SYNC_ALL);
export const flusher = (ctx: RunContext): Outcome => writebackAll(ctx, WB_SYNC_NONE);

/** drop_caches: ret is the number of folios dropped. */
export function dropCaches(ctx: RunContext): Outcome {
  return { ret: 0, extra: { dropped: dropPagecache(ctx.m) } };
}

/** ftruncate(2). */
export function truncate(ctx: RunContext, s: StepOf<'truncate'>): Outcome {
  truncate_pagecache(ctx.m, ctx.files.get(s.file)!, Math.ceil(s.size / PAGE_SIZE));
  return { ret: 0 };
}

/** IORING_OP_READ_FIXED / WRITE_FIXED on a registered buffer of a ring. */
export function ioUringFixed(
  ctx: RunContext,
  s: StepOf<'io_uring_read_fixed'> | StepOf<'io_uring_write_fixed'>,
): Outcome {
  const ring = ctx.objects.get(s.ring);
  if (!(ring instanceof IoRing)) return { ret: ctx.m.refuse(-EBADF, 'io_uring_enter', `"${s.ring}" is not a ring`) };
  const index = s.buf_index ?? 0;
  const b = ring.bufs[index];
  const offset = s.offset ?? 0;
  const len = s.length ?? (b ? Math.max(0, b.len - offset) : 0);
  const ret = ioRwFixed(ctx.m, ring, {
    index,
    offset,
    len,
    file: ctx.files.get(s.file)!,
    pos: s.file_offset ?? 0,
    isRead: s.op === 'io_uring_read_fixed',
    direct: s.direct ?? false,
  });
  return { ret };
}

/** A device access through a holder: the frames, and whether the device may write them. */
interface DeviceWindow {
  /** Frame per page of the range; NO_PFN where the device has no page (released, not mirrored). */
  frames: number[];
  /** Why the device may not write there (an IOMMU or NIC permission), if so. */
  readOnly?: { fn: string; rule: string };
  /** Why a page without a frame faults on the device (HMM: refault through hmm_range_fault()). */
  missing: { fn: string; rule: string };
}

/** A page past the end of what a holder keeps (not a frame, not NO_PFN). */
const PAST_END = -2;

/** The frames of [offset, offset + length) of what a holder keeps, in its own order. */
function deviceWindow(h: unknown, offset: number, length: number | undefined): DeviceWindow | string {
  /** The pages of the range; one past the object's end stands for a page it does not have. */
  const range = (all: number[]) => {
    const first = Math.floor(offset / PAGE_SIZE);
    const n = length === undefined ? all.length - first : Math.ceil((offset + length) / PAGE_SIZE) - first;
    return Array.from({ length: Math.max(0, n) }, (_, k) => all[first + k] ?? PAST_END);
  };
  if (h instanceof PinHandle)
    return {
      frames: range(h.entries.map((pfn, i) => (h.releasedAt.has(i) ? NO_PFN : pfn))),
      missing: { fn: 'gupsim', rule: 'the entry was released: the driver no longer holds a page there' },
    };
  if (h instanceof IbMr || h instanceof VfioDma) {
    const all: number[] = [];
    for (const f of h.frames()) for (let k = 0; k < f.pages; k++) all.push(f.pfn + k);
    const w: DeviceWindow = {
      frames: range(all),
      missing: { fn: 'gupsim', rule: 'the range is past what the mapping holds' },
    };
    if (h instanceof IbMr && !h.writable)
      w.readOnly = { fn: 'ib_umem_get', rule: 'the MR was registered without write access (remote access error)' };
    if (h instanceof VfioDma && !h.write)
      w.readOnly = { fn: 'vfio_dma_do_map', rule: 'the DMA mapping has no IOMMU_WRITE (IOMMU fault)' };
    return w;
  }
  if (h instanceof HmmMirror) {
    const w: DeviceWindow = {
      frames: range(Array.from(h.pfns)),
      missing: {
        fn: 'hmm_range_fault',
        rule:
          'the page is not in the mirror (never faulted, or invalidated): the device faults and its driver ' +
          'must call hmm_range_fault() again',
      },
    };
    return w;
  }
  return 'not something a device reaches memory through (a GUP handle, an MR, a VFIO mapping or an HMM mirror)';
}

/** What a device access did: bytes, the values read, and notes on misuse. */
function deviceAccess(
  ctx: RunContext,
  h: unknown,
  name: string,
  s: { offset?: number; length?: number; value?: number },
  write: boolean,
): Outcome {
  const m = ctx.m;
  const w = deviceWindow(h, s.offset ?? 0, s.length);
  if (typeof w === 'string') return { ret: m.refuse(-EBADF, 'gupsim', `"${name}" is ${w}`) };
  const past = w.frames.indexOf(PAST_END);
  if (past >= 0 || !w.frames.length)
    return { ret: m.refuse(-EFAULT, 'gupsim', `the range is past the end of "${name}" (page ${Math.max(0, past)})`) };
  const gap = w.frames.findIndex((pfn) => pfn < 0);
  if (gap >= 0) return { ret: m.refuse(-EFAULT, w.missing.fn, `page ${gap} of the range: ${w.missing.rule}`) };
  if (write && w.readOnly) return { ret: m.refuse(-EFAULT, w.readOnly.fn, w.readOnly.rule) };
  if (write && h instanceof HmmMirror) {
    const first = Math.floor((s.offset ?? 0) / PAGE_SIZE);
    const ro = w.frames.findIndex((_, k) => !h.writable[first + k]);
    if (ro >= 0)
      return {
        ret: m.refuse(
          -EFAULT,
          'hmm_range_fault',
          `page ${ro} is mirrored read-only: the device faults and its driver must fault it for write`,
        ),
      };
  }
  const notes: string[] = [];
  if (write && w.frames.some((pfn) => pfn === ZERO_PFN || is_huge_zero_folio(m, m.mem.page_folio(pfn))))
    notes.push('the device wrote into the shared zero page (it was taken without FOLL_WRITE): every process sees it');
  if (write && h instanceof PinHandle && h.kind === 'get')
    notes.push('a device write through FOLL_GET references (Case 5 wants FOLL_PIN): writeback does not know of it');
  const bytes = w.frames.length * PAGE_SIZE;
  if (write) {
    const value = ctx.value(s.value);
    for (const pfn of w.frames) memcpy_to_page(m, pfn, value);
    return { ret: bytes, extra: { value, ...(notes.length ? { note: notes.join('; ') } : {}) } };
  }
  return { ret: bytes, extra: { data: w.frames.map((pfn) => memcpy_from_page(m, pfn)) } };
}

export function dma(ctx: RunContext, s: StepOf<'dma_write'> | StepOf<'dma_read'>): Outcome {
  return deviceAccess(ctx, ctx.objects.get(s.handle), s.handle, s, s.op === 'dma_write');
}

export function rdma(ctx: RunContext, s: StepOf<'rdma_write'> | StepOf<'rdma_read'>): Outcome {
  const mr = ctx.objects.get(s.mr);
  if (!(mr instanceof IbMr) || mr.closed)
    return { ret: ctx.m.refuse(-EBADF, 'ib_uverbs', `"${s.mr}" is not a registered MR`) };
  return deviceAccess(ctx, mr, s.mr, s, s.op === 'rdma_write');
}

/** read(2) of a pipe. */
export function pipeRead(ctx: RunContext, s: StepOf<'pipe_read'>): Outcome {
  const pipe = ctx.objects.get(s.pipe);
  if (!(pipe instanceof Pipe)) return { ret: ctx.m.refuse(-EBADF, 'pipe_read', `"${s.pipe}" is not a pipe`) };
  const p = s.proc !== undefined ? ctx.live(s.proc) : pipe.owner;
  if (typeof p === 'number') return { ret: p };
  const r = pipe_read(ctx.m, p, pipe, s.length ?? pipe.bytes);
  return { ret: r.ret, extra: r.ret >= 0 ? { data: r.data } : undefined };
}

export const dataOps = {
  pread,
  pwrite,
  read_disk: readDisk,
  fsync,
  msync,
  sync: syncAll,
  writeback: flusher,
  drop_caches: dropCaches,
  truncate,
  io_uring_read_fixed: ioUringFixed,
  io_uring_write_fixed: ioUringFixed,
  dma_write: dma,
  dma_read: dma,
  rdma_write: rdma,
  rdma_read: rdma,
  pipe_read: pipeRead,
};
