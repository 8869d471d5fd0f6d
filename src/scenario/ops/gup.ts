// Raw GUP steps: the get_user_pages / pin_user_pages family on a region, collecting the pages in a
// handle (`as:`), and their release (unpin_user_pages*, unpin_user_page, put_page). Releasing with
// the wrong API, or twice, is refused with a WARN record instead of corrupting the counts.

import { type RunContext, type Outcome, PinHandle } from '../context.js';
import type { StepOf } from '../schema.js';
import { parseFollFlags, follToRelease } from '../../mm/foll_flags.js';
import { NO_PFN, PAGE_SIZE } from '../../mm/memmap.js';
import * as gup from '../../mm/gup.js';
import { EINVAL } from '../../uapi/errno.js';

type GupOp =
  | 'get_user_pages'
  | 'get_user_pages_fast'
  | 'get_user_pages_fast_only'
  | 'get_user_pages_unlocked'
  | 'get_user_pages_remote'
  | 'pin_user_pages'
  | 'pin_user_pages_fast'
  | 'pin_user_pages_unlocked'
  | 'pin_user_pages_remote';

export function rawGup(ctx: RunContext, s: StepOf<GupOp>): Outcome {
  const caller = ctx.live(s.proc);
  if (typeof caller === 'number') return { ret: caller };
  let target = caller;
  if ('target' in s) {
    const t = ctx.live(s.target);
    if (typeof t === 'number') return { ret: t };
    target = t;
  }
  let flags: number;
  try {
    flags = parseFollFlags(s.flags ?? [], ctx.m.profile);
  } catch (e) {
    return { ret: -EINVAL, extra: { why: { fn: 'gupsim', rule: (e as Error).message } } };
  }
  const { addr, len } = ctx.range(s);
  const nr = s.pages ?? Math.ceil(len / PAGE_SIZE);
  const pages = new Int32Array(Math.max(nr, 0));
  const m = ctx.m;
  let ret: number;
  switch (s.op) {
    case 'get_user_pages':
      ret = gup.get_user_pages(m, caller, addr, nr, flags, pages);
      break;
    case 'get_user_pages_fast':
      ret = gup.get_user_pages_fast(m, caller, addr, nr, flags, pages);
      break;
    case 'get_user_pages_fast_only':
      ret = gup.get_user_pages_fast_only(m, caller, addr, nr, flags, pages);
      break;
    case 'get_user_pages_unlocked':
      ret = gup.get_user_pages_unlocked(m, caller, addr, nr, pages, flags);
      break;
    case 'get_user_pages_remote':
      ret = gup.get_user_pages_remote(m, target, addr, nr, flags, pages, undefined, caller);
      break;
    case 'pin_user_pages':
      ret = gup.pin_user_pages(m, caller, addr, nr, flags, pages);
      break;
    case 'pin_user_pages_fast':
      ret = gup.pin_user_pages_fast(m, caller, addr, nr, flags, pages);
      break;
    case 'pin_user_pages_unlocked':
      ret = gup.pin_user_pages_unlocked(m, caller, addr, nr, pages, flags);
      break;
    case 'pin_user_pages_remote':
      ret = gup.pin_user_pages_remote(m, target, addr, nr, flags, pages, undefined, caller);
      break;
  }
  if (ret > 0 && s.as) {
    let h = ctx.objects.get(s.as);
    if (!(h instanceof PinHandle)) {
      h = new PinHandle(s.as, caller, s.op.startsWith('pin') ? 'pin' : 'get', target);
      ctx.register(h);
    }
    keep(h as PinHandle, pages, ret, addr);
  } else if (ret > 0 && !s.as) {
    // Nobody can release these: report them as held by the step itself.
    const kind = s.op.startsWith('pin') ? 'pin' : 'get';
    const h = new PinHandle(`${s.op}@${ctx.m.warns.step ?? '?'}`, caller, kind, target);
    keep(h, pages, ret, addr);
    ctx.register(h);
  }
  // The caller's flags as this release's headers number them (as the VM engine's module reports them).
  return { ret, extra: { gup_flags: `0x${follToRelease(ctx.m.profile, flags).toString(16)}` } };
}

