// Models folio reference counting down to freeing (include/linux/mm.h folio_put_refs(), folio_ref_add();
// mm/swap.c __folio_put()): the last reference gone, a folio returns to the buddy allocator, its
// hugetlb pool, or (ZONE_DEVICE) its pgmap. Also mm/swap.c's per-CPU LRU batches (one CPU): a new
// folio waits in the lru_add batch (mlock.c's mlock batch for a VM_LOCKED mapping) and a folio
// activated by folio_mark_accessed() in the activate batch, each holding a reference that is visible
// (refcount, do_wp_page(), migration) until the batch is moved: when it fills, at once for a large
// folio, or by lru_add_drain().
//
// The kernel checks nothing on the way down in a production build (no CONFIG_DEBUG_VM: the
// VM_BUG_ON_PAGE of put_page_testzero() compiles out): a count dropped below zero stays negative and
// the folio is never freed; a count that reaches zero frees the folio even if page tables or the page
// cache still reach it. free_pages_prepare() would catch a mapped page ("BUG: Bad page state",
// free_page_is_bad()) only when check_pages_enabled is on (CONFIG_DEBUG_VM, init_on_alloc=1,
// init_on_free=1, page_poison=1, debug_pagealloc=on), which the modelled host config is not.
//
// Such a use-after-free is modelled honestly but kept memory safe: the folio counts as freed (a misuse
// record says so, it is tainted, and later references are applied to its counts), but gupsim keeps its
// frames out of its own allocator until nothing maps or caches them and its count is back at or below
// zero; only then are they freed for real (and counted in nr_free_pages). The kernel would have handed
// them out at once. free_pages_prepare() clears every page flag: gupsim clears PageAnonExclusive as it
// does (measured on Debian 6.1 and 6.12 in a VM: refcount 0, mapcount 1, PageAnonExclusive clear).
// Not modelled: it also clears the other flags (dirty, LRU...) and an anon folio's mapping, so the
// kernel's later unmap counts the page as a file page (RSS and NR_FILE_MAPPED skew; "BUG: Bad
// rss-counter state" at exit); gupsim keeps those fields so its own page tables and counters stay
// consistent. A page-cache lookup of a
// cached folio at count 0 retries forever in the kernel (filemap_get_entry(): folio_try_get() fails on
// 0); gupsim's lookup takes the folio as it is.

import { is_huge_zero_folio } from './huge_mm.js';
import { PG_lru, PG_referenced, ZERO_PFN } from './memmap.js';
import type { Machine } from './machine.js';
import { VM_IO, VM_LOCKED, VM_PFNMAP, VM_DONTEXPAND, VM_MIXEDMAP, type Vma } from './mm_types.js';
import { NR_FREE_PAGES } from './vmstat.js';
import { hex } from './hex.js';

/** gupsim's diagnosis of a reference drop: what went wrong and its consequence. */
export interface PutConsequence {
  /** What went wrong, in words shared by every folio alike (merged records list it once). */
  what: string;
  /** What happened to this folio beyond its count's arithmetic (freed while mapped...), if anything. */
  detail?: string;
  /** What the kernel does about it, the same words for every folio alike (merged records list it once). */
  effect: string;
}

/**
 * The references the page cache holds on a folio in it: folio_nr_pages() (__filemap_add_folio(),
 * released by filemap_free_folio()); 6.1 takes one for a hugetlb folio (profile.hugetlbCacheRefPerPage);
 * plus one while the file system's private data is attached (folio_attach_private(): ext4's buffer
 * heads, dropped by filemap_release_folio() before the folio leaves the cache; folio_expected_ref_count()
 * counts it the same way).
 */
export function folioCacheRefs(m: Machine, folio: number): number {
  const mem = m.mem;
  const priv = mem.fsPrivate.has(folio) ? 1 : 0;
  if (mem.folio_test_hugetlb(folio) && !m.profile.hugetlbCacheRefPerPage) return 1 + priv;
  return mem.folio_nr_pages(folio) + priv;
}

