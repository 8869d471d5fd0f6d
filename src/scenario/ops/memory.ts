// Scenario steps that act like a process using its memory: mmap, munmap, mremap, mprotect, mlock,
// munlock, madvise, touching pages, files, fork, exit, and the fault-injection and signal knobs.

import type { RunContext, Outcome } from '../context.js';
import type { StepOf } from '../schema.js';
import { do_mmap, do_munmap } from '../../mm/mmap.js';
import { do_mprotect_pkey } from '../../mm/mprotect.js';
import { do_mremap } from '../../mm/mremap.js';
import { do_mlock, do_munlock } from '../../mm/mlock.js';
import { do_madvise } from '../../mm/madvise.js';
import { userAccess } from '../../mm/user_access.js';
import { filemapWriteNewFile } from '../../mm/filemap.js';
import { kernel_clone, newForkStats } from '../../kernel/fork.js';
import { do_exit } from '../../kernel/exit.js';
import { PAGE_SIZE } from '../../mm/memmap.js';
import { EEXIST, EINVAL } from '../../uapi/errno.js';
import { memcpy_to_page, pageValue } from '../../mm/highmem.js';
import { fileBlockValue } from '../data.js';
import { lru_add_drain } from '../../mm/swap.js';

export function mmap(ctx: RunContext, s: StepOf<'mmap'>): Outcome {
  const p = ctx.live(s.proc);
  if (typeof p === 'number') return { ret: p };
  const file = s.file ? ctx.files.get(s.file) : undefined;
  if (s.type === 'fsdax' && file && file.fs !== 'dax')
    return {
      ret: -EINVAL,
      extra: { why: { fn: 'gupsim', rule: `type fsdax needs a file on fs: dax ("${s.file}" is not)` } },
    };
  const args: Parameters<typeof do_mmap>[2] = { size: s.size, type: s.type, name: s.as };
  if (s.shared !== undefined) args.shared = s.shared;
  if (file) args.file = file;
  if (s.offset !== undefined) args.offset = s.offset;
  if (s.align !== undefined) args.align = s.align;
  if (s.type === 'hugetlb') args.hugeOrder = ctx.hugeOrder(s.hugepage);
  if (s.prot) args.prot = s.prot;
  if (s.populate) args.populate = true;
  if (s.noreserve) args.noreserve = true;
  const addr = do_mmap(ctx.m, p, args);
  if (addr < 0) return { ret: addr };
  const len = p.mm.vma_lookup(addr)!.end - addr;
  ctx.regions.set(s.as, { name: s.as, addr, len, owner: p.name });
  return { ret: 0, extra: { addr: '0x' + addr.toString(16), length: len } };
}

export function munmap(ctx: RunContext, s: StepOf<'munmap'>): Outcome {
  const p = ctx.live(s.proc);
  if (typeof p === 'number') return { ret: p };
  const { addr, len } = ctx.range(s);
  return { ret: do_munmap(ctx.m, p, addr, len) };
}

/**
 * mremap of a range of a region. When the range is the whole region, the region follows the mapping
 * to its new address and size; a part moved elsewhere keeps the region's name on the old address.
 */
export function mremap(ctx: RunContext, s: StepOf<'mremap'>): Outcome {
  const p = ctx.live(s.proc);
  if (typeof p === 'number') return { ret: p };
  const { addr, len, region } = ctx.range(s);
  const args: Parameters<typeof do_mremap>[2] = { addr, oldLen: len, newLen: s.new_size };
  if (s.maymove || s.fixed !== undefined || s.dontunmap) args.maymove = true;
  if (s.fixed !== undefined) args.fixed = ctx.regions.get(s.fixed)!.addr;
  if (s.dontunmap) args.dontunmap = true;
  const r = do_mremap(ctx.m, p, args);
  if (r < 0) return { ret: r };
  if (addr === region.addr && len >= region.len) {
    region.addr = r;
    region.len = p.mm.vma_lookup(r)!.end - r;
  }
  return { ret: 0, extra: { addr: '0x' + r.toString(16), moved: r !== addr } };
}

export function mlock(ctx: RunContext, s: StepOf<'mlock'>): Outcome {
  const p = ctx.live(s.proc);
  if (typeof p === 'number') return { ret: p };
  const { addr, len } = ctx.range(s);
  return { ret: do_mlock(ctx.m, p, addr, len, s.onfault ?? false), extra: { locked_vm: p.mm.locked_vm } };
}

export function munlock(ctx: RunContext, s: StepOf<'munlock'>): Outcome {
  const p = ctx.live(s.proc);
  if (typeof p === 'number') return { ret: p };
  const { addr, len } = ctx.range(s);
  return { ret: do_munlock(ctx.m, p, addr, len), extra: { locked_vm: p.mm.locked_vm } };
}

export function mprotect(ctx: RunContext, s: StepOf<'mprotect'>): Outcome {
  const p = ctx.live(s.proc);
  if (typeof p === 'number') return { ret: p };
  const { addr, len } = ctx.range(s);
  return { ret: do_mprotect_pkey(ctx.m, p, addr, len, s.prot) };
}

