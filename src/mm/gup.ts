// Models mm/gup.c: every get_user_pages / pin_user_pages entry point, argument validation, the
// slow path (VMA checks, page-table follow, faults and unshare faults), the lockless fast path with
// its fallback, FOLL_LONGTERM's migrate-and-retry loop, and the unpin/put family.
//
// `pages` is the model's struct page **: an Int32Array of PFNs (-1 for NULL). Every function returns
// the kernel's value: a page count, 0, or a negative errno. Refusals record their reason in m.why.
// The machine's release profile picks the release's rules where they differ (profile.ts): the entry
// points' argument checks, the long-term file-pin refusal, the R/O long-term unshare of file pages.

import type { Machine } from './machine.js';
import type { Process } from './task.js';
import {
  NO_FOLIO,
  NO_PFN,
  ZERO_PFN,
  GUP_PIN_COUNTING_BIAS,
  PAGE_SIZE,
  PMD_SIZE,
  PUD_SIZE,
  PG_anon,
  PG_buddy,
  PG_head,
  PG_tail,
  PG_referenced,
} from './memmap.js';
import {
  EFAULT,
  EINVAL,
  EINTR,
  ENOMEM,
  EOPNOTSUPP,
  EOVERFLOW,
  EHWPOISON,
  EAGAIN,
  EMLINK,
  EEXIST,
  MAX_ERRNO,
} from '../uapi/errno.js';
import {
  FOLL_WRITE,
  FOLL_GET,
  FOLL_DUMP,
  FOLL_FORCE,
  FOLL_NOWAIT,
  FOLL_NOFAULT,
  FOLL_HWPOISON,
  FOLL_ANON,
  FOLL_LONGTERM,
  FOLL_SPLIT_PMD,
  FOLL_PCI_P2PDMA,
  FOLL_HONOR_NUMA_FAULT,
  FOLL_TOUCH,
  FOLL_REMOTE,
  FOLL_PIN,
  FOLL_FAST_ONLY,
  FOLL_UNLOCKABLE,
  FOLL_MADV_POPULATE,
  INTERNAL_GUP_FLAGS,
} from './foll_flags.js';
import { NR_FOLL_PIN_ACQUIRED, NR_FOLL_PIN_RELEASED } from './vmstat.js';
import {
  is_cow_mapping,
  vma_is_anonymous,
  VM_IO,
  VM_PFNMAP,
  VM_WRITE,
  VM_READ,
  VM_MAYREAD,
  VM_SHARED,
  VM_MAYSHARE,
  VM_MAYWRITE,
  type MmStruct,
  type Vma,
  FAULT_FLAG_WRITE,
  FAULT_FLAG_REMOTE,
  FAULT_FLAG_UNSHARE,
  VM_FAULT_ERROR,
  VM_FAULT_OOM,
  VM_FAULT_HWPOISON,
} from './mm_types.js';
import {
  pte_pfn,
  PTE_PFN_SHIFT,
  pte_present,
  pte_write,
  pte_dirty,
  pte_special,
  pte_protnone,
  pte_mkdirty,
  pte_mkyoung,
  pte_index,
  is_zero_pfn,
  _PAGE_PRESENT,
  _PAGE_PROTNONE,
  _PAGE_RW,
  _PAGE_SPECIAL,
} from './pgtable.js';
import { handle_mm_fault } from './memory.js';
import { folioPutRefsDiagnosed, folioUseRefs, folio_mark_accessed, lru_add_drain } from './swap.js';
import { folio_mark_dirty } from './page-writeback.js';
import { is_huge_zero_folio } from './huge_mm.js';
import { __split_huge_pmd } from './huge_memory.js';
import { folioIsolateLru, migrateFolioToPinnable, putback_movable_pages } from './migrate.js';
import type { PageRuns } from './page_runs.js';
import { folio_maybe_dma_pinned } from './dma_pinned.js';

/** The model's `int *locked`: { value: 1 } when the caller holds mmap_lock, { value: 0 } when not. */
export interface Locked {
  value: number;
}

/** TASK_SIZE_MAX on x86-64 with 4-level paging. */
export const TASK_SIZE_MAX = 2 ** 47 - PAGE_SIZE;

// ---------------------------------------------------------------------------------------------
// Pin accounting (include/linux/mm.h, mm/gup.c)

// folio_maybe_dma_pinned() lives in dma_pinned.ts (writeback asks it too); re-exported for GUP's users.
export { folio_maybe_dma_pinned };

/** The folio answer for the page's folio (pageMaybeDmaPinned(), which 6.18 no longer has). */
export function pageMaybeDmaPinned(m: Machine, pfn: number): boolean {
  return folio_maybe_dma_pinned(m, m.mem.page_folio(pfn));
}

/** folio_needs_cow_for_dma(): fork must copy this anon folio (MMF_HAS_PINNED and maybe pinned). */
export function folio_needs_cow_for_dma(m: Machine, vma: Vma, folio: number): boolean {
  return vma.mm.has_pinned && m.protections.forkEarlyCow && folio_maybe_dma_pinned(m, folio);
}

/** is_zero_folio(): only the PTE-level zero page; the huge zero folio is pinned like any folio. */
function is_zero_folio(folio: number): boolean {
  return folio === ZERO_PFN;
}

/**
 * folio_is_longterm_pinnable(): not in a CMA pageblock, not fsdax (ZONE_DEVICE), not ZONE_MOVABLE.
 * The zero page is always pinnable.
 */
export function folio_is_longterm_pinnable(m: Machine, folio: number): boolean {
  // One area lookup answers both is_migrate_cma_page() and zoneOf() (GUP-fast asks for every folio).
  const area = m.alloc.areaOf(folio);
  if (area?.cma) return false;
  if (is_zero_folio(folio)) return true;
  const zone = area?.zone ?? 'DMA32';
  return zone !== 'DEVICE' && zone !== 'MOVABLE';
}

/**
 * try_grab_folio(): the slow path's grab. Returns 0 or -ENOMEM (refcount already <= 0, WARN).
 * FOLL_GET adds refs; FOLL_PIN adds refs and _pincount on large folios, refs * 1024 on small ones,
 * and counts NR_FOLL_PIN_ACQUIRED; the zero page is never pinned.
 */
export function try_grab_folio(m: Machine, folio: number, refs: number, flags: number): number {
  const mem = m.mem;
  if (m.misuse.tainted) noteGrabAfterMisuse(m, folio, 'try_grab_folio');
  if (mem.refcount[folio]! <= 0) {
    m.warns.warn('try_grab_folio', 'folio_ref_count(folio) <= 0');
    return m.refuse(-ENOMEM, 'try_grab_folio', 'folio refcount is zero or negative (freed or overflowed)');
  }
  if (flags & FOLL_GET) {
    mem.refcount[folio] = mem.refcount[folio]! + refs;
  } else if (flags & FOLL_PIN) {
    if (is_zero_folio(folio)) return 0;
    if (mem.folio_has_pincount(folio)) {
      mem.refcount[folio] = mem.refcount[folio]! + refs;
      mem.setPincount(folio, mem.folioPincount(folio) + refs);
    } else {
      mem.refcount[folio] = mem.refcount[folio]! + refs * GUP_PIN_COUNTING_BIAS;
    }
    m.vmstat.mod(NR_FOLL_PIN_ACQUIRED, refs);
  }
  return 0;
}

/**
 * GUP met a folio that earlier misuse broke: say so (the kernel WARNs only where try_grab_folio() or
 * try_get_folio() has its WARN, and says nothing when it takes a reference on freed memory).
 */
function noteGrabAfterMisuse(m: Machine, folio: number, fn: string): void {
  const rc = m.mem.refcount[folio]!;
  const freed = m.misuse.freedInUse.get(folio);
  if (freed) {
    const when = freed.step !== undefined ? ` at step ${freed.step}` : '';
    m.misuse.report(
      `GUP reached folio 0x${folio.toString(16)}, which the kernel freed while still mapped${when} (use-after-free)`,
      rc > 0
        ? `${fn}() takes a reference on freed memory (refcount ${rc}) and GUP hands the page out`
        : `${fn}() finds refcount ${rc}: it WARNs and GUP fails (-ENOMEM from try_grab_folio())`,
    );
  } else if (rc <= 0 && m.misuse.touches(folio, 1)) {
    m.misuse.report(
      `GUP reached folio 0x${folio.toString(16)}, whose refcount ${rc} an earlier misuse drove to or below zero`,
      `${fn}() WARNs (folio_ref_count(folio) ${fn === 'try_get_folio' ? '< 0' : '<= 0'}) and refuses it: ` +
        'the page can never be pinned again, and GUP fails with -ENOMEM',
    );
  }
}

/** try_get_folio(): fails on a refcount that is zero (being freed) or negative (WARN). */
function try_get_folio(m: Machine, folio: number, refs: number): boolean {
  const rc = m.mem.refcount[folio]!;
  if (rc < 0) {
    m.warns.warn('try_get_folio', 'folio_ref_count(folio) < 0');
    return false;
  }
  if (rc === 0) return false;
  m.mem.refcount[folio] = rc + refs;
  return true;
}

/**
 * try_grab_folio_fast(): GUP-fast's grab. Returns false when the fast path must stop (the slow path
 * then retries). FOLL_LONGTERM on an unpinnable folio undoes the reference and stops.
 */
function try_grab_folio_fast(m: Machine, folio: number, refs: number, flags: number): boolean {
  if (!(flags & (FOLL_GET | FOLL_PIN))) {
    m.warns.warn('try_grab_folio_fast', '(flags & (FOLL_GET | FOLL_PIN)) == 0');
    return false;
  }
  if (m.misuse.freedInUse.size && m.misuse.freedInUse.has(folio) && m.mem.refcount[folio]! > 0)
    noteGrabAfterMisuse(m, folio, 'try_get_folio');
  if (flags & FOLL_GET) return try_get_folio(m, folio, refs);
  if (is_zero_folio(folio)) return true;
  if (!try_get_folio(m, folio, refs)) return false;
  const mem = m.mem;
  if (flags & FOLL_LONGTERM && !folio_is_longterm_pinnable(m, folio)) {
    mem.refcount[folio] = mem.refcount[folio]! - refs;
    return false;
  }
  if (mem.folio_has_pincount(folio)) mem.setPincount(folio, mem.folioPincount(folio) + refs);
  else mem.refcount[folio] = mem.refcount[folio]! + refs * (GUP_PIN_COUNTING_BIAS - 1);
  m.vmstat.mod(NR_FOLL_PIN_ACQUIRED, refs);
  return true;
}