/** References the folio's users must hold: its mappings, and its page-cache entries. */
export function folioUseRefs(m: Machine, folio: number): number {
  const mem = m.mem;
  const cache = mem.folio_test_anon(folio) || mem.mapping[folio] === 0 ? 0 : folioCacheRefs(m, folio);
  return mem.folio_mapcount(folio) + cache;
}

/** Something still reaches the folio: a page table, the page cache, or it is a zero page. */
function folioInUse(m: Machine, folio: number): boolean {
  return folio === ZERO_PFN || is_huge_zero_folio(m, folio) || folioUseRefs(m, folio) > 0;
}

/**
 * Drop refs from the folio's count as the kernel does (32-bit atomic, no checks) and free it when the
 * count reaches exactly zero. Returns gupsim's diagnosis when the drop was not a healthy one (below
 * zero, or zero while still in use), without recording it: callers that know more add their own.
 */
export function folioPutRefsDiagnosed(m: Machine, folio: number, refs: number): PutConsequence | undefined {
  const mem = m.mem;
  const rc = mem.refcount[folio]!;
  const after = (rc - refs) | 0;
  mem.refcount[folio] = after;
  // No map lookup per put while no folio was ever freed in use (the common case).
  const freedInUse = m.misuse.freedInUse;
  const freed = freedInUse.size === 0 ? undefined : freedInUse.get(folio);
  if (freed) return putFreedInUse(m, folio, after, freed);
  // Unsigned, as atomic_sub_and_test() sees it: a count wrapped negative by pins is 2^31 and more.
  const before = rc >>> 0;
  if (before > refs) return undefined;
  if (before === refs) {
    if (folioInUse(m, folio)) return freeInUse(m, folio);
    // A large folio counts its pins exactly: freeing it with pins outstanding frees memory a device may
    // still access. Nothing maps it, so gupsim can free it for real (a later unpin lands on free memory).
    const pins = mem.folioPincount(folio);
    __folio_put(m, folio);
    if (pins <= 0) return undefined;
    m.misuse.taint(folio, mem.folio_order(folio));
    return {
      what: 'a folio was freed while still pinned',
      detail: `freed with _pincount ${pins}`,
      effect:
        'Its refcount reached 0 with pins outstanding: __folio_put() freed it although a device may still ' +
        'access it (a use-after-free through DMA), and the pin holder will later unpin freed or reused memory',
    };
  }
  if (before < refs) {
    m.misuse.taint(folio, mem.folio_order(folio));
    return {
      what: 'a folio refcount went below zero',
      effect:
        'Nothing checks it in a production kernel (an atomic subtract): the count cannot come back to zero, so ' +
        'the folio is never freed (leaked until reboot), and a later GUP of it is refused: try_grab_folio() ' +
        'WARNs (folio_ref_count(folio) <= 0) and fails with -ENOMEM',
    };
  }
  return undefined;
}

/**
 * folio_put_refs() where there is nothing to diagnose, done at once: no folio freed while in use is on
 * record, and the drop either leaves references or takes the last one of an anon folio that nothing
 * maps or pins (then __folio_put()). Returns false, having changed nothing, otherwise: the caller then
 * calls folio_put_refs(). Zap's batches take this way.
 */
export function folioPutRefsQuiet(m: Machine, folio: number, refs: number): boolean {
  if (m.misuse.freedInUse.size) return false;
  const mem = m.mem;
  const rc = mem.refcount[folio]!;
  // Unsigned, as atomic_sub_and_test() sees it (see folioPutRefsDiagnosed()).
  const before = rc >>> 0;
  if (before > refs) {
    mem.refcount[folio] = rc - refs;
    return true;
  }
  if (before !== refs || !mem.folio_test_anon(folio) || mem.folio_mapped(folio) || mem.folioPincount(folio) > 0)
    return false;
  if (folio === ZERO_PFN || is_huge_zero_folio(m, folio)) return false;
  mem.refcount[folio] = 0;
  __folio_put(m, folio);
  return true;
}

/**
 * folio_put_refs(): drop refs; the folio is freed when the count reaches zero. A drop below zero, or
 * to zero while the folio is still mapped, is applied as the kernel applies it and recorded as misuse.
 */