export function madvise(ctx: RunContext, s: StepOf<'madvise'>): Outcome {
  const p = ctx.live(s.proc);
  if (typeof p === 'number') return { ret: p };
  const { addr, len } = ctx.range(s);
  // MADV_POPULATE_* included: do_madvise() -> madvise_populate() repeats faultin_page_range() until
  // the range is done, so a hole or failure after a partial populate is still reported.
  return { ret: do_madvise(ctx.m, p, addr, len, s.advice) };
}

export function touch(ctx: RunContext, s: StepOf<'read'> | StepOf<'write'>): Outcome {
  const p = ctx.live(s.proc);
  if (typeof p === 'number') return { ret: p };
  const { addr, len } = ctx.range(s);
  const m = ctx.m;
  // A store of the value over each page, or a load of each page's value (page-granular contents).
  const value = s.op === 'write' ? ctx.value(s.value) : 0;
  const data: number[] = [];
  const ret = userAccess(m, p, addr, len, s.op === 'write', (pfn, i) => {
    if (s.op === 'write') memcpy_to_page(m, pfn, value);
    else data[i] = pageValue(m, pfn);
  });
  // The signal the process would get, from the fault path's refusal (SIGSEGV, SIGBUS).
  const signal = ret < 0 ? /^(SIG[A-Z]+)/.exec(ctx.m.why?.rule ?? '')?.[1] : undefined;
  return { ret, extra: { ...(signal ? { signal } : {}), ...(s.op === 'write' ? { value } : { data }) } };
}

export function createFile(ctx: RunContext, s: StepOf<'create_file'>): Outcome {
  if (ctx.files.has(s.as))
    return { ret: -EEXIST, extra: { why: { fn: 'gupsim', rule: `a file named "${s.as}" exists` } } };
  const pages = Math.ceil(s.size / PAGE_SIZE);
  const f = ctx.m.newFile(s.fs ?? 'disk', s.as, pages);
  f.users++; // the scenario keeps it open
  const blockValue = (b: number) => s.value ?? fileBlockValue(ctx.stepIndex, b);
  if (f.fs !== 'tmpfs') f.disk = Uint32Array.from({ length: pages }, (_, b) => blockValue(b));
  // The file's data is written with write(2) in 1 MiB calls and fsynced (as the probe creates it),
  // so its pages start out cached and clean (tmpfs: cached and dirty, with the data written).
  filemapWriteNewFile(ctx.m, f, s.size, 1 << 20);
  if (f.fs === 'tmpfs')
    for (let b = 0; b < pages; b++) if (f.pages[b]! >= 0) memcpy_to_page(ctx.m, f.pages[b]!, blockValue(b));
  ctx.files.set(s.as, f);
  ctx.m.files.set(s.as, f);
  // The file is made before the scenario's processes use it, and a disk file system's own metadata
  // I/O (bitmaps, the inode table, through the block device's page cache) adds folios to this CPU's
  // LRU batch that gupsim does not model: the file's pages start out on the LRU. (The probe's helper
  // drains the batches after making a file, too.)
  lru_add_drain(ctx.m);
  return { ret: 0 };
}

export function fork(ctx: RunContext, s: StepOf<'fork'>): Outcome {
  const p = ctx.live(s.proc);
  if (typeof p === 'number') return { ret: p };
  if (ctx.m.process(s.child)?.alive)
    return { ret: -EEXIST, extra: { why: { fn: 'gupsim', rule: `a process named "${s.child}" is alive` } } };
  const stats = newForkStats();
  const c = kernel_clone(ctx.m, p, s.child, stats);
  if (typeof c === 'number') return { ret: c };
  // After fork() both processes run on and write their own stacks and data: COW copies of pages
  // gupsim's processes do not have, each joining this CPU's LRU batch, so the batch fills at a point
  // the model cannot know. gupsim settles it: the batch is drained when the fork step ends (the probe's
  // helper makes its copies at once and drains there too). The kernel's fork itself drains nothing.
  lru_add_drain(ctx.m);
  ctx.configure(c);
  return { ret: 0, extra: { pid: c.pid, fork: stats } };
}

export function exit(ctx: RunContext, s: StepOf<'exit'>): Outcome {
  const p = ctx.live(s.proc);
  if (typeof p === 'number') return { ret: p };
  do_exit(ctx.m, p);
  return { ret: 0 };
}

export function failAlloc(ctx: RunContext, s: StepOf<'fail_alloc'>): Outcome {
  const times = s.times ?? Infinity;
  ctx.m.alloc.setFailureInjection(times === 0 ? undefined : { after: s.after ?? 0, times, minOrder: s.min_order ?? 0 });
  return { ret: 0 };
}

export function fatalSignal(ctx: RunContext, s: StepOf<'fatal_signal'>): Outcome {
  ctx.proc(s.proc).fatalSignalPending = s.pending ?? true;
  return { ret: 0 };
}