/**
 * gup_put_folio(): release refs grabbed with `flags`, with the kernel's arithmetic and no checks.
 * FOLL_PIN: the zero page was never pinned (return); else NR_FOLL_PIN_RELEASED += refs, and refs
 * come off _pincount (large folios) or refs * GUP_PIN_COUNTING_BIAS off _refcount (small folios).
 * Then folio_put_refs(). Releasing what the folio does not hold (a double unpin, an unpin of FOLL_GET
 * pages, put_page() on a pinned page) is applied all the same and recorded in m.misuse with what it did.
 */
export function gup_put_folio(m: Machine, folio: number, refs: number, flags: number): void {
  if (flags & FOLL_PIN) {
    if (is_zero_folio(folio)) return;
    m.vmstat.mod(NR_FOLL_PIN_RELEASED, refs);
    if (unpinLeavesFolioInUse(m, folio, refs)) return;
  }
  gupPutFolioChecked(m, folio, refs, flags);
}

/**
 * The common unpin, done at once: the folio holds those pins, keeps references after them (so it is not
 * freed) and was never freed while in use. Then the drop is the kernel's arithmetic and nothing more
 * (gupPutFolioChecked() would find nothing to say); returns false, having changed nothing, otherwise.
 */
function unpinLeavesFolioInUse(m: Machine, folio: number, refs: number): boolean {
  const mem = m.mem;
  const misuse = m.misuse.freedInUse;
  if (misuse.size && misuse.has(folio)) return false;
  // Unsigned, as atomic_sub_and_test() sees the count.
  const rc = mem.refcount[folio]! >>> 0;
  if (mem.folio_has_pincount(folio)) {
    const pc = mem.folioPincount(folio);
    if (pc < refs || rc <= refs) return false;
    mem.setPincount(folio, pc - refs);
    mem.refcount[folio] = rc - refs;
    return true;
  }
  const put = refs * GUP_PIN_COUNTING_BIAS;
  if (rc <= put || rc < put + folioUseRefs(m, folio)) return false;
  mem.refcount[folio] = rc - put;
  return true;
}

/**
 * gup_put_folio() with its checks: a FOLL_PIN release not covered by unpinLeavesFolioInUse() (its pin
 * already counted released), or a FOLL_GET one. The arithmetic is the kernel's; what it breaks is
 * recorded in m.misuse.
 */
function gupPutFolioChecked(m: Machine, folio: number, refs: number, flags: number): void {
  const mem = m.mem;
  const rc = mem.refcount[folio]!;
  let what: string | undefined;
  let pincount = '';
  let put = refs;
  if (flags & FOLL_PIN) {
    if (mem.folio_has_pincount(folio)) {
      const pc = mem.folioPincount(folio);
      mem.setPincount(folio, pc - refs);
      if (pc < refs) {
        what = 'unpin of more pages of a large folio than it holds pins (_pincount goes below zero)';
        pincount = `_pincount ${pc} -> ${pc - refs}, `;
      }
    } else {
      put = refs * GUP_PIN_COUNTING_BIAS;
      // Unsigned, as the atomic is: a count wrapped negative by pins still holds them.
      if (rc >>> 0 < put + folioUseRefs(m, folio))
        what =
          `unpin of a small folio that does not hold that many pins (a pin is ${GUP_PIN_COUNTING_BIAS} references): ` +
          'fewer references remain than its mappings and page cache hold';
    }
  } else if (rc >>> 0 < refs + folioUseRefs(m, folio) + mem.folioPincount(folio)) {
    // A large folio's pins each hold one reference; a small folio's pins cannot be told from plain references.
    what = "put_page() drops a reference that the folio's mappings, page cache or pins hold";
  }
  if (what) m.misuse.taint(folio, mem.folio_order(folio));
  const use = what ? folioUseRefs(m, folio) : 0;
  const c = folioPutRefsDiagnosed(m, folio, put);
  if (!what && !c) return;
  const arith =
    `folio 0x${folio.toString(16)}: ` +
    (flags & FOLL_PIN ? `nr_foll_pin_released +${refs}, ` : '') +
    `${pincount}_refcount ${rc} -> ${(rc - put) | 0}${what ? ` (mappings and page cache hold ${use})` : ''}`;
  // Freeing a page still in use is the event that matters most, whatever led to it.
  const headline = c && m.misuse.freedInUse.has(folio) ? c.what : (what ?? c!.what);
  // put_page() -> folio_put_testzero() has a VM_BUG_ON_PAGE on a zero count, in debug builds only.
  const debugVm =
    !(flags & FOLL_PIN) && rc === 0
      ? 'A CONFIG_DEBUG_VM kernel would stop here instead: VM_BUG_ON_PAGE(page_ref_count(page) == 0) in ' +
        'put_page_testzero()'
      : '';
  const effect = [c?.effect ?? '', debugVm].filter(Boolean).join('. ');
  m.misuse.report(headline, c?.detail ? `${arith}, ${c.detail}` : arith, effect);
}

/** folio_add_pin(): one more pin on an already pinned folio. Does not count NR_FOLL_PIN_ACQUIRED. */
export function folio_add_pin(m: Machine, folio: number): void {
  const mem = m.mem;
  if (is_zero_folio(folio)) return;
  if (mem.folio_has_pincount(folio)) {
    if (mem.folioPincount(folio) < 1) m.warns.warn('folio_add_pin', 'atomic_read(&folio->_pincount) < 1');
    mem.refcount[folio] = mem.refcount[folio]! + 1;
    mem.setPincount(folio, mem.folioPincount(folio) + 1);
  } else {
    if (mem.refcount[folio]! < GUP_PIN_COUNTING_BIAS)
      m.warns.warn('folio_add_pin', 'folio_ref_count(folio) < GUP_PIN_COUNTING_BIAS');
    mem.refcount[folio] = mem.refcount[folio]! + GUP_PIN_COUNTING_BIAS;
  }
}

/** folio_add_pins(): `pins` more pins through try_grab_folio (counted). */
export function folio_add_pins(m: Machine, folio: number, pins: number): number {
  if (!folio_maybe_dma_pinned(m, folio)) m.warns.warn('folio_add_pins', '!folio_maybe_dma_pinned(folio)');
  return try_grab_folio(m, folio, pins, FOLL_PIN);
}

// ---------------------------------------------------------------------------------------------
// Release API

/** IS_ERR_VALUE() for an unsigned count that was really a negative errno. */
function IS_ERR_VALUE(n: number): boolean {
  return n < 0 && n >= -MAX_ERRNO;
}

/** unpin_user_page(). */
export function unpin_user_page(m: Machine, page: number): void {
  gup_put_folio(m, m.mem.page_folio(page), 1, FOLL_PIN);
}

/** unpin_folio(). */
export function unpin_folio(m: Machine, folio: number): void {
  gup_put_folio(m, folio, 1, FOLL_PIN);
}

/** unpin_user_folio(): npages units of one folio. */
export function unpin_user_folio(m: Machine, folio: number, npages: number): void {
  gup_put_folio(m, folio, npages, FOLL_PIN);
}

/**
 * unpin_user_folio(page_folio(pages[i]), 1) for every entry, in order: io_release_ubuf()'s loop over a
 * registered buffer's bvecs. Runs of small anon folios that keep references go at once
 * (unpinSmallAnonRun()); any other entry is gup_put_folio() with its checks. NR_FOLL_PIN_RELEASED counts
 * each run's pins before the next checked release (so a misuse record sees them counted).
 */
export function unpinUserFolioEach(m: Machine, pages: Int32Array): void {
  const mem = m.mem;
  let i = 0;
  while (i < pages.length) {
    // With a folio freed in use on record, every entry takes the checked way.
    let run = i;
    if (m.misuse.freedInUse.size === 0) {
      run = unpinSmallAnonRun(mem, pages, i);
      if (run === i && mem.largeFolioPincount) run = unpinPinnedHeadRun(mem, pages, i);
    }
    if (run > i) {
      m.vmstat.mod(NR_FOLL_PIN_RELEASED, run - i);
      i = run;
      continue;
    }
    gup_put_folio(m, mem.page_folio(pages[i]!), 1, FOLL_PIN);
    i++;
  }
}

/**
 * From pages[i], the entries that are large folio heads (a coalesced buffer's bvecs) holding a pin and
 * references beyond it: each loses one from _pincount and one from _refcount, nothing else to do.
 * Returns the index of the first entry that is not one (its own function, as unpinSmallAnonRun()).
 */
function unpinPinnedHeadRun(mem: Machine['mem'], pages: Int32Array, i: number): number {
  const flags = mem.flags;
  const refcount = mem.refcount;
  const head = PG_head; // in a local: V8 reloads and checks a module binding on every use
  for (; i < pages.length; i++) {
    const p = pages[i]!;
    if (!(flags[p]! & head)) return i;
    const pc = refcount[p + 1]!; // _pincount
    const rc = refcount[p]! >>> 0;
    if (pc < 1 || rc <= 1) return i;
    refcount[p + 1] = pc - 1;
    refcount[p] = rc - 1;
  }
  return i;
}

/**
 * From pages[i], the entries that are small anon folios keeping references after the unpin (refcount
 * above the bias and the folio's mappings): each loses GUP_PIN_COUNTING_BIAS, nothing else to do.
 * Returns the index of the first entry that is not one. (Its own function: a long loop that V8 compiles
 * on stack replacement must not be followed by code it has not seen run, or each call deoptimises.)
 */
function unpinSmallAnonRun(mem: Machine['mem'], pages: Int32Array, i: number): number {
  const flags = mem.flags;
  const refcount = mem.refcount;
  const mapcount = mem.mapcount;
  // The module constants in locals (V8 reloads and checks a module binding on every use).
  const kind = PG_head | PG_tail | PG_anon;
  const anon = PG_anon;
  const zero = ZERO_PFN;
  const bias = GUP_PIN_COUNTING_BIAS;
  for (; i < pages.length; i++) {
    const p = pages[i]!;
    if ((flags[p]! & kind) !== anon || p === zero) return i;
    const rc = refcount[p]! >>> 0;
    if (rc <= bias || rc < bias + mapcount[p]!) return i;
    refcount[p] = rc - bias;
  }
  return i;
}

/**
 * gup_folio_next(): the end of the run of consecutive entries from i that belong to `folio` (the
 * folio of pages[i]). Returns the index after the run (no tuple: this is on the per-page unpin path).
 */