export function folio_put_refs(m: Machine, folio: number, refs: number): void {
  const rc = m.mem.refcount[folio]!;
  const c = folioPutRefsDiagnosed(m, folio, refs);
  if (c) {
    const arith = `folio ${hex(folio)}: _refcount ${rc} -> ${(rc - refs) | 0}`;
    m.misuse.report(c.what, c.detail ? `${arith}, ${c.detail}` : arith, c.effect);
  }
}

/** folio_get() / folio_ref_add(). */
export function folio_ref_add(m: Machine, folio: number, refs: number): void {
  m.mem.refcount[folio] = m.mem.refcount[folio]! + refs;
}

/** Where __folio_put() sends a folio. */
function freeDestination(m: Machine, folio: number): string {
  if (m.mem.folio_test_hugetlb(folio)) return 'its hugetlb pool (free_huge_folio())';
  if (m.alloc.zoneOf(folio) === 'DEVICE') return 'its dev_pagemap (free_zone_device_folio())';
  return 'the buddy allocator';
}

/** The count reached zero while page tables or the page cache still reach the folio. */
function freeInUse(m: Machine, folio: number): PutConsequence {
  const mem = m.mem;
  m.misuse.freedInUse.set(folio, { step: m.misuse.step, freedAgain: false });
  m.misuse.taint(folio, mem.folio_order(folio));
  // free_pages_prepare(): page->flags &= ~PAGE_FLAGS_CHECK_AT_PREP, PG_anon_exclusive among them.
  for (let i = 0; i < mem.folio_nr_pages(folio); i++) mem.ClearPageAnonExclusive(folio + i);
  const maps = mem.folio_mapcount(folio);
  const cached = folioUseRefs(m, folio) > maps;
  const lookup = cached
    ? ' A page-cache lookup of it would spin in the kernel (folio_try_get() fails on a count of 0 and ' +
      'filemap_get_entry() retries: a soft lockup); gupsim does not model that.'
    : '';
  const users =
    folio === ZERO_PFN || is_huge_zero_folio(m, folio)
      ? 'it is the shared zero page'
      : [maps ? `${maps} mapping(s)` : '', cached ? 'the page cache' : ''].filter(Boolean).join(' and ') +
        ' still reach it';
  return {
    what: 'a folio was freed while still in use (use-after-free)',
    detail: `${mem.folio_test_large(folio) ? `order ${mem.folio_order(folio)}, ` : ''}freed while ${users}`,
    effect:
      `Its refcount reached 0 and __folio_put() returned it to ${freeDestination(m, folio)}: a use-after-free ` +
      '(the memory can be handed to another user while the old mappings still reach it). A production kernel ' +
      'says nothing; with check_pages (CONFIG_DEBUG_VM, init_on_alloc=1, init_on_free=1, page_poison=1 or ' +
      'debug_pagealloc=on) free_page_is_bad() would report "BUG: Bad page state ... nonzero mapcount" and leak ' +
      'the page instead. Unmapping it later drops references on a freed page (its count goes negative); gupsim ' +
      'keeps its frames out of its allocator until nothing reaches them, and keeps its flags and mapping (the ' +
      `kernel clears them in free_pages_prepare(), so its later unmap miscounts RSS).${lookup}`,
  };
}

/** A reference dropped on a folio already freed while in use. */
function putFreedInUse(
  m: Machine,
  folio: number,
  after: number,
  freed: { freedAgain: boolean },
): PutConsequence | undefined {
  if (!folioInUse(m, folio)) {
    // Nothing reaches the frames any more: the kernel freed them long ago; gupsim frees them now.
    if (after <= 0) {
      m.misuse.freedInUse.delete(folio);
      __folio_put(m, folio);
    }
    return undefined;
  }
  if (after !== 0 || freed.freedAgain) return undefined;
  freed.freedAgain = true;
  return {
    what: 'the refcount of a folio already freed while in use reached zero again',
    detail: 'freed a second time',
    effect:
      '__folio_put() frees it a second time (a double free of memory that may already belong to someone else); ' +
      'the kernel may corrupt its free lists or crash later, and reports nothing now',
  };
}

