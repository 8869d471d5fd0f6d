// Observation steps: vmstat, inspect, dump_page.

import type { RunContext, Outcome } from '../context.js';
import type { StepOf } from '../schema.js';
import { PAGE_SIZE } from '../../mm/memmap.js';
import { dump_page } from '../../mm/debug.js';
import { inspectPage, lookupPage } from '../inspect.js';
import { EFAULT } from '../../uapi/errno.js';

export function vmstat(ctx: RunContext): Outcome {
  return { ret: 0, extra: { text: ctx.m.vmstat.text() } };
}

export function inspect(ctx: RunContext, s: StepOf<'inspect'>): Outcome {
  const p = ctx.proc(s.proc);
  const r = ctx.regions.get(s.region)!;
  const first = s.page ?? 0;
  const n = s.pages ?? (s.page === undefined ? Math.ceil(r.len / PAGE_SIZE) : 1);
  const pages = [];
  for (let i = first; i < first + n; i++) pages.push(inspectPage(ctx.m, p, r.addr + i * PAGE_SIZE, i));
  return { ret: 0, extra: { pages } };
}

export function dumpPage(ctx: RunContext, s: StepOf<'dump_page'>): Outcome {
  const p = ctx.proc(s.proc);
  const r = ctx.regions.get(s.region)!;
  const hit = p.alive ? lookupPage(p, r.addr + (s.page ?? 0) * PAGE_SIZE) : undefined;
  if (!hit) return { ret: -EFAULT, extra: { why: { fn: 'dump_page', rule: 'no page is mapped there' } } };
  return { ret: 0, extra: { text: dump_page(ctx.m, hit.pfn, 'gupsim dump_page step') } };
}