function folioRunEnd(m: Machine, folio: number, pages: Int32Array, i: number, n: number): number {
  let j = i + 1;
  if (m.mem.folio_test_large(folio)) {
    const end = folio + m.mem.folio_nr_pages(folio);
    while (j < n && pages[j]! >= folio && pages[j]! < end) j++;
  } else {
    while (j < n && pages[j] === folio) j++;
  }
  return j;
}

/**
 * unpin_user_pages(): release pins on pages[0..npages), batched per folio run. NULL entries are
 * skipped. An errno passed as the count is a caller bug: WARN and do nothing.
 */
export function unpin_user_pages(m: Machine, pages: Int32Array, npages: number): void {
  if (IS_ERR_VALUE(npages)) {
    m.warns.warn('unpin_user_pages', 'IS_ERR_VALUE(npages)');
    return;
  }
  for (let i = 0; i < npages;) {
    if (pages[i]! < 0) {
      i++;
      continue;
    }
    const folio = m.mem.page_folio(pages[i]!);
    const j = folioRunEnd(m, folio, pages, i, npages);
    gup_put_folio(m, folio, j - i, FOLL_PIN);
    i = j;
  }
}

/**
 * unpin_user_pages_dirty_lock(): as unpin_user_pages, marking each folio dirty first (once per run,
 * only if clean) when make_dirty.
 */
export function unpin_user_pages_dirty_lock(m: Machine, pages: Int32Array, npages: number, make_dirty: boolean): void {
  if (!make_dirty) {
    unpin_user_pages(m, pages, npages);
    return;
  }
  if (IS_ERR_VALUE(npages)) {
    m.warns.warn('unpin_user_pages_dirty_lock', 'IS_ERR_VALUE(npages)');
    return;
  }
  for (let i = 0; i < npages;) {
    if (pages[i]! < 0) {
      // gup_folio_next() takes page_folio(NULL): the kernel oopses; gupsim says so and skips the entry.
      m.misuse.report(
        `unpin_user_pages_dirty_lock() with a NULL entry at pages[${i}]`,
        'the kernel dereferences NULL in page_folio() (an oops: "BUG: kernel NULL pointer dereference"); ' +
          'unlike unpin_user_pages(), this path does not skip NULL entries',
      );
      i++;
      continue;
    }
    const folio = m.mem.page_folio(pages[i]!);
    const j = folioRunEnd(m, folio, pages, i, npages);
    // No zero-page exception here: folio_mark_dirty() on the zero folio (no mapping) takes
    // noop_dirty_folio() and sets PG_dirty; only the unpin itself skips it (gup_put_folio()).
    if (!m.mem.folio_test_dirty(folio)) unpinMarkDirty(m, folio);
    gup_put_folio(m, folio, j - i, FOLL_PIN);
    i = j;
  }
}

/**
 * The dirtying of the unpin_*_dirty_lock() family: folio_lock(); folio_mark_dirty(); folio_unlock().
 * A stale release (misuse) can reach a page that is free by now: the kernel sets PG_dirty on the free
 * page (its next owner inherits it); gupsim leaves it alone, since a free block's head flags are its
 * free-list marker in the model.
 */
function unpinMarkDirty(m: Machine, folio: number): void {
  if (!m.mem.testFlag(folio, PG_buddy)) folio_mark_dirty(m, folio);
}

/** unpin_user_page_range_dirty_lock(): a physically contiguous range starting at `page`. */
export function unpin_user_page_range_dirty_lock(m: Machine, page: number, npages: number, make_dirty: boolean): void {
  for (let i = 0; i < npages;) {
    const pfn = page + i;
    const folio = m.mem.page_folio(pfn);
    const run = Math.min(npages - i, m.mem.folio_nr_pages(folio) - (pfn - folio));
    if (make_dirty && !m.mem.folio_test_dirty(folio)) unpinMarkDirty(m, folio);
    gup_put_folio(m, folio, run, FOLL_PIN);
    i += run;
  }
}

/** unpin_folios(): runs of identical folio entries; NULL skipped; errno count WARNs. */
export function unpin_folios(m: Machine, folios: Int32Array, nfolios: number): void {
  if (IS_ERR_VALUE(nfolios)) {
    m.warns.warn('unpin_folios', 'IS_ERR_VALUE(nfolios)');
    return;
  }
  for (let i = 0; i < nfolios;) {
    if (folios[i]! < 0) {
      i++;
      continue;
    }
    let j = i + 1;
    while (j < nfolios && folios[j] === folios[i]) j++;
    gup_put_folio(m, folios[i]!, j - i, FOLL_PIN);
    i = j;
  }
}

/** put_page(): drop one FOLL_GET reference. */
export function put_page(m: Machine, page: number): void {
  gup_put_folio(m, m.mem.page_folio(page), 1, FOLL_GET);
}

// ---------------------------------------------------------------------------------------------
// Argument validation

/**
 * is_valid_gup_args(): returns the flags to use, or undefined after a WARN. Rejects internal flags,
 * *locked != 1, FOLL_PIN with FOLL_GET, FOLL_LONGTERM without FOLL_PIN, GET/PIN without pages[],
 * and FOLL_LONGTERM with FOLL_PCI_P2PDMA.
 */
export function is_valid_gup_args(
  m: Machine,
  pages: Int32Array | null,
  locked: Locked | undefined,
  gup_flags: number,
  to_set: number,
): number | undefined {
  const bad = (cond: string, rule: string): undefined => {
    m.warns.warn('is_valid_gup_args', cond);
    m.refuse(-EINVAL, 'is_valid_gup_args', rule);
    return undefined;
  };
  if (gup_flags & INTERNAL_GUP_FLAGS)
    return bad('gup_flags & INTERNAL_GUP_FLAGS', 'caller passed an internal FOLL_ flag (FOLL_PIN, FOLL_TOUCH, ...)');
  gup_flags |= to_set;
  if (locked) {
    if (locked.value !== 1) return bad('*locked != 1', 'locked must point to 1 (mmap_lock held)');
    gup_flags |= FOLL_UNLOCKABLE;
  }
  if ((gup_flags & (FOLL_PIN | FOLL_GET)) === (FOLL_PIN | FOLL_GET))
    return bad(
      '(gup_flags & (FOLL_PIN | FOLL_GET)) == (FOLL_PIN | FOLL_GET)',
      'FOLL_PIN and FOLL_GET are mutually exclusive',
    );
  if (gup_flags & FOLL_LONGTERM && !(gup_flags & FOLL_PIN))
    return bad(
      '(gup_flags & FOLL_LONGTERM) && !(gup_flags & FOLL_PIN)',
      'FOLL_LONGTERM requires FOLL_PIN (use pin_user_pages*)',
    );
  if (gup_flags & (FOLL_GET | FOLL_PIN) && !pages)
    return bad('!pages && (gup_flags & (FOLL_GET | FOLL_PIN))', 'FOLL_GET/FOLL_PIN need a pages array');
  if (gup_flags & FOLL_LONGTERM && gup_flags & FOLL_PCI_P2PDMA)
    return bad(
      '(gup_flags & FOLL_LONGTERM) && (gup_flags & FOLL_PCI_P2PDMA)',
      'FOLL_LONGTERM cannot be combined with FOLL_PCI_P2PDMA',
    );
  return gup_flags >>> 0;
}

// ---------------------------------------------------------------------------------------------
// Slow path

/** check_vma_flags(): 0 or the errno, with the rule recorded. */
export function check_vma_flags(m: Machine, vma: Vma, gup_flags: number): number {
  const vm = vma.flags;
  const write = (gup_flags & FOLL_WRITE) !== 0;
  const anon = vma_is_anonymous(vma);
  const fn = 'check_vma_flags';
  if (vm & (VM_IO | VM_PFNMAP)) return m.refuse(-EFAULT, fn, 'VM_IO or VM_PFNMAP mapping');
  if (gup_flags & FOLL_ANON && !anon) return m.refuse(-EFAULT, fn, 'FOLL_ANON on a mapping that is not anonymous');
  if (gup_flags & FOLL_LONGTERM && vma.kind === 'fsdax')
    return m.refuse(-EOPNOTSUPP, fn, 'FOLL_LONGTERM on an fsdax mapping (vma_is_fsdax)');
  if (gup_flags & FOLL_SPLIT_PMD && vma.kind === 'hugetlb')
    return m.refuse(-EOPNOTSUPP, fn, 'FOLL_SPLIT_PMD on a hugetlb mapping');
  if (write) {
    if (m.profile.longtermWriteFileRefused && !anon && !writable_file_mapping_allowed(vma, gup_flags)) {
      return m.refuse(
        -EFAULT,
        fn,
        'writable_file_mapping_allowed: FOLL_LONGTERM write pin of a shared file mapping that needs dirty tracking',
      );
    }
    if (!(vm & VM_WRITE)) {
      if (!(gup_flags & FOLL_FORCE)) return m.refuse(-EFAULT, fn, 'FOLL_WRITE on a mapping without VM_WRITE');
      if (m.profile.hugetlbForceWriteRefused && vma.kind === 'hugetlb')
        return m.refuse(-EFAULT, fn, 'hugetlb does not support FOLL_FORCE|FOLL_WRITE');
      if (!is_cow_mapping(vm))
        return m.refuse(-EFAULT, fn, 'FOLL_FORCE write to a non-COW (shared) mapping without VM_WRITE');
    }
  } else if (!(vm & VM_READ)) {
    if (!(gup_flags & FOLL_FORCE)) return m.refuse(-EFAULT, fn, 'read of a mapping without VM_READ');
    if (!(vm & VM_MAYREAD)) return m.refuse(-EFAULT, fn, 'FOLL_FORCE read of a mapping without VM_MAYREAD');
  }
  return 0;
}

/** vma_needs_dirty_tracking(): shared, writable, and the file system tracks dirtying (not shmem). */
function vma_needs_dirty_tracking(vma: Vma): boolean {
  return (vma.flags & (VM_SHARED | VM_WRITE)) === (VM_SHARED | VM_WRITE) && !!vma.file?.needsDirtyTracking;
}

/** writable_file_mapping_allowed(): only PIN|LONGTERM on a dirty-tracked mapping is refused. */
function writable_file_mapping_allowed(vma: Vma, gup_flags: number): boolean {
  if ((gup_flags & (FOLL_PIN | FOLL_LONGTERM)) !== (FOLL_PIN | FOLL_LONGTERM)) return true;
  return !vma_needs_dirty_tracking(vma);
}

/**
 * gup_must_unshare(): a R/O pin (FOLL_PIN without FOLL_WRITE) of a non-writable entry needs an unshare
 * fault when the page is a shared anon page, or with FOLL_LONGTERM a non-anon page in a COW mapping
 * (vma null: GUP-fast, which always bails out then).
 */