/** __folio_put(): the last reference is gone. */
export function __folio_put(m: Machine, folio: number): void {
  const mem = m.mem;
  // PG_active and PG_mlocked (sets, by folio; usually empty: no hash look-up then).
  if (m.activeFolios.size) m.activeFolios.delete(folio);
  if (folio === ZERO_PFN || is_huge_zero_folio(m, folio)) {
    // Never reached: the zero pages are always in use, so folio_put_refs() keeps them (freeInUse()).
    throw new Error(`gupsim bug: zero page ${hex(folio)} freed`);
  }
  const order = mem.folio_order(folio);
  // __page_cache_release(): a folio freed while still mlocked loses PG_mlocked.
  if (mem.mlocked.size) mem.mlocked.delete(folio);
  if (mem.fsPrivate.size) mem.fsPrivate.delete(folio);
  // No NR_FILE_DIRTY change here: an accounted dirty folio is cleaned when it leaves the page cache
  // (folio_cancel_dirty() in filemap_remove_folio); anon/shmem dirtiness was never accounted.
  if (mem.folio_test_hugetlb(folio)) {
    // A count that misuse left below zero is reset when the pool hands the folio out again.
    mem.refcount[folio] = 0;
    m.hugetlb.free_huge_folio(folio);
    return;
  }
  const area = m.alloc.freeBlock(folio, order);
  // ZONE_DEVICE (fsdax) pages go back to their pgmap (mm/memremap.c free_zone_device_folio()),
  // never to the buddy allocator's NR_FREE_PAGES; the model keeps pmem in a DEVICE area.
  if (area.zone !== 'DEVICE') m.vmstat.mod(NR_FREE_PAGES, 1 << order);
}

/** A folio misuse left allocated for good: nothing maps or caches it and its count is below zero. */
export interface LeakedFolio {
  folio: number;
  order: number;
  refcount: number;
}

/** The folios misuse has leaked: touched by misuse, still allocated, unreachable, refcount below zero. */
export function leakedByMisuse(m: Machine): LeakedFolio[] {
  const mem = m.mem;
  const seen = new Set<number>();
  for (const [pfn, order] of m.misuse.taintedFolios) {
    // The frames may hold another folio by now (freed and reused): look at what is there.
    for (let p = pfn; p < pfn + (1 << order); p++) {
      if (m.alloc.is_free_buddy_page(p)) continue;
      const folio = mem.page_folio(p);
      seen.add(folio);
      p = folio + mem.folio_nr_pages(folio) - 1;
    }
  }
  const out: LeakedFolio[] = [];
  for (const folio of seen) {
    const rc = mem.refcount[folio]!;
    if (rc >= 0 || folioInUse(m, folio)) continue;
    if (mem.folio_test_hugetlb(folio) && m.hugetlb.hstate(mem.folio_order(folio)).freelist.includes(folio)) continue;
    out.push({ folio, order: mem.folio_order(folio), refcount: rc });
  }
  return out.sort((a, b) => a.folio - b.folio);
}

// ---------------------------------------------------------------------------------------------
// LRU: accessed/active (mm/swap.c)

/**
 * folio_mark_accessed(): with the multi-gen LRU only the flag bits move (folio_inc_refs(): PG_referenced
 * first); with the classic LRU the first access sets PG_referenced and the second activates the
 * folio: one on the LRU through the activate batch (folio_activate()), one still in the lru_add batch
 * by marking it active there (__lru_cache_activate_folio(): no reference), and PG_referenced is
 * cleared again.
 */
export function folio_mark_accessed(m: Machine, folio: number): void {
  const mem = m.mem;
  if (m.profile.lruGenEnabled || !mem.testFlag(folio, PG_referenced)) {
    mem.setFlag(folio, PG_referenced);
    return;
  }
  if (m.activeFolios.has(folio)) return;
  if (mem.testFlag(folio, PG_lru)) folio_activate(m, folio);
  else if (m.lruAddBatch.includes(folio)) m.activeFolios.add(folio);
  // (An isolated folio, off every list, is left as it is.)
  mem.clearFlag(folio, PG_referenced);
}

/**
 * Add a folio to a per-CPU batch with a reference of its own (folio_get()); the batch is moved when
 * it is full (folio_batch_add() leaves no space: lruBatchSize, PAGEVEC_SIZE) or at once for a large
 * folio (folio_may_be_lru_cached(), 6.1's folio_test_large()). @see mm/swap.c folio_batch_add_and_move()
 */
