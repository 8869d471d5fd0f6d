// Steps for races (issue 14): migrate_pages of one folio, the `assert` properties a run (or every
// interleaving `gupsim explore` runs) must satisfy, and `concurrent` blocks, which `gupsim run` runs
// thread after thread.

import type { RunContext, Outcome } from '../context.js';
import type { StepOf } from '../schema.js';
import { PAGE_SIZE } from '../../mm/memmap.js';
import { migrateFolio } from '../../mm/migrate.js';
import { lookupPage } from '../inspect.js';
import { EFAULT } from '../../uapi/errno.js';
import type { Process } from '../../mm/task.js';
import { hex } from '../../mm/hex.js';

/** migrate_pages() of the folio mapped at `page` of the region: 0, or -EFAULT (nothing mapped) / -errno. */
export function migratePages(ctx: RunContext, s: StepOf<'migrate_pages'>): Outcome {
  const p = ctx.live(s.proc);
  if (typeof p === 'number') return { ret: p };
  const r = ctx.regions.get(s.region)!;
  const hit = lookupPage(p, r.addr + (s.page ?? 0) * PAGE_SIZE);
  if (!hit) return { ret: -EFAULT, extra: { why: { fn: 'do_move_pages', rule: 'no page mapped at the address' } } };
  return { ret: migrateFolio(ctx.m, ctx.m.mem.page_folio(hit.pfn)) };
}

/** Why an assert fails (empty: it holds). Shared by `run` and the explorer. */
export function assertFailures(ctx: RunContext, s: StepOf<'assert'>): string[] {
  const out: string[] = [];
  const says = s.says ? `${s.says}: ` : '';
  if (s.that === 'vmstat_balanced') {
    const d = ctx.vmstatDelta();
    const acq = d.nr_foll_pin_acquired ?? 0;
    const rel = d.nr_foll_pin_released ?? 0;
    if (acq !== rel) out.push(`${says}nr_foll_pin_acquired ${acq} != nr_foll_pin_released ${rel}`);
    return out;
  }
  if (s.that === 'pins_mapped') {
    const h = s.handle !== undefined ? ctx.objects.get(s.handle) : undefined;
    if (!h) return [`${says}no handle "${s.handle}"`];
    const p: Process = s.proc !== undefined ? ctx.proc(s.proc) : h.space;
    for (const f of h.frames())
      for (let k = 0; k < f.pages; k++) {
        const addr = f.addr + k * PAGE_SIZE;
        const now = lookupPage(p, addr);
        if (now?.pfn !== f.pfn + k)
          out.push(
            `${says}${h.name} holds frame ${hex(f.pfn + k)} for ${hex(addr)}, but ${p.name} maps ` +
              (now ? `frame ${hex(now.pfn)}` : 'nothing') +
              ' there',
          );
      }
    return out;
  }
  // frames_differ
  const r = s.region !== undefined ? ctx.regions.get(s.region) : undefined;
  if (!r || s.proc === undefined || s.other === undefined) return [`${says}frames_differ needs proc, other and region`];
  const addr = r.addr + (s.page ?? 0) * PAGE_SIZE;
  const a = lookupPage(ctx.proc(s.proc), addr);
  const b = lookupPage(ctx.proc(s.other), addr);
  if (a && b && a.pfn === b.pfn && a.writable)
    out.push(`${says}${s.proc} and ${s.other} both map frame ${hex(a.pfn)} at ${hex(addr)}, writable in ${s.proc}`);
  return out;
}

/** An `assert` step of `gupsim run`: ret 0 when it holds, else 1 with its failures (the run fails). */
export function assertStep(ctx: RunContext, s: StepOf<'assert'>): Outcome {
  const failures = assertFailures(ctx, s);
  return failures.length ? { ret: 1, extra: { failures } } : { ret: 0 };
}