export function gup_must_unshare(m: Machine, vma: Vma | null, flags: number, page: number): boolean {
  if ((flags & (FOLL_WRITE | FOLL_PIN)) !== FOLL_PIN) return false;
  const folio = m.mem.page_folio(page);
  if (!m.mem.folio_test_anon(folio)) {
    // 6.1 never unshares a page that is not anon (profile.longtermRoUnshareFileCow).
    if (!(flags & FOLL_LONGTERM) || !m.profile.longtermRoUnshareFileCow) return false;
    if (!vma) return true;
    return is_cow_mapping(vma.flags);
  }
  // hugetlb and PMD-mapped THP keep the flag on the head page (the caller passes the head).
  return !m.mem.PageAnonExclusive(m.mem.folio_test_hugetlb(folio) ? folio : page);
}

/** can_follow_write_common(): FOLL_FORCE may write through a R/O entry of a private, R/O mapping
 *  only to an exclusive anon page (COW already broken). */
function can_follow_write_common(m: Machine, page: number, vma: Vma, flags: number): boolean {
  if (!(flags & FOLL_FORCE)) return false;
  if (vma.flags & (VM_MAYSHARE | VM_SHARED)) return false;
  if (!(vma.flags & VM_MAYWRITE)) return false;
  if (vma.flags & VM_WRITE) return false;
  return page >= 0 && m.mem.folio_test_anon(m.mem.page_folio(page)) && m.mem.PageAnonExclusive(page);
}

const NO_PAGE = -0x7fff_0000;

interface FollowCtx {
  page_mask: number;
}

/**
 * follow_page_mask(): the page mapped at addr with a reference grabbed, NO_PAGE when a fault is
 * needed, -EMLINK when an unshare fault is needed, -EEXIST for a PFN without struct page, or an
 * errno (-EFAULT for FOLL_DUMP holes and zero pages).
 */
function follow_page_mask(m: Machine, vma: Vma, addr: number, flags: number, ctx: FollowCtx): number {
  ctx.page_mask = 0;
  const pt = vma.mm.pt;
  const pud = pt.pudLeaf(addr);
  if (pud) return followHugeLeaf(m, vma, addr, flags, ctx, pud, PUD_SIZE);
  const slot = pt.pmdSlot(addr);
  if (slot === undefined) return no_page_table(vma, flags);
  if (typeof slot === 'number') {
    if (flags & FOLL_SPLIT_PMD && !is_huge_zero_folio(m, pte_pfn(slot)) && vma.kind !== 'hugetlb') {
      __split_huge_pmd(m, vma, addr - (addr % PMD_SIZE));
      if (!pt.pte_alloc(addr)) return -ENOMEM;
      return follow_page_pte(m, vma, addr, flags);
    }
    return followHugeLeaf(m, vma, addr, flags, ctx, slot, PMD_SIZE);
  }
  return follow_page_pte(m, vma, addr, flags);
}

/** no_page_table(): FOLL_DUMP wants holes of anon memory reported, not faulted in. */
function no_page_table(vma: Vma, flags: number): number {
  if (!(flags & FOLL_DUMP)) return NO_PAGE;
  if (vma.kind === 'anon') return -EFAULT;
  if (vma.kind === 'hugetlb' && vma.file && vma.file.pages.every((p) => p < 0)) return -EFAULT;
  return NO_PAGE;
}

/** follow_huge_pmd() / follow_huge_pud(): grab one unit; the caller grabs the rest of the range. */
function followHugeLeaf(
  m: Machine,
  vma: Vma,
  addr: number,
  flags: number,
  ctx: FollowCtx,
  e: number,
  size: number,
): number {
  const head = pte_pfn(e);
  if (flags & FOLL_WRITE && !pte_write(e) && !can_follow_write_common(m, head, vma, flags)) return NO_PAGE;
  if (flags & FOLL_DUMP && is_huge_zero_folio(m, head)) return -EFAULT;
  if (!pte_write(e) && gup_must_unshare(m, vma, flags, head)) return -EMLINK;
  const r = try_grab_folio(m, head, 1, flags);
  if (r) return r;
  if (flags & FOLL_TOUCH) {
    let ne = pte_mkyoung(e);
    if (flags & FOLL_WRITE) ne = pte_mkdirty(ne);
    if (size === PMD_SIZE) vma.mm.pt.setPmdLeaf(addr, ne);
  }
  ctx.page_mask = size / PAGE_SIZE - 1;
  return head + Math.floor((addr % size) / PAGE_SIZE);
}

/** follow_page_pte(). */
function follow_page_pte(m: Machine, vma: Vma, addr: number, flags: number): number {
  const table = vma.mm.pt.pteTable(addr);
  if (!table) return no_page_table(vma, flags);
  const e = table[pte_index(addr)]!;
  if (!pte_present(e)) return no_page_table(vma, flags);
  // vm_normal_page(): special entries have no struct page to hand out.
  const page = pte_special(e) ? -1 : pte_pfn(e);
  if (flags & FOLL_WRITE && !pte_write(e) && !can_follow_write_common(m, page, vma, flags)) return NO_PAGE;
  let pfn = page;
  if (page < 0) {
    if (flags & FOLL_DUMP) return -EFAULT;
    if (!is_zero_pfn(pte_pfn(e))) return -EEXIST;
    pfn = ZERO_PFN;
  }
  const folio = m.mem.page_folio(pfn);
  if (!pte_write(e) && gup_must_unshare(m, vma, flags, pfn)) return -EMLINK;
  const r = try_grab_folio(m, folio, 1, flags);
  if (r) return r;
  if (flags & FOLL_TOUCH) {
    if (flags & FOLL_WRITE && !pte_dirty(e) && !m.mem.folio_test_dirty(folio) && !is_zero_folio(folio))
      folio_mark_dirty(m, folio);
    folio_mark_accessed(m, folio);
  }
  return pfn;
}

/** faultin_page(): 0, or the errno a failed fault maps to (vm_fault_to_errno). */
function faultin_page(m: Machine, vma: Vma, addr: number, flags: number, unshare: boolean): number {
  if (flags & FOLL_NOFAULT)
    return m.refuse(-EFAULT, 'faultin_page', 'FOLL_NOFAULT and the page is not present (or needs a fault)');
  let ff = 0;
  if (flags & FOLL_WRITE) ff |= FAULT_FLAG_WRITE;
  if (flags & FOLL_REMOTE) ff |= FAULT_FLAG_REMOTE;
  if (unshare) ff |= FAULT_FLAG_UNSHARE;
  const ret = handle_mm_fault(m, vma, addr, ff);
  if (ret & VM_FAULT_ERROR) {
    if (ret & VM_FAULT_OOM) return m.refuse(-ENOMEM, 'faultin_page', 'page fault ran out of memory (VM_FAULT_OOM)');
    if (ret & VM_FAULT_HWPOISON) return flags & FOLL_HWPOISON ? -EHWPOISON : -EFAULT;
    return m.refuse(
      -EFAULT,
      'faultin_page',
      'page fault failed with SIGBUS/SIGSEGV (e.g. beyond EOF, hugetlb pool empty)',
    );
  }
  return 0;
}

/**
 * Where a __get_user_pages() walk is. The walk runs one step at a time (getUserPagesStep()): a page
 * followed and grabbed under its page-table lock, a lookup that needs a fault, or the fault itself, as
 * the kernel's loop does them with mmap_lock held for read. __get_user_pages() runs the steps to the end;
 * the race explorer (tools/explore) runs one per atomic point.
 */
export interface GupWalk {
  readonly cur: Process | undefined;
  readonly mm: MmStruct;
  readonly flags: number;
  readonly pages: Int32Array | null;
  readonly pagesOff: number;
  /** The next address and the pages left. */
  start: number;
  nrPages: number;
  /** Pages done, and the error that ended the walk (0: none). */
  i: number;
  ret: number;
  vma: Vma | undefined;
  /** Faults taken for the current page (a fault that does not resolve is a gupsim bug). */
  faults: number;
  /** The fault the last follow asked for, taken by the next step (GUP_NO_FAULT: none). */
  fault: number;
  done: boolean;
  readonly ctx: FollowCtx;
}

/** GupWalk.fault: no fault due, a fault, an unshare fault (FAULT_FLAG_UNSHARE). */
export const GUP_NO_FAULT = 0;
export const GUP_FAULT = 1;
export const GUP_UNSHARE = 2;

/** What one step of a walk did. */
export type GupStep = 'follow' | 'nopage' | 'fault' | 'error' | 'done';

export function gupWalk(
  cur: Process | undefined,
  mm: MmStruct,
  start: number,
  nrPages: number,
  flags: number,
  pages: Int32Array | null,
  pagesOff: number,
): GupWalk {
  return {
    cur,
    mm,
    flags,
    pages,
    pagesOff,
    start,
    nrPages,
    i: 0,
    ret: 0,
    vma: undefined,
    faults: 0,
    fault: GUP_NO_FAULT,
    done: nrPages === 0,
    ctx: { page_mask: 0 },
  };
}

/** The walk's result: pages done if any, else the error. */
export function gupWalkResult(w: GupWalk): number {
  return w.i ? w.i : w.ret;
}

function gupWalkFail(w: GupWalk, ret: number): GupStep {
  w.ret = ret;
  w.done = true;
  return 'error';
}

/**
 * One step of __get_user_pages(): the fault a follow asked for, else the VMA checks (on a new VMA) and
 * follow_page_mask() of the next page, which grabs it (and the rest of a huge page) or asks for a fault.
 */