function batchAddAndMove(m: Machine, batch: number[], folio: number): void {
  m.mem.refcount[folio] = m.mem.refcount[folio]! + 1;
  batch.push(folio);
  if (batch.length >= m.profile.lruBatchSize || m.mem.folio_test_large(folio)) moveBatch(m, batch);
}

/**
 * folio_batch_move_lru(): each folio of the batch goes on the LRU (PG_lru; the activate batch's
 * become active, if still on it: folio_test_clear_lru()) and the batch's reference is dropped, which
 * frees a folio nothing else holds any more.
 */
function moveBatch(m: Machine, batch: number[]): void {
  if (!batch.length) return;
  const folios = batch.splice(0);
  const activate = batch === m.lruActivateBatch;
  for (const f of folios) {
    if (activate) {
      if (m.mem.testFlag(f, PG_lru)) m.activeFolios.add(f);
    } else {
      m.mem.setFlag(f, PG_lru);
    }
    folio_put_refs(m, f, 1);
  }
}

/**
 * folio_add_lru(): a new folio (a fault's, a COW copy, a page-cache folio) joins this CPU's lru_add
 * batch, off the LRU until the batch is moved, holding one reference meanwhile. hugetlb and
 * ZONE_DEVICE folios never go on the LRU.
 */
export function folio_add_lru(m: Machine, folio: number): void {
  if (m.mem.folio_test_hugetlb(folio) || m.alloc.zoneOf(folio) === 'DEVICE') return;
  batchAddAndMove(m, m.lruAddBatch, folio);
}

/**
 * folio_add_lru_vma(): a new folio of a VM_LOCKED mapping (not VM_IO/VM_PFNMAP/VM_DONTEXPAND/
 * VM_MIXEDMAP) is mlocked and waits in the mlock batch instead (mlock_new_folio(): PG_mlocked,
 * a reference until mlock_folio_batch() moves it to the unevictable list).
 */
export function folio_add_lru_vma(m: Machine, folio: number, vma: Vma): void {
  const special = VM_IO | VM_PFNMAP | VM_DONTEXPAND | VM_MIXEDMAP;
  if ((vma.flags & (VM_LOCKED | special)) !== VM_LOCKED) {
    folio_add_lru(m, folio);
    return;
  }
  m.mem.mlocked.add(folio);
  batchAddAndMove(m, m.lruMlockBatch, folio);
}

/**
 * folio_activate(): an inactive folio on the LRU takes a reference and joins the per-CPU activate
 * batch; the batch is moved (every folio made active, every reference dropped) when it is full, or
 * at once for a large folio (folio_batch_add_and_move()).
 */
function folio_activate(m: Machine, folio: number): void {
  batchAddAndMove(m, m.lruActivateBatch, folio);
}

/**
 * lru_add_drain(): move this CPU's batches (lru_add_drain_cpu(): lru_add, then activate) and its
 * mlock batch (mlock_drain_local()). gupsim's machine has one CPU, so lru_add_drain_all() is this too.
 */
export function lru_add_drain(m: Machine): void {
  moveBatch(m, m.lruAddBatch);
  moveBatch(m, m.lruActivateBatch);
  moveBatch(m, m.lruMlockBatch);
}

/** Each entry of this CPU's LRU batches (a reference each) to `into` (a counter by folio). */
export function forEachLruBatchEntry(m: Machine, into: { add(folio: number): void }): void {
  for (const b of [m.lruAddBatch, m.lruActivateBatch, m.lruMlockBatch])
    for (let i = 0; i < b.length; i++) into.add(b[i]!);
}

/** The references this CPU's LRU batches hold on a folio (one per entry; a folio is in one at most). */
export function lruBatchRefs(m: Machine, folio: number): number {
  let n = 0;
  for (const b of [m.lruAddBatch, m.lruActivateBatch, m.lruMlockBatch]) for (const f of b) if (f === folio) n++;
  return n;
}

/** folio_test_active(). */
export function folio_test_active(m: Machine, folio: number): boolean {
  return m.activeFolios.has(folio);
}
