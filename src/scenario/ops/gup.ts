// Raw GUP steps: the get_user_pages / pin_user_pages family on a region, collecting the pages in a
// handle (`as:`), and their release (unpin_user_pages*, unpin_user_page, put_page). Releasing with
// the wrong API, or twice, does what the kernel does (its arithmetic, no checks) and gupsim records a
// misuse event naming the handle (never a kernel WARN).

import { type RunContext, type Outcome, PinHandle } from '../context.js';
import type { StepOf } from '../schema.js';
import { parseFollFlags, follToRelease } from '../../mm/foll_flags.js';
import { PAGE_SIZE, ZERO_PFN } from '../../mm/memmap.js';
import { is_huge_zero_folio } from '../../mm/huge_mm.js';
import * as gup from '../../mm/gup.js';
import { EINVAL } from '../../uapi/errno.js';
import type { Machine } from '../../mm/machine.js';

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
  const isZero = (pfn: number) => pfn === ZERO_PFN || is_huge_zero_folio(m, m.mem.page_folio(pfn));
  if (ret > 0 && s.as) {
    let h = ctx.objects.get(s.as);
    if (!(h instanceof PinHandle)) {
      h = new PinHandle(s.as, caller, s.op.startsWith('pin') ? 'pin' : 'get', target, isZero);
      ctx.register(h);
    }
    keep(h as PinHandle, pages, ret, addr);
  } else if (ret > 0 && !s.as) {
    // Nobody can release these: report them as held by the step itself.
    const kind = s.op.startsWith('pin') ? 'pin' : 'get';
    const h = new PinHandle(`${s.op}@${ctx.m.warns.step ?? '?'}`, caller, kind, target, isZero);
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

/** A release step whose GUP step got nothing: the driver's pages[] is empty. */
function nothingHeld(name: string): Outcome {
  return { ret: 0, extra: { note: `"${name}" holds no pages: the GUP step that names it got none` } };
}

/** Folios described in full in a misuse record's account of a release. */
const DESCRIBED_FOLIOS = 3;

interface Counts {
  folio: number;
  refcount: number;
  pincount: number;
}

/** The distinct folios of `pages` (the first few) with their counts now. */
function countsOf(m: Machine, pages: Int32Array): Counts[] {
  const out: Counts[] = [];
  for (const pfn of pages) {
    const folio = m.mem.page_folio(pfn);
    if (out.some((c) => c.folio === folio)) continue;
    if (out.length === DESCRIBED_FOLIOS) break;
    out.push({ folio, refcount: m.mem.refcount[folio]!, pincount: m.mem.folioPincount(folio) });
  }
  return out;
}

/** What a release call did to the folios' counts (for a misuse record when the mm saw nothing odd). */
function describeRelease(m: Machine, fn: string, before: Counts[], released0: number): string {
  const parts = before.map((b) => {
    const pin = m.mem.folio_test_large(b.folio) ? `, _pincount ${b.pincount} -> ${m.mem.folioPincount(b.folio)}` : '';
    return `folio 0x${b.folio.toString(16)} _refcount ${b.refcount} -> ${m.mem.refcount[b.folio]}${pin}`;
  });
  const rel = m.vmstat.get('nr_foll_pin_released') - released0;
  return [`${fn}()`, rel ? `nr_foll_pin_released +${rel}` : '', ...parts].filter(Boolean).join('; ');
}

/** The folios (head, order) of `pages`, for the taint of a diagnosed misuse. */
function foliosOf(m: Machine, pages: Int32Array): Array<[number, number]> {
  const seen = new Map<number, number>();
  for (const pfn of pages) {
    const folio = m.mem.page_folio(pfn);
    if (!seen.has(folio)) seen.set(folio, m.mem.folio_order(folio));
  }
  return [...seen];
}

/** Entries already released, as "3 (step 5)" lists for a double release message. */
function staleEntries(h: PinHandle, idx: number[]): string | undefined {
  const stale = idx.filter((i) => h.releasedAt.has(i));
  if (!stale.length) return undefined;
  const steps = [...new Set(stale.map((i) => h.releasedAt.get(i)))].filter((x) => x !== undefined);
  return (
    `${stale.length} of the ${idx.length} entr${idx.length === 1 ? 'y' : 'ies'} passed ` +
    `${stale.length === 1 ? 'was' : 'were'} already released${steps.length ? ` (at step ${steps.join(', ')})` : ''}`
  );
}

/**
 * Run a release call on `pages` (entries `idx` of the handle) with gupsim's diagnosis `what`, and mark
 * the entries released when `releases` (put_page() on pinned pages releases no pin).
 */
function release(
  ctx: RunContext,
  h: PinHandle,
  fn: string,
  idx: number[],
  what: string | undefined,
  releases: boolean,
  call: (pages: Int32Array) => void,
): Outcome {
  const m = ctx.m;
  const pages = Int32Array.from(idx.map((i) => h.entries[i]!));
  const before = what ? countsOf(m, pages) : [];
  const released0 = m.vmstat.get('nr_foll_pin_released');
  const folios = what ? foliosOf(m, pages) : [];
  m.misuse.attribute({ handle: h.name, what, folios, kernel: () => describeRelease(m, fn, before, released0) }, () =>
    call(pages),
  );
  if (releases) for (const i of idx) if (!h.releasedAt.has(i)) h.releasedAt.set(i, ctx.m.misuse.step);
  return { ret: 0 };
}

export function unpin(
  ctx: RunContext,
  s: StepOf<'unpin_user_pages'> | StepOf<'unpin_user_pages_dirty_lock'> | StepOf<'unpin_user_page'>,
): Outcome {
  const h = handle(ctx, s.pins);
  if (!h) return nothingHeld(s.pins);
  const m = ctx.m;
  if (s.op !== 'unpin_user_page' && s.count !== undefined && s.count < 0) {
    // An errno passed as the page count: the kernel's IS_ERR_VALUE() check answers.
    const pages = Int32Array.from(h.entries.slice(s.index ?? 0));
    if (s.op === 'unpin_user_pages') gup.unpin_user_pages(m, pages, s.count);
    else gup.unpin_user_pages_dirty_lock(m, pages, s.count, s.dirty ?? true);
    return { ret: 0 };
  }
  let idx: number[];
  if (s.op === 'unpin_user_page') {
    const i = s.index ?? 0;
    if (i >= h.entries.length) {
      m.misuse.attribute(
        {
          handle: h.name,
          what: `unpin_user_page() of entry ${i}, but "${h.name}" holds ${h.entries.length} page(s)`,
          kernel: () =>
            'nothing gupsim can model: in C this reads past the end of pages[] and unpins whatever is there',
        },
        () => undefined,
      );
      return { ret: 0 };
    }
    idx = [i];
  } else {
    // unpin_user_pages(pages + index, count): the entries from `index`, every one of them (held or not).
    const from = s.index ?? 0;
    const end = s.count === undefined ? h.entries.length : Math.min(h.entries.length, from + s.count);
    idx = Array.from({ length: Math.max(0, end - from) }, (_, i) => from + i);
  }
  const wrongApi =
    h.kind === 'get'
      ? `${s.op}() on pages of "${h.name}" taken with FOLL_GET (get_user_pages*): they hold plain references, ` +
        'not pins; release them with put_page()'
      : undefined;
  const stale = staleEntries(h, idx);
  const what = wrongApi ?? (stale ? `double unpin: ${stale}` : undefined);
  return release(ctx, h, s.op, idx, what, true, (pages) => {
    if (s.op === 'unpin_user_page') gup.unpin_user_page(m, pages[0]!);
    else if (s.op === 'unpin_user_pages') gup.unpin_user_pages(m, pages, pages.length);
    else gup.unpin_user_pages_dirty_lock(m, pages, pages.length, s.dirty ?? true);
  });
}

export function putPage(ctx: RunContext, s: StepOf<'put_page'>): Outcome {
  const h = handle(ctx, s.pins);
  if (!h) return nothingHeld(s.pins);
  const from = s.index ?? 0;
  const count = s.index !== undefined && s.count === undefined ? 1 : s.count;
  const end = count === undefined ? h.entries.length : Math.min(h.entries.length, from + Math.max(0, count));
  const idx = Array.from({ length: Math.max(0, end - from) }, (_, i) => from + i);
  const pinned = h.kind === 'pin';
  const stale = pinned ? undefined : staleEntries(h, idx);
  const what = pinned
    ? `put_page() on pages of "${h.name}" pinned with FOLL_PIN: it drops one plain reference, not the pin ` +
      '(release pins with unpin_user_page(s)); each page now holds one reference fewer than its mappings and pins ' +
      'need, so releasing them frees it early (while still mapped) or drives its count below zero'
    : stale
      ? `double put_page(): ${stale}`
      : undefined;
  return release(ctx, h, 'put_page', idx, what, !pinned, (pages) => {
    for (const pfn of pages) gup.put_page(ctx.m, pfn);
  });
}