export function getUserPagesStep(m: Machine, w: GupWalk): GupStep {
  if (w.done) return 'done';
  const flags = w.flags;
  if (w.fault !== GUP_NO_FAULT) {
    const ret = faultin_page(m, w.vma!, w.start, flags, w.fault === GUP_UNSHARE);
    w.fault = GUP_NO_FAULT;
    return ret === 0 ? 'fault' : gupWalkFail(w, ret);
  }
  let vma = w.vma;
  if (!vma || w.start >= vma.end) {
    vma = w.vma = w.mm.vma_lookup(w.start);
    if (flags & FOLL_MADV_POPULATE) {
      if (!vma) return gupWalkFail(w, m.refuse(-ENOMEM, '__get_user_pages', 'MADV_POPULATE: no VMA at the address'));
      if (check_vma_flags(m, vma, flags))
        return gupWalkFail(w, m.refuse(-EINVAL, '__get_user_pages', `MADV_POPULATE: ${m.why?.rule}`));
    } else {
      if (!vma)
        return gupWalkFail(w, m.refuse(-EFAULT, 'gup_vma_lookup', `no VMA covers address 0x${w.start.toString(16)}`));
      const ret = check_vma_flags(m, vma, flags);
      if (ret) return gupWalkFail(w, ret);
    }
  }
  if (w.cur?.fatalSignalPending) return gupWalkFail(w, m.refuse(-EINTR, '__get_user_pages', 'fatal signal pending'));
  const page = follow_page_mask(m, vma, w.start, flags, w.ctx);
  if (page === NO_PAGE || page === -EMLINK) {
    if (++w.faults > 4) throw new Error(`gupsim bug: fault at 0x${w.start.toString(16)} did not resolve`);
    w.fault = page === -EMLINK ? GUP_UNSHARE : GUP_FAULT;
    return 'nopage';
  }
  if (page === -EEXIST && w.pages)
    return gupWalkFail(w, m.refuse(-EEXIST, 'follow_page_pte', 'PFN mapping without struct page'));
  if (page < 0 && page !== -EEXIST) {
    m.why ??= { fn: 'follow_page_mask', rule: 'lookup failed', errno: page };
    return gupWalkFail(w, page);
  }
  let page_increm = 1 + (~Math.floor(w.start / PAGE_SIZE) & w.ctx.page_mask);
  if (page_increm > w.nrPages) page_increm = w.nrPages;
  if (w.pages && page >= 0) {
    if (page_increm > 1) {
      const folio = m.mem.page_folio(page);
      if (try_grab_folio(m, folio, page_increm - 1, flags)) {
        gup_put_folio(m, folio, 1, flags);
        w.ret = m.refuse(-EFAULT, '__get_user_pages', 'could not grab the rest of a huge page');
        w.done = true;
        return 'error';
      }
    }
    for (let j = 0; j < page_increm; j++) w.pages[w.pagesOff + w.i + j] = page + j;
  }
  w.i += page_increm;
  w.start += page_increm * PAGE_SIZE;
  w.nrPages -= page_increm;
  w.faults = 0;
  if (!w.nrPages) w.done = true;
  return 'follow';
}

/**
 * __get_user_pages(): walk [start, start + nr_pages) with the mmap lock held. Returns pages done if
 * any, else the error (0 is possible only when a fault asked to retry, which the model never does).
 */
function __get_user_pages(
  m: Machine,
  cur: Process | undefined,
  mm: MmStruct,
  start: number,
  nr_pages: number,
  gup_flags: number,
  pages: Int32Array | null,
  pagesOff: number,
): number {
  const w = gupWalk(cur, mm, start, nr_pages, gup_flags, pages, pagesOff);
  while (!w.done) getUserPagesStep(m, w);
  return gupWalkResult(w);
}

/** __get_user_pages_locked()'s prologue: MMF_HAS_PINNED for FOLL_PIN, FOLL_GET when pages[] is given without it. */
export function gupLockedFlags(mm: MmStruct, pages: Int32Array | null, flags: number): number {
  if (flags & FOLL_PIN) mm.has_pinned = true;
  return pages && !(flags & FOLL_PIN) ? flags | FOLL_GET : flags;
}

/** __get_user_pages_locked()'s epilogue: "nothing done" WARNs and is -EFAULT (unless FOLL_NOWAIT). */
export function gupLockedDone(m: Machine, done: number, flags: number): number {
  if (done === 0 && !(flags & FOLL_NOWAIT)) {
    m.warns.warn('__get_user_pages_locked', 'pages_done == 0 && !(flags & FOLL_NOWAIT)');
    return m.refuse(-EFAULT, '__get_user_pages_locked', 'nothing was pinned');
  }
  return done;
}

/**
 * __get_user_pages_locked(): sets MMF_HAS_PINNED for FOLL_PIN, adds FOLL_GET when pages[] is
 * given without FOLL_PIN, and turns "nothing done" into WARN + -EFAULT (unless FOLL_NOWAIT).
 */
function __get_user_pages_locked(
  m: Machine,
  cur: Process | undefined,
  mm: MmStruct,
  start: number,
  nr_pages: number,
  pages: Int32Array | null,
  pagesOff: number,
  flags: number,
): number {
  if (!nr_pages) return 0;
  flags = gupLockedFlags(mm, pages, flags);
  return gupLockedDone(m, __get_user_pages(m, cur, mm, start, nr_pages, flags, pages, pagesOff), flags);
}

/**
 * __gup_longterm_locked(): with FOLL_LONGTERM, pin under PF_MEMALLOC_PIN, then migrate any
 * unpinnable folios and retry until everything pinned is pinnable. Without it, a plain walk.
 */
function __gup_longterm_locked(
  m: Machine,
  cur: Process | undefined,
  mm: MmStruct,
  start: number,
  nr_pages: number,
  pages: Int32Array | null,
  pagesOff: number,
  flags: number,
): number {
  if (!(flags & FOLL_LONGTERM)) return __get_user_pages_locked(m, cur, mm, start, nr_pages, pages, pagesOff, flags);
  m.alloc.memallocPin++;
  let rc: number;
  let nr_pinned: number;
  let rounds = 0;
  try {
    do {
      if (++rounds > 64) throw new Error('gupsim bug: longterm migration did not converge');
      nr_pinned = __get_user_pages_locked(m, cur, mm, start, nr_pages, pages, pagesOff, flags);
      if (nr_pinned <= 0) {
        rc = nr_pinned;
        break;
      }
      rc = check_and_migrate_movable_pages(m, nr_pinned, pages!, pagesOff);
    } while (rc === -EAGAIN);
  } finally {
    m.alloc.memallocPin--;
  }
  return rc ? rc : nr_pinned;
}

// ---------------------------------------------------------------------------------------------
// Fast path

export const FAST_ALLOWED =
  FOLL_WRITE |
  FOLL_LONGTERM |
  FOLL_FORCE |
  FOLL_PIN |
  FOLL_GET |
  FOLL_FAST_ONLY |
  FOLL_NOFAULT |
  FOLL_PCI_P2PDMA |
  FOLL_HONOR_NUMA_FAULT;

/** gup_fast_folio_allowed(): GUP-fast may not longterm write-pin file folios other than shmem/hugetlb. */
function gup_fast_folio_allowed(m: Machine, folio: number, flags: number): boolean {
  if (!m.profile.longtermWriteFileRefused) return true; // 6.1 has no such check
  if ((flags & (FOLL_WRITE | FOLL_LONGTERM)) !== (FOLL_WRITE | FOLL_LONGTERM)) return true;
  const mem = m.mem;
  if (mem.folio_test_anon(folio) || mem.folio_test_hugetlb(folio)) return true;
  const obj = m.mappingObj(mem.mapping[folio]!);
  if (!obj || !('fs' in obj)) return false;
  return obj.isShmemOrHugetlb;
}

/**
 * GUP-fast's read of one entry up to the grab (gup_fast_pte_range(), gup_fast_pmd_leaf()): the folio
 * grabbed with `refs` references, or NO_FOLIO when the walk must stop there (not present, PROT_NONE,
 * read-only for FOLL_WRITE, special, or the grab failed). `leaf`: a PMD/PUD leaf, whose PFN is the head.
 */
export function gupFastGrab(m: Machine, e: number, refs: number, flags: number, leaf: boolean): number {
  // gup_fast_pmd_range(): a PROT_NONE (or NUMA-hinting) entry sends the caller to the slow path.
  if (!pte_present(e) || pte_protnone(e) || (flags & FOLL_WRITE && !pte_write(e)) || pte_special(e)) return NO_FOLIO;
  const folio = leaf ? pte_pfn(e) : m.mem.page_folio(pte_pfn(e));
  return try_grab_folio_fast(m, folio, refs, flags) ? folio : NO_FOLIO;
}

/**
 * GUP-fast after the grab: the entry re-read (`now`) must still be `e` (the re-check, when
 * m.protections.fastRecheck), the folio allowed for the flags and not in need of an unshare fault
 * (`page`: the page, or the head of a leaf). false: the references are dropped and the walk stops.
 */
export function gupFastKeep(
  m: Machine,
  e: number,
  now: number,
  folio: number,
  page: number,
  refs: number,
  flags: number,
): boolean {
  if (
    (m.protections.fastRecheck && now !== e) ||
    !gup_fast_folio_allowed(m, folio, flags) ||
    (!pte_write(e) && gup_must_unshare(m, null, flags, page))
  ) {
    gup_put_folio(m, folio, refs, flags);
    return false;
  }
  m.mem.setFlag(folio, PG_referenced);
  return true;
}

/** A FOLL_PIN walk that must not start: a fork is write-protecting the page tables (odd seqcount). */
export const SEQ_BUSY = -1;

/**
 * gup_fast()'s first read: raw_read_seqcount(&mm->write_protect_seq) for FOLL_PIN; SEQ_BUSY when odd
 * (the walk pins nothing). Without FOLL_PIN (or with m.protections.writeProtectSeq off) it reads nothing.
 */
export function gupFastSeqBegin(m: Machine, mm: MmStruct, flags: number): number {
  if (!(flags & FOLL_PIN) || !m.protections.writeProtectSeq) return 0;
  return mm.write_protect_seq & 1 ? SEQ_BUSY : mm.write_protect_seq;
}

/**
 * read_seqcount_retry() of gup_fast()'s last check: for FOLL_PIN, whether a fork has run since `seq` was
 * read (the walk must then unpin what it took).
 */
export function gupFastSeqChanged(m: Machine, mm: MmStruct, flags: number, seq: number): boolean {
  return (flags & FOLL_PIN) !== 0 && m.protections.writeProtectSeq && mm.write_protect_seq !== seq;
}

/**
 * gup_fast()'s last check: read_seqcount_retry() for FOLL_PIN. If a fork ran since `seq` was read,
 * every page of this walk is unpinned (gup_fast_unpin_user_pages()) and 0 is returned; else `nr`.
 */
export function gupFastSeqRetry(
  m: Machine,
  mm: MmStruct,
  flags: number,
  seq: number,
  pages: Int32Array,
  off: number,
  nr: number,
): number {
  if (!gupFastSeqChanged(m, mm, flags, seq)) return nr;
  for (let i = 0; i < nr; i++) gup_put_folio(m, m.mem.page_folio(pages[off + i]!), 1, flags);
  return 0;
}

/**
 * gup_fast(): lockless walk; stops at the first entry it cannot take (not present, not writable for
 * FOLL_WRITE, special, needs unshare, not longterm-pinnable...). Returns pages taken. Runs atomically
 * here; the explorer (tools/explore) runs the same gupFastGrab()/gupFastKeep() one entry at a time.
 */
