// Observation steps: vmstat, inspect, dump_page.

import type { RunContext, Outcome } from '../context.js';
import type { StepOf } from '../schema.js';
import { PAGE_SIZE } from '../../mm/memmap.js';
import { dump_page } from '../../mm/debug.js';
import { folioHolds, inspectPage, lookupPage } from '../inspect.js';
import { EBADF, EFAULT } from '../../uapi/errno.js';
import type { Holder } from '../../consumers/holder.js';
import { pageValue } from '../../mm/highmem.js';

export function vmstat(ctx: RunContext): Outcome {
  return { ret: 0, extra: { text: ctx.m.vmstat.text() } };
}

export function inspect(ctx: RunContext, s: StepOf<'inspect'>): Outcome {
  if (s.handle !== undefined) {
    const h = ctx.holders.get(s.handle);
    if (!h)
      return {
        ret: -EBADF,
        extra: { why: { fn: 'gupsim', rule: `"${s.handle}" holds nothing: its step took no pages` } },
      };
    return inspectHandle(ctx, h);
  }
  const r = ctx.regions.get(s.region!)!;
  const p = ctx.proc(s.proc ?? r.owner);
  const first = s.page ?? 0;
  // The region may have shrunk (munmap, mremap) since the scenario was checked: stop at its end.
  const n = Math.min(s.pages ?? (s.page === undefined ? Infinity : 1), Math.ceil(r.len / PAGE_SIZE) - first);
  const holds = folioHolds(ctx.m, ctx.holders.values());
  const pages = [];
  for (let i = first; i < first + n; i++) pages.push(inspectPage(ctx.m, p, r.addr + i * PAGE_SIZE, i, holds));
  return { ret: 0, extra: { pages } };
}

/**
 * What a handle holds: each frame, the address it was taken for, and whether the process still maps
 * that frame there (a COW, migration, munmap or mremap since may have left the handle with a frame
 * the process no longer sees: the device and the process then disagree).
 */
function inspectHandle(ctx: RunContext, h: Holder): Outcome {
  const space = h.space;
  const frames = h.frames().map((f) => {
    const hit = space.alive ? lookupPage(space, f.addr) : undefined;
    return {
      addr: '0x' + f.addr.toString(16),
      pfn: f.pfn,
      pages: f.pages,
      pins: f.pins,
      refs: f.refs,
      mapped_pfn: hit?.pfn ?? null,
      still_mapped: hit?.pfn === f.pfn,
      // What the device would read there, page by page.
      data: Array.from({ length: f.pages }, (_, k) => pageValue(ctx.m, f.pfn + k)),
    };
  });
  const handle = {
    name: h.name,
    type: h.type,
    process: h.process,
    space: space.name,
    closed: h.closed,
    pins: h.pins(),
    refs: h.refs(),
  };
  return { ret: 0, extra: { handle, frames } };
}

export function dumpPage(ctx: RunContext, s: StepOf<'dump_page'>): Outcome {
  const p = ctx.proc(s.proc);
  const r = ctx.regions.get(s.region)!;
  const hit = p.alive ? lookupPage(p, r.addr + (s.page ?? 0) * PAGE_SIZE) : undefined;
  if (!hit) return { ret: -EFAULT, extra: { why: { fn: 'dump_page', rule: 'no page is mapped there' } } };
  return { ret: 0, extra: { text: dump_page(ctx.m, hit.pfn, 'gupsim dump_page step') } };
}