/** Add the pages a GUP call returned (page i was taken for start + i pages) to a handle. */
function keep(h: PinHandle, pages: Int32Array, n: number, start: number): void {
  const base = start - (start % PAGE_SIZE);
  for (let i = 0; i < n; i++) {
    h.entries.push(pages[i]!);
    h.addrs.push(base + i * PAGE_SIZE);
  }
}

function handle(ctx: RunContext, name: string): PinHandle | undefined {
  const h = ctx.objects.get(name);
  return h instanceof PinHandle ? h : undefined;
}

/** Entries [from, from+count) that are still held; a count that is an errno passes through. */
function take(
  h: PinHandle,
  from: number,
  count: number | undefined,
): { pages: Int32Array; idx: number[]; stale: number } {
  const end = count === undefined ? h.entries.length : Math.min(h.entries.length, from + Math.max(0, count));
  const idx: number[] = [];
  let stale = 0;
  for (let i = from; i < end; i++) {
    if (h.entries[i]! >= 0) idx.push(i);
    else stale++;
  }
  return { pages: Int32Array.from(idx.map((i) => h.entries[i]!)), idx, stale };
}

function misuse(ctx: RunContext, fn: string, cond: string): Outcome {
  ctx.m.warns.warn(fn, cond);
  return { ret: 0, extra: { why: { fn, rule: cond } } };
}

export function unpin(
  ctx: RunContext,
  s: StepOf<'unpin_user_pages'> | StepOf<'unpin_user_pages_dirty_lock'> | StepOf<'unpin_user_page'>,
): Outcome {
  const h = handle(ctx, s.pins);
  if (!h) return misuse(ctx, s.op, `"${s.pins}" is not a GUP handle`);
  if (h.kind !== 'pin')
    return misuse(ctx, s.op, `pages of "${s.pins}" were taken with FOLL_GET: release them with put_page()`);
  const m = ctx.m;
  if (s.op === 'unpin_user_page') {
    const i = s.index ?? 0;
    const pfn = h.entries[i];
    if (pfn === undefined || pfn < 0)
      return misuse(ctx, s.op, `entry ${i} of "${s.pins}" is not pinned (already unpinned?)`);
    gup.unpin_user_page(m, pfn);
    h.entries[i] = NO_PFN;
    return { ret: 0 };
  }
  if (s.count !== undefined && s.count < 0) {
    // An errno passed as the page count: the kernel's IS_ERR_VALUE() check answers.
    const pages = Int32Array.from(h.entries);
    if (s.op === 'unpin_user_pages') gup.unpin_user_pages(m, pages, s.count);
    else gup.unpin_user_pages_dirty_lock(m, pages, s.count, s.dirty ?? true);
    return { ret: 0 };
  }
  const { pages, idx, stale } = take(h, 0, s.count);
  if (idx.length === 0) return misuse(ctx, s.op, `nothing of "${s.pins}" is still pinned (double unpin)`);
  if (s.op === 'unpin_user_pages') gup.unpin_user_pages(m, pages, pages.length);
  else gup.unpin_user_pages_dirty_lock(m, pages, pages.length, s.dirty ?? true);
  for (const i of idx) h.entries[i] = NO_PFN;
  return { ret: 0, extra: stale ? { note: `${stale} entries were already released` } : undefined };
}

export function putPage(ctx: RunContext, s: StepOf<'put_page'>): Outcome {
  const h = handle(ctx, s.pins);
  if (!h) return misuse(ctx, 'put_page', `"${s.pins}" is not a GUP handle`);
  if (h.kind !== 'get')
    return misuse(ctx, 'put_page', `put_page() on pages pinned with FOLL_PIN ("${s.pins}"): use unpin_user_page()`);
  const from = s.index ?? 0;
  const { idx } = take(h, from, s.index !== undefined && s.count === undefined ? 1 : s.count);
  if (idx.length === 0) return misuse(ctx, 'put_page', `nothing of "${s.pins}" is still referenced (double put_page)`);
  for (const i of idx) {
    gup.put_page(ctx.m, h.entries[i]!);
    h.entries[i] = NO_PFN;
  }
  return { ret: 0 };
}