function gup_fast(
  m: Machine,
  mm: MmStruct,
  start: number,
  end: number,
  flags: number,
  pages: Int32Array,
  off: number,
  runs: PageRuns | undefined,
): number {
  const seq = gupFastSeqBegin(m, mm, flags);
  if (seq === SEQ_BUSY) return 0;
  const pt = mm.pt;
  let nr = 0;
  let addr = start;
  while (addr < end) {
    const pud = pt.pudLeaf(addr);
    const slot = pud ? pud : pt.pmdSlot(addr);
    if (slot === undefined) break;
    if (typeof slot === 'number') {
      const size = pud ? PUD_SIZE : PMD_SIZE;
      const stop = Math.min(end, addr - (addr % size) + size);
      const refs = (stop - addr) / PAGE_SIZE;
      const head = gupFastGrab(m, slot, refs, flags, true);
      if (head === NO_FOLIO) break;
      if (!gupFastKeep(m, slot, pud ? pt.pudLeaf(addr) : pt.pmdLeaf(addr), head, head, refs, flags)) break;
      // record_subpages(): each page of the leaf, or the leaf as one run for a caller that reads runs.
      const first = head + Math.floor((addr % size) / PAGE_SIZE);
      if (runs) runs.push(off + nr, first, refs);
      else for (let k = 0; k < refs; k++) pages[off + nr + k] = first + k;
      nr += refs;
      addr = stop;
      continue;
    }
    const tableEnd = Math.min(end, addr - (addr % PMD_SIZE) + PMD_SIZE);
    // Run atomically, nothing changes an entry between its read and its re-check: the walk of a table
    // takes its entries in one go (the explorer runs gupFastGrab()/gupFastKeep() one entry at a time).
    const want = (tableEnd - addr) / PAGE_SIZE;
    const got = gup_fast_pte_range(m, slot, pte_index(addr), want, flags, pages, off + nr);
    nr += got;
    if (got !== want) break;
    addr = tableEnd;
  }
  // Nothing ran meanwhile either: the seqcount has not moved (runs need no filling in before an unpin).
  return gupFastSeqRetry(m, mm, flags, seq, pages, off, nr);
}

/** The PTE bits GUP-fast's common pin needs: present and writable, neither PROT_NONE nor special. */
const PTE_PIN_MASK = _PAGE_PRESENT | _PAGE_RW | _PAGE_PROTNONE | _PAGE_SPECIAL;
const PTE_PIN_BITS = _PAGE_PRESENT | _PAGE_RW;

/**
 * gup_fast_pte_range(): the `want` entries of one PTE table from index i, taken one by one into
 * pages[at...]; stops at the first it cannot take. Returns the pages taken.
 *
 * The entry every pin of anonymous memory meets (a writable PTE of an anon folio with references, in
 * a range where folios are long-term pinnable, no misuse recorded) is pinned here at once, with the
 * arithmetic try_grab_folio_fast() would do; NR_FOLL_PIN_ACQUIRED is added once for the run. Any other
 * entry goes through try_grab_folio_fast() and the checks, as the kernel takes every entry.
 */
function gup_fast_pte_range(
  m: Machine,
  slot: Uint32Array,
  i: number,
  want: number,
  flags: number,
  pages: Int32Array,
  at: number,
): number {
  // Small integers, but worked out from addresses (doubles above 2^31): as int32, the loop indexes the
  // arrays without converting each time.
  i |= 0;
  want |= 0;
  at |= 0;
  const mem = m.mem;
  const write = (flags & FOLL_WRITE) !== 0;
  const common = (flags & (FOLL_PIN | FOLL_GET)) === FOLL_PIN && m.misuse.freedInUse.size === 0;
  const longterm = (flags & FOLL_LONGTERM) !== 0;
  const pageFlags = mem.flags;
  const refcount = mem.refcount;
  const pincounts = mem.largeFolioPincount;
  // PFNs known long-term pinnable: the allocator area of the last folio checked.
  let pinnableLo = 0;
  let pinnableHi = 0;
  let acquired = 0;
  let nr = 0;
  // The module constants in locals (V8 reloads and checks a module binding on every use).
  const pinMask = PTE_PIN_MASK;
  const pinBits = PTE_PIN_BITS;
  const pfnShift = PTE_PFN_SHIFT;
  const tail = PG_tail;
  const anon = PG_anon;
  const head = PG_head;
  const referenced = PG_referenced;
  const bias = GUP_PIN_COUNTING_BIAS;
  const zero = ZERO_PFN;
  const smallAnon = PG_head | PG_tail | PG_anon;
  for (; nr < want; nr++, i++) {
    const e = slot[i]!;
    if (common && (e & pinMask) === pinBits) {
      const pfn = e >>> pfnShift; // pte_pfn() of a 32-bit entry
      const pf = pageFlags[pfn]!;
      // A small anon folio in the long-term pinnable area of the last folio checked: the checks below,
      // each settled by one compare (most entries of most buffers).
      if ((pf & smallAnon) === anon) {
        const rc = refcount[pfn]!;
        if (rc > 0 && pfn !== zero && (!longterm || (pfn >= pinnableLo && pfn < pinnableHi))) {
          refcount[pfn] = rc + bias;
          if (!(pf & referenced)) pageFlags[pfn] = pf | referenced;
          pages[at + nr] = pfn;
          acquired++;
          continue;
        }
      }
      const folio = pf & tail ? mem.page_folio(pfn) : pfn;
      const ff = folio === pfn ? pf : pageFlags[folio]!;
      const rc = refcount[folio]!;
      if (ff & anon && rc > 0 && folio !== zero) {
        if (longterm && (folio < pinnableLo || folio >= pinnableHi)) {
          const area = folio_is_longterm_pinnable(m, folio) ? m.alloc.areaOf(folio) : undefined;
          if (area) {
            pinnableLo = area.start;
            pinnableHi = area.end;
          }
        }
        if (!longterm || (folio >= pinnableLo && folio < pinnableHi)) {
          // folio_set_referenced(): the bit, when it is not set already (a large folio's later pages).
          if (!(ff & referenced)) pageFlags[folio] = ff | referenced;
          pages[at + nr] = pfn;
          if (!(ff & head) || !pincounts) {
            refcount[folio] = rc + bias;
            acquired++;
            continue;
          }
          // A large folio: the entries that follow and map its next pages pass the same checks (they
          // are of the same folio, whose counts only grew), so their grabs add up to one of n refs and
          // n pins (try_grab_folio_fast() per entry; nothing runs between them here).
          const last = folio + mem.folio_nr_pages(folio);
          let n = 1;
          while (nr + n < want && pfn + n < last) {
            const en = slot[i + n]!;
            if ((en & pinMask) !== pinBits || en >>> pfnShift !== pfn + n) break;
            pages[at + nr + n] = pfn + n;
            n++;
          }
          refcount[folio] = rc + n;
          refcount[folio + 1] = refcount[folio + 1]! + n; // _pincount
          acquired += n;
          nr += n - 1;
          i += n - 1;
          continue;
        }
      }
    }
    if (acquired) {
      m.vmstat.mod(NR_FOLL_PIN_ACQUIRED, acquired);
      acquired = 0;
    }
    if (!pte_present(e) || pte_protnone(e) || (write && !pte_write(e)) || pte_special(e)) break;
    const pfn = pte_pfn(e);
    const folio = mem.page_folio(pfn);
    if (!try_grab_folio_fast(m, folio, 1, flags)) break;
    if (!gup_fast_folio_allowed(m, folio, flags) || (!pte_write(e) && gup_must_unshare(m, null, flags, pfn))) {
      gup_put_folio(m, folio, 1, flags);
      break;
    }
    mem.setFlag(folio, PG_referenced);
    pages[at + nr] = pfn;
  }
  if (acquired) m.vmstat.mod(NR_FOLL_PIN_ACQUIRED, acquired);
  return nr;
}

/** start + nr_pages * PAGE_SIZE wrapped past 2^64. */
const RANGE_OVERFLOWS = -1;
/** Counts below this, from a start within user space, give an end Number holds exactly. */
const EXACT_PAGES = 2 ** 35;

/**
 * gup_fast_fallback()'s end of the range, start + (unsigned long)nr_pages * PAGE_SIZE (a negative
 * count becomes enormous), or RANGE_OVERFLOWS when the sum wraps (check_add_overflow()); an end past
 * TASK_SIZE_MAX comes back as it is. In 64-bit arithmetic, unless the numbers are small enough for a
 * double to hold the sum exactly (every call that is not probing the limits).
 */
function fastRangeEnd(start: number, nr_pages: number): number {
  if (nr_pages >= 0 && nr_pages < EXACT_PAGES && start >= 0 && start <= TASK_SIZE_MAX)
    return start + nr_pages * PAGE_SIZE;
  const len = BigInt.asUintN(64, BigInt(nr_pages)) << 12n;
  const end = BigInt(start) + BigInt.asUintN(64, len);
  if (end >= 1n << 64n) return RANGE_OVERFLOWS;
  return end > BigInt(TASK_SIZE_MAX) ? TASK_SIZE_MAX + PAGE_SIZE : Number(end);
}

/**
 * gup_fast_fallback()'s checks before the walk (6.1: internal_get_user_pages_fast()): unknown flags
 * WARN and give -EINVAL; a range that overflows gives -EOVERFLOW (6.1: 0 pages), one past TASK_SIZE_MAX
 * -EFAULT. Returns the end address (`start` itself: nothing to take), or the errno. Sets MMF_HAS_PINNED
 * for FOLL_PIN (before the walk, as the kernel does).
 */
export function gupFastArgs(m: Machine, mm: MmStruct, start: number, nr_pages: number, gup_flags: number): number {
  const fn = v6_1(m) ? 'internal_get_user_pages_fast' : 'gup_fast_fallback';
  if (gup_flags & ~FAST_ALLOWED) {
    m.warns.warn(fn, 'gup_flags & ~(FOLL_WRITE | FOLL_LONGTERM | ...)');
    return m.refuse(-EINVAL, fn, 'flag not allowed for the fast API');
  }
  if (gup_flags & FOLL_PIN) mm.has_pinned = true;
  const end = fastRangeEnd(start, nr_pages);
  if (end === RANGE_OVERFLOWS) {
    // 6.1: "if (check_add_overflow(start, len, &end)) return 0;" -- an empty range.
    if (v6_1(m)) return start;
    return m.refuse(-EOVERFLOW, fn, 'start + nr_pages * PAGE_SIZE overflows');
  }
  if (end > TASK_SIZE_MAX) return m.refuse(-EFAULT, fn, 'range ends beyond TASK_SIZE_MAX');
  return end;
}

/**
 * The flags gup_fast_fallback() hands the slow path: __gup_longterm_locked(FOLL_TOUCH | FOLL_UNLOCKABLE).
 * 6.1's __gup_longterm_unlocked() passes FOLL_LONGTERM calls on without FOLL_TOUCH, the others through
 * get_user_pages_unlocked().
 */
export function gupFastSlowFlags(m: Machine, gup_flags: number): number {
  if (v6_1(m)) return gup_flags & FOLL_LONGTERM ? gup_flags : gup_flags | FOLL_TOUCH;
  return gup_flags | FOLL_TOUCH | FOLL_UNLOCKABLE;
}

/**
 * gup_fast_fallback() after the fast walk took `nr_pinned` pages: the rest through the slow path
 * (mmap_lock held for read); a slow-path error is returned only if the fast walk took nothing.
 */
export function gupFastSlow(
  m: Machine,
  cur: Process,
  start: number,
  nr_pages: number,
  nr_pinned: number,
  gup_flags: number,
  pages: Int32Array,
): number {
  if (nr_pinned === nr_pages || gup_flags & FOLL_FAST_ONLY) return nr_pinned;
  const ret = __gup_longterm_locked(
    m,
    cur,
    cur.mm,
    start + nr_pinned * PAGE_SIZE,
    nr_pages - nr_pinned,
    pages,
    nr_pinned,
    gupFastSlowFlags(m, gup_flags),
  );
  if (ret < 0) return nr_pinned ? nr_pinned : ret;
  return ret + nr_pinned;
}

/** gup_fast_fallback(): the *_fast entry points: the lockless walk, then the slow path for the rest. */
function gup_fast_fallback(
  m: Machine,
  cur: Process,
  start: number,
  nr_pages: number,
  gup_flags: number,
  pages: Int32Array,
  runs?: PageRuns,
): number {
  start -= start % PAGE_SIZE;
  const end = gupFastArgs(m, cur.mm, start, nr_pages, gup_flags);
  if (end < 0) return end;
  if (start === end) return 0;
  const nr_pinned = gup_fast(m, cur.mm, start, end, gup_flags, pages, 0, runs);
  return gupFastSlow(m, cur, start, nr_pages, nr_pinned, gup_flags, pages);
}

// ---------------------------------------------------------------------------------------------
// Entry points

function begin(m: Machine): void {
  m.why = undefined;
}

/** Whether the machine's release checks arguments the 6.1 way (profile.gupEntryChecks). */
function v6_1(m: Machine): boolean {
  return m.profile.gupEntryChecks === 'is_valid_gup_flags';
}

/**
 * 6.1's is_valid_gup_flags() for the get_user_pages* entry points: FOLL_PIN and FOLL_LONGTERM WARN and
 * fail; nothing else is checked (FOLL_TOUCH, FOLL_REMOTE... are public flags there).
 */
function is_valid_gup_flags(m: Machine, gup_flags: number): boolean {
  if (gup_flags & FOLL_PIN) {
    m.warns.warn('is_valid_gup_flags', 'gup_flags & FOLL_PIN');
    m.refuse(-EINVAL, 'is_valid_gup_flags', 'FOLL_PIN is set only by the pin_user_pages*() APIs');
    return false;
  }
  if (gup_flags & FOLL_LONGTERM) {
    m.warns.warn('is_valid_gup_flags', 'gup_flags & FOLL_LONGTERM');
    m.refuse(-EINVAL, 'is_valid_gup_flags', 'FOLL_LONGTERM requires FOLL_PIN (use pin_user_pages*)');
    return false;
  }
  return true;
}

/** 6.1's pin_user_pages*() prologue: FOLL_GET or no pages array WARN and fail (the caller's value). */
function pinArgsValid6_1(m: Machine, fn: string, gup_flags: number, pages: Int32Array | null): boolean {
  if (gup_flags & FOLL_GET) {
    m.warns.warn(fn, 'gup_flags & FOLL_GET');
    m.refuse(-EINVAL, fn, 'FOLL_GET and FOLL_PIN are mutually exclusive');
    return false;
  }
  if (!pages) {
    m.warns.warn(fn, '!pages');
    m.refuse(-EINVAL, fn, 'FOLL_PIN needs a pages array');
    return false;
  }
  return true;
}

/** 6.1's get_user_pages_unlocked(): FOLL_LONGTERM WARNs and fails ("incompatible with FAULT_FLAG_ALLOW_RETRY"). */
function get_user_pages_unlocked6_1(
  m: Machine,
  cur: Process,
  start: number,
  nr_pages: number,
  pages: Int32Array | null,
  gup_flags: number,
): number {
  if (gup_flags & FOLL_LONGTERM) {
    m.warns.warn('get_user_pages_unlocked', 'gup_flags & FOLL_LONGTERM');
    return m.refuse(-EINVAL, 'get_user_pages_unlocked', 'FOLL_LONGTERM is not supported by *_unlocked in 6.1');
  }
  return __get_user_pages_locked(m, cur, cur.mm, start, nr_pages, pages, 0, gup_flags | FOLL_TOUCH);
}

/**
 * 6.1's __get_user_pages_remote(): FOLL_LONGTERM with a `locked` pointer WARNs and fails (the fsdax
 * check needs the VMAs, which FAULT_FLAG_ALLOW_RETRY would invalidate); FOLL_LONGTERM without one goes
 * through __gup_longterm_locked().
 */
function __get_user_pages_remote6_1(
  m: Machine,
  cur: Process | undefined,
  mm: MmStruct,
  start: number,
  nr_pages: number,
  gup_flags: number,
  pages: Int32Array | null,
  locked: Locked | undefined,
): number {
  const f = gup_flags | FOLL_TOUCH | FOLL_REMOTE;
  if (gup_flags & FOLL_LONGTERM) {
    if (locked) {
      m.warns.warn('__get_user_pages_remote', 'locked');
      return m.refuse(-EINVAL, '__get_user_pages_remote', 'FOLL_LONGTERM with a locked pointer (6.1)');
    }
    return __gup_longterm_locked(m, cur, mm, start, nr_pages, pages, 0, f);
  }
  return __get_user_pages_locked(m, cur, mm, start, nr_pages, pages, 0, f);
}

/** get_user_pages(): FOLL_TOUCH implied; -EINVAL on bad arguments. */
export function get_user_pages(
  m: Machine,
  cur: Process,
  start: number,
  nr_pages: number,
  gup_flags: number,
  pages: Int32Array | null,
): number {
  begin(m);
  if (v6_1(m)) {
    if (!is_valid_gup_flags(m, gup_flags)) return -EINVAL;
    return __get_user_pages_locked(m, cur, cur.mm, start, nr_pages, pages, 0, gup_flags | FOLL_TOUCH);
  }
  const f = is_valid_gup_args(m, pages, undefined, gup_flags, FOLL_TOUCH);
  if (f === undefined) return -EINVAL;
  return __get_user_pages_locked(m, cur, cur.mm, start, nr_pages, pages, 0, f);
}

/** get_user_pages_remote(): another process's memory; FOLL_TOUCH|FOLL_REMOTE; -EINVAL on bad arguments. */
export function get_user_pages_remote(
  m: Machine,
  target: Process,
  start: number,
  nr_pages: number,
  gup_flags: number,
  pages: Int32Array | null,
  locked?: Locked,
  cur?: Process,
): number {
  begin(m);
  if (v6_1(m)) {
    if (!is_valid_gup_flags(m, gup_flags)) return -EINVAL;
    return __get_user_pages_remote6_1(m, cur, target.mm, start, nr_pages, gup_flags, pages, locked);
  }
  const f = is_valid_gup_args(m, pages, locked, gup_flags, FOLL_TOUCH | FOLL_REMOTE);
  if (f === undefined) return -EINVAL;
  return __get_user_pages_locked(m, cur, target.mm, start, nr_pages, pages, 0, f);
}

/** get_user_pages_unlocked(): GUP takes mmap_lock itself. */
export function get_user_pages_unlocked(
  m: Machine,
  cur: Process,
  start: number,
  nr_pages: number,
  pages: Int32Array | null,
  gup_flags: number,
): number {
  begin(m);
  if (v6_1(m)) return get_user_pages_unlocked6_1(m, cur, start, nr_pages, pages, gup_flags);
  const f = is_valid_gup_args(m, pages, undefined, gup_flags, FOLL_TOUCH | FOLL_UNLOCKABLE);
  if (f === undefined) return -EINVAL;
  return __get_user_pages_locked(m, cur, cur.mm, start, nr_pages, pages, 0, f);
}

/** The slow-path entry points the race explorer runs a page at a time (tools/explore). */
export type SlowApi = 'pin_user_pages' | 'get_user_pages';

/**
 * pin_user_pages() / get_user_pages()'s argument check: the flags their walk runs with (pin_user_pages()
 * through __gup_longterm_locked(), get_user_pages() through __get_user_pages_locked(), both with the
 * caller's mmap_lock), or `bad` with the value they return for bad arguments (pin_user_pages(): 0, 6.1
 * -EINVAL; get_user_pages(): -EINVAL).
 */
export function gupSlowEntryFlags(
  m: Machine,
  api: SlowApi,
  gup_flags: number,
  pages: Int32Array | null,
): { flags: number; bad: false } | { ret: number; bad: true } {
  begin(m);
  let f: number | undefined;
  if (v6_1(m)) {
    if (api === 'pin_user_pages') f = pinArgsValid6_1(m, api, gup_flags, pages) ? gup_flags | FOLL_PIN : undefined;
    else f = is_valid_gup_flags(m, gup_flags) ? gup_flags | FOLL_TOUCH : undefined;
    if (f === undefined) return { ret: -EINVAL, bad: true };
  } else {
    f = is_valid_gup_args(m, pages, undefined, gup_flags, api === 'pin_user_pages' ? FOLL_PIN : FOLL_TOUCH);
    if (f === undefined) return { ret: api === 'pin_user_pages' ? 0 : -EINVAL, bad: true };
  }
  return { flags: f, bad: false };
}

/** The *_fast entry points (GUP-fast, then the slow path for the rest). */
export type FastApi = 'pin_user_pages_fast' | 'get_user_pages_fast' | 'get_user_pages_fast_only';

/**
 * A *_fast entry point's argument check: the flags gup_fast_fallback() runs with, or undefined after a
 * WARN (-EINVAL). 6.18: is_valid_gup_args() with FOLL_PIN, FOLL_GET or FOLL_GET | FOLL_FAST_ONLY; 6.1:
 * is_valid_gup_flags() for get_user_pages_fast(), the FOLL_GET / pages check of pin_user_pages_fast(),
 * nothing for get_user_pages_fast_only().
 */
export function gupFastEntryFlags(
  m: Machine,
  api: FastApi,
  gup_flags: number,
  pages: Int32Array | null,
): number | undefined {
  if (v6_1(m)) {
    if (api === 'pin_user_pages_fast')
      return pinArgsValid6_1(m, api, gup_flags, pages) ? gup_flags | FOLL_PIN : undefined;
    if (api === 'get_user_pages_fast') return is_valid_gup_flags(m, gup_flags) ? gup_flags | FOLL_GET : undefined;
    return gup_flags | FOLL_GET | FOLL_FAST_ONLY;
  }
  const to_set =
    api === 'pin_user_pages_fast' ? FOLL_PIN : api === 'get_user_pages_fast' ? FOLL_GET : FOLL_GET | FOLL_FAST_ONLY;
  return is_valid_gup_args(m, pages, undefined, gup_flags, to_set);
}

/** The entry point's return for gup_fast_fallback()'s `ret`: 6.1's get_user_pages_fast_only() makes an error 0. */
export function gupFastEntryRet(m: Machine, api: FastApi, ret: number): number {
  return api === 'get_user_pages_fast_only' && v6_1(m) && ret < 0 ? 0 : ret;
}

function fastEntry(
  m: Machine,
  api: FastApi,
  cur: Process,
  start: number,
  nr_pages: number,
  gup_flags: number,
  pages: Int32Array | null,
  runs?: PageRuns,
): number {
  begin(m);
  runs?.clear();
  const f = gupFastEntryFlags(m, api, gup_flags, pages);
  if (f === undefined) return -EINVAL;
  return gupFastEntryRet(m, api, gup_fast_fallback(m, cur, start, nr_pages, f, pages!, runs));
}

/** get_user_pages_fast(): FOLL_GET; -EINVAL on bad arguments. */
export function get_user_pages_fast(
  m: Machine,
  cur: Process,
  start: number,
  nr_pages: number,
  gup_flags: number,
  pages: Int32Array | null,
): number {
  return fastEntry(m, 'get_user_pages_fast', cur, start, nr_pages, gup_flags, pages);
}

/** get_user_pages_fast_only(): FOLL_GET | FOLL_FAST_ONLY (6.1: no argument check, an error is 0). */
export function get_user_pages_fast_only(
  m: Machine,
  cur: Process,
  start: number,
  nr_pages: number,
  gup_flags: number,
  pages: Int32Array | null,
): number {
  return fastEntry(m, 'get_user_pages_fast_only', cur, start, nr_pages, gup_flags, pages);
}

/** pin_user_pages(): FOLL_PIN (no FOLL_TOUCH); returns 0 (6.1: -EINVAL), not an errno, on bad arguments. */
export function pin_user_pages(
  m: Machine,
  cur: Process,
  start: number,
  nr_pages: number,
  gup_flags: number,
  pages: Int32Array | null,
): number {
  begin(m);
  if (v6_1(m)) {
    if (!pinArgsValid6_1(m, 'pin_user_pages', gup_flags, pages)) return -EINVAL;
    return __gup_longterm_locked(m, cur, cur.mm, start, nr_pages, pages, 0, gup_flags | FOLL_PIN);
  }
  const f = is_valid_gup_args(m, pages, undefined, gup_flags, FOLL_PIN);
  if (f === undefined) return 0;
  return __gup_longterm_locked(m, cur, cur.mm, start, nr_pages, pages, 0, f);
}

/** pin_user_pages_remote(): FOLL_PIN|FOLL_TOUCH|FOLL_REMOTE on target's mm; 0 (6.1: -EINVAL) on bad arguments. */
export function pin_user_pages_remote(
  m: Machine,
  target: Process,
  start: number,
  nr_pages: number,
  gup_flags: number,
  pages: Int32Array | null,
  locked?: Locked,
  cur?: Process,
): number {
  begin(m);
  if (v6_1(m)) {
    if (!pinArgsValid6_1(m, 'pin_user_pages_remote', gup_flags, pages)) return -EINVAL;
    return __get_user_pages_remote6_1(m, cur, target.mm, start, nr_pages, gup_flags | FOLL_PIN, pages, locked);
  }
  const f = is_valid_gup_args(m, pages, locked, gup_flags, FOLL_PIN | FOLL_TOUCH | FOLL_REMOTE);
  if (f === undefined) return 0;
  return __gup_longterm_locked(m, cur, target.mm, start, nr_pages, pages, 0, f);
}

/** pin_user_pages_unlocked(): 0 (6.1: -EINVAL) on bad arguments; 6.1 refuses FOLL_LONGTERM. */
export function pin_user_pages_unlocked(
  m: Machine,
  cur: Process,
  start: number,
  nr_pages: number,
  pages: Int32Array | null,
  gup_flags: number,
): number {
  begin(m);
  if (v6_1(m)) {
    if (!pinArgsValid6_1(m, 'pin_user_pages_unlocked', gup_flags, pages)) return -EINVAL;
    return get_user_pages_unlocked6_1(m, cur, start, nr_pages, pages, gup_flags | FOLL_PIN);
  }
  const f = is_valid_gup_args(m, pages, undefined, gup_flags, FOLL_PIN | FOLL_TOUCH | FOLL_UNLOCKABLE);
  if (f === undefined) return 0;
  return __gup_longterm_locked(m, cur, cur.mm, start, nr_pages, pages, 0, f);
}

/**
 * pin_user_pages_fast(): FOLL_PIN, lockless first; -EINVAL on bad arguments. With `runs`, the pages of
 * PMD/PUD leaves the fast walk takes are recorded there as runs, not written into pages[] (page_runs.ts).
 */
export function pin_user_pages_fast(
  m: Machine,
  cur: Process,
  start: number,
  nr_pages: number,
  gup_flags: number,
  pages: Int32Array | null,
  runs?: PageRuns,
): number {
  return fastEntry(m, 'pin_user_pages_fast', cur, start, nr_pages, gup_flags, pages, runs);
}

/**
 * faultin_page_range(): MADV_POPULATE_(READ|WRITE) through GUP without pages: -ENOMEM for a hole,
 * -EINVAL for a mapping the access is not allowed on, else the fault's errno.
 */
export function faultin_page_range(m: Machine, cur: Process, start: number, end: number, write: boolean): number {
  begin(m);
  let flags = FOLL_TOUCH | FOLL_HWPOISON | FOLL_UNLOCKABLE | FOLL_MADV_POPULATE;
  if (write) flags |= FOLL_WRITE;
  const ret = __get_user_pages_locked(m, cur, cur.mm, start, (end - start) / PAGE_SIZE, null, 0, flags);
  lru_add_drain(m);
  return ret;
}

/**
 * check_and_migrate_movable_pages(): 0 when every pinned folio is longterm-pinnable (pins kept);
 * -EAGAIN after migrating the others (all pins of this call dropped: the caller retries);
 * -ENOMEM when a folio could not be migrated (no pins held).
 */
export function check_and_migrate_movable_pages(m: Machine, nr: number, pages: Int32Array, off: number): number {
  const mem = m.mem;
  const list: number[] = [];
  const seen = new Set<number>();
  let collected = 0;
  let prev = -1;
  let drained = false;
  for (let i = 0; i < nr; i++) {
    const folio = mem.page_folio(pages[off + i]!);
    if (folio === prev) continue;
    prev = folio;
    if (folio_is_longterm_pinnable(m, folio)) continue;
    collected++;
    if (seen.has(folio)) continue; // folio_isolate_lru() fails the second time
    seen.add(folio);
    if (m.alloc.zoneOf(folio) === 'DEVICE') continue; // fsdax: nothing to migrate to
    if (mem.folio_test_hugetlb(folio)) {
      // folio_isolate_hugetlb(): a migratable hugetlb folio, with a reference held by the isolation.
      // One that is not (memfd_alloc_folio() never marks its folios) is not collected: with nothing
      // isolated, the pins stay (6.18 checks list_empty()).
      if (!m.hugetlb.folio_test_hugetlb_migratable(folio)) {
        collected--;
        continue;
      }
      m.hugetlb.folio_set_hugetlb_migratable(folio, false);
      mem.refcount[folio] = mem.refcount[folio]! + 1;
      list.push(folio);
      continue;
    }
    // collect_longterm_unpinnable_folios(): a small folio holding more references than its mappings
    // and this pin may sit in a per-CPU LRU batch: drain this CPU's batches once (folio_may_be_lru_cached();
    // lru_add_drain_all() after it is this CPU's batches again). 6.1 counts one reference for the pin
    // (profile.longtermCollectPinRefs), so a small folio's GUP_PIN_COUNTING_BIAS always drains.
    const pinRefs =
      m.profile.longtermCollectPinRefs === 'one' || mem.folio_has_pincount(folio) ? 1 : GUP_PIN_COUNTING_BIAS;
    if (!drained && !mem.folio_test_large(folio) && mem.refcount[folio] !== folioUseRefs(m, folio) + pinRefs) {
      lru_add_drain(m);
      drained = true;
    }
    // folio_isolate_lru(): only a folio on the LRU (one still in an LRU batch is not: it stays where it
    // is, collected but not migrated); off it, with a reference held by the isolation.
    if (!folioIsolateLru(m, folio)) continue; // pinned by this call: never at refcount 0
    list.push(folio);
  }
  if (collected === 0) return 0;
  // migrate_longterm_unpinnable_folios(): drop every pin this call took.
  for (let i = 0; i < nr; i++) {
    unpin_folio(m, mem.page_folio(pages[off + i]!));
    pages[off + i] = NO_PFN;
  }
  let failed = 0;
  let firstFailure = '';
  for (const folio of list) {
    const r = migrateFolioToPinnable(m, folio);
    if (!r.ok) {
      failed++;
      firstFailure ||= r.why;
      putback_movable_pages(m, folio);
    }
  }
  if (collected > list.length && !failed) {
    // fsdax folios are collected but cannot move.
    return m.refuse(-ENOMEM, 'migrate_longterm_unpinnable_folios', 'folio in ZONE_DEVICE (fsdax) cannot be migrated');
  }
  if (failed) return m.refuse(-ENOMEM, 'migrate_longterm_unpinnable_folios', `migrate_pages() failed: ${firstFailure}`);
  return -EAGAIN;
}
