// gupsim's structural self-check (no kernel counterpart: the closest are CONFIG_DEBUG_VM's
// VM_BUG_ON_FOLIO checks, mm/debug_vm_pgtable.c and the buddy checks of CONFIG_DEBUG_PAGEALLOC).
// checkInvariants() reads a Machine and returns every broken invariant as a sentence; it changes
// nothing. Tests call it after each step of a random sequence.
//
// Cost: one walk of every process's page tables, one pass over each zone that visits allocated
// folios one by one and skips free buddy blocks whole, and a walk of the buddy free lists: about
// O(mapped entries + allocated pages + free blocks), fine after every step on a 1 GiB machine.

import type { Machine } from '../mm/machine.js';
import {
  NO_FOLIO,
  ZERO_PFN,
  GUP_PIN_COUNTING_BIAS,
  MAX_ORDER,
  ORDER_MASK,
  PAGE_SIZE,
  PG_buddy,
  PG_head,
  PG_hugetlb,
  PG_tail,
  PG_anon,
  PG_anon_exclusive,
  PMD_ORDER,
  PMD_SIZE,
  PUD_ORDER,
  PUD_SIZE,
} from '../mm/memmap.js';
import { AnonVma, type MmStruct, type Vma } from '../mm/mm_types.js';
import { AddressSpace } from '../mm/fs.js';
import { folioCacheRefs } from '../mm/swap.js';
import {
  PTE_PFN_SHIFT,
  PTE_PFN_STEP,
  PTRS_PER_PTE,
  _PAGE_PRESENT,
  _PAGE_SPECIAL,
  pte_pfn,
  pte_present,
  pte_special,
} from '../mm/pgtable.js';
import { VMSTAT_ITEMS } from '../mm/vmstat.js';
import { HPAGE_RESV_OWNER, vma_hugecache_offset } from '../mm/hugetlb_resv.js';
import { hex } from '../mm/hex.js';

/** No PTE: what a table's slot never holds (entries are 32-bit, unsigned). */
const NO_ENTRY = -1;

/** Stop collecting after this many violations: one bug usually breaks thousands of pages. */
const MAX_VIOLATIONS = 50;

/**
 * Check the model's structural invariants; returns human-readable violations (empty when sound).
 *
 * - Every allocated folio: _refcount >= mapcount + page-cache references (+ its pins); nothing
 *   negative (_refcount, per-page _mapcount, _entire_mapcount, _large_mapcount, _pincount); a large
 *   folio's _large_mapcount == _entire_mapcount + sum of its pages' _mapcount; tail pages carry no
 *   references; no allocated page is left with refcount 0 (a leak), except free hugetlb pool folios.
 * - Every present PTE/PMD/PUD of a live process lies in a VMA and maps an allocated page (special
 *   entries: the zero page, the huge zero folio, PFN maps); leaves map whole folios of the right
 *   order; the folio's rmap (folio->mapping, folio->index) finds the entry; exited mms map nothing.
 * - A PageAnonExclusive anon page is mapped by one mm only.
 * - Per-page _mapcount == number of PTEs mapping the page over all live mms; _entire_mapcount ==
 *   number of PMD/PUD leaves mapping the folio; RSS counters match the mapped pages.
 * - Buddy allocator: free lists well formed, sum of free blocks == area.free, every free block of
 *   the zone scan is on a list; vmstat nr_free_pages == the allocator's count.
 * - hugetlb pools (free + in use == nr_huge_pages; resv_huge_pages == what the reserve maps still
 *   promise, less the folios that will restore a reservation when freed), page caches (each cached
 *   page's folio points back at the file and index);
 *   nr_file_pages and nr_shmem match the page caches.
 * - No vmstat counter is negative; nr_foll_pin_released <= nr_foll_pin_acquired.
 * - Quiescence (checkInvariants runs between operations): no folio isolated for migration, no
 *   memalloc_pin_save() section open, no fork half-way (write_protect_seq even).
 *
 * `pinsByFolio`: pins the caller holds per folio head (zero page excluded). When given, a small
 * folio must have _refcount >= mapcount + cache + GUP_PIN_COUNTING_BIAS * pins and a large folio
 * _pincount == pins (0 for folios not in the map). `getsByFolio` (FOLL_GET references held, the
 * zero page included) together with `pinsByFolio` makes the refcount check exact.
 *
 * Misuse (m.misuse, like the kernel's taint): a folio whose counts misuse has broken (a double unpin,
 * put_page() on a pinned page, a folio freed while still mapped...) is exempt from the checks of its
 * _refcount and _pincount (sign, minimum, exact value, "allocated with refcount 0", mapped while its
 * count says freed) and from PageAnonExclusive's one-mm rule (a count misuse lowered lets do_wp_page()
 * reuse a page another mm still maps, as the kernel does); everything else about it (mapcounts, rmap,
 * page tables) and every other folio is checked as usual. A machine that saw misuse may have nr_foll_pin_released above
 * nr_foll_pin_acquired. Folios freed while in use are out of the buddy allocator, as they should be.
 */
/**
 * Per-page count arrays of a small machine, kept from call to call (zeroed each time): the race explorer
 * checks every end state, and a new pair of arrays for each cost more than the checks. A large machine's
 * are made for the call and dropped (keeping them would hold their memory for good).
 */
const scratch: Int32Array[] = [];
const SCRATCH_PAGES = 1 << 18;
function zeroed(k: number, nr: number): Int32Array {
  if (nr > SCRATCH_PAGES) return new Int32Array(nr);
  let a = scratch[k];
  if (!a || a.length !== nr) scratch[k] = a = new Int32Array(nr);
  else a.fill(0);
  return a;
}

const NONE_TAINTED = new Uint8Array(0);

export function checkInvariants(
  m: Machine,
  pinsByFolio?: Map<number, number>,
  getsByFolio?: Map<number, number>,
): string[] {
  const out: string[] = [];
  const v = (msg: string): boolean => {
    if (out.length < MAX_VIOLATIONS) out.push(msg);
    else if (out.length === MAX_VIOLATIONS) out.push('... (more violations not listed)');
    return false;
  };
  const mem = m.mem;
  const exact = pinsByFolio !== undefined && getsByFolio !== undefined;
  // Only the exact refcount check weighs the LRU batches' references.
  const lruBatchRefs = new Map<number, number>();
  if (exact)
    for (const b of [m.lruAddBatch, m.lruActivateBatch, m.lruMlockBatch])
      for (const f of b) lruBatchRefs.set(f, (lruBatchRefs.get(f) ?? 0) + 1);
  // Pages of folios misuse touched: their counts are exempt (see above).
  const tainted = m.misuse.taintedFolios.size ? new Uint8Array(mem.nr) : NONE_TAINTED;
  for (const [f, order] of m.misuse.taintedFolios) tainted.fill(1, f, Math.min(mem.nr, f + (1 << order)));
  const isTainted = (pfn: number): boolean => tainted.length > 0 && tainted[pfn] === 1;

  // ---- 1. page tables of every process -----------------------------------------------------
  const pteCount = zeroed(0, mem.nr);
  const entireCount = zeroed(2, mem.nr); // PMD/PUD leaves mapping each folio, by head
  const exclusiveOwner = zeroed(1, mem.nr); // mm id mapping a PageAnonExclusive page, 0: none
  const files = new Set<AddressSpace>(m.files.values());
  for (const p of m.processes.values()) {
    const mm = p.mm;
    const live = p.alive && mm.users > 0;
    checkVmas(mm, p.name, v);
    if (mm.write_protect_seq & 1) v(`${p.name}: write_protect_seq ${mm.write_protect_seq} is odd outside fork`);
    for (const vma of mm.vmas) if (vma.file) files.add(vma.file);
    walkPageTables(m, mm, p.name, live, pteCount, entireCount, exclusiveOwner, isTainted, v);
  }

  // ---- 2. every zone, folio by folio --------------------------------------------------------
  const hugetlbFree = new Set<number>();
  for (const h of m.hugetlb.hstates.values()) {
    for (const f of h.freelist) {
      if (hugetlbFree.has(f)) v(`hugetlb: folio ${hex(f)} twice on the order-${h.order} free list`);
      hugetlbFree.add(f);
    }
  }
  const hugetlbInUse = new Map<number, number>();
  /** Folios in use that will give a reservation back when freed (restore_reserve), by order. */
  const hugetlbToRestore = new Map<number, number>();
  let shmemCached = 0;
  let fileCached = 0;
  // quietSmallAnon(): whether the fast look may serve at all, and the last folio->mapping found an anon_vma.
  const quietAll = !pinsByFolio && !exact && hugetlbFree.size === 0 && tainted.length === 0;
  let quietAnonId = 0;
  for (const area of m.alloc.areas) {
    let buddyHeads = 0;
    let pfn = area.start;
    while (pfn < area.end) {
      const f = mem.flags[pfn]!;
      if (f & PG_buddy) {
        buddyHeads++;
        // A stale release (a double unpin long after the free) changes a free page's count, as in the kernel.
        if (mem.refcount[pfn] !== 0 && !isTainted(pfn))
          v(`buddy: free block ${hex(pfn)} has refcount ${mem.refcount[pfn]}`);
        if (pteCount[pfn]) v(`pte: free page ${hex(pfn)} (buddy) is mapped by ${pteCount[pfn]} PTE(s)`);
        pfn += 1 << (f & ORDER_MASK);
        continue;
      }
      if (f & PG_tail) {
        v(`memmap: tail page ${hex(pfn)} outside any folio`);
        pfn++;
        continue;
      }
      const order = f & PG_head ? f & ORDER_MASK : 0;
      const nr = 1 << order;
      if (pfn % nr !== 0 || pfn + nr > area.end) {
        v(`memmap: folio ${hex(pfn)} of order ${order} is misaligned or crosses its zone's end`);
        pfn++;
        continue;
      }
      if (order !== 0 || !quietSmallAnon(pfn, f)) checkFolio(pfn, order);
      pfn += nr;
    }
    // Buddy free lists.
    let listed = 0;
    let free = 0;
    for (let o = 0; o <= MAX_ORDER; o++) {
      let prev = -1;
      let h = area.heads[o]!;
      let guard = 0;
      while (h >= 0) {
        if (++guard > area.end - area.start) {
          v(`buddy: order-${o} free list of ${area.zone} loops`);
          break;
        }
        if (h < area.start || h + (1 << o) > area.end || h % (1 << o) !== 0) {
          v(`buddy: order-${o} block ${hex(h)} is outside or misaligned in ${area.zone}`);
          break;
        }
        if (mem.flags[h] !== (PG_buddy | o))
          v(`buddy: block ${hex(h)} on the order-${o} list has flags ${hex(mem.flags[h]!)}`);
        if (mem.mapcount[h] !== prev) v(`buddy: block ${hex(h)} has a broken prev link`);
        listed++;
        free += 1 << o;
        prev = h;
        h = mem.index[h]! - 1;
      }
    }
    if (free !== area.free)
      v(`buddy: ${area.zone}${area.cma ? ' (CMA)' : ''} free lists hold ${free} pages, area.free says ${area.free}`);
    if (listed !== buddyHeads)
      v(`buddy: ${area.zone} has ${buddyHeads} free blocks in its memmap but ${listed} on its free lists`);
  }

  // The zero page: a reserved frame, never mapped through a counted entry.
  const zrc = mem.refcount[ZERO_PFN]!;
  const zgets = getsByFolio?.get(ZERO_PFN) ?? 0;
  if (!isTainted(ZERO_PFN)) {
    if (zrc < 1) v(`zero page: refcount ${zrc}`);
    if (exact && zrc !== 1 + zgets) v(`zero page: refcount ${zrc}, expected 1 + ${zgets} FOLL_GET reference(s)`);
  }
  if (mem.mapcount[ZERO_PFN] !== 0 || pteCount[ZERO_PFN]) v('zero page: has a mapcount or a non-special PTE');
  // Pages outside every zone (reserved) must not be mapped: a mapped page in a zone's area vouches for the
  // rest of that area.
  for (let pfn = 0; pfn < pteCount.length; pfn++) {
    const n = pteCount[pfn]!;
    if (!n || pfn === ZERO_PFN) continue;
    const area = m.alloc.areaOf(pfn);
    if (area) pfn = area.end - 1;
    else v(`pte: reserved page ${hex(pfn)} mapped by ${n} PTE(s)`);
  }

  // ---- 3. hugetlb pools -----------------------------------------------------------------------
  // resv_huge_pages is what the reserve maps still promise (a private owner's pages its faults have
  // not consumed; a shared file's reserved pages not in its page cache) minus the folios in use that
  // will restore a reservation when freed (see __unmap_hugepage_range()).
  const promised = new Map<number, number>();
  const promise = (order: number, n: number) => promised.set(order, (promised.get(order) ?? 0) + n);
  for (const p of m.processes.values()) {
    for (const vma of p.mm.vmas) {
      const resv = vma.vm_private_data?.resv;
      if (vma.kind !== 'hugetlb' || !resv || !(vma.vm_private_data!.flags & HPAGE_RESV_OWNER)) continue;
      const start = vma_hugecache_offset(vma, vma.start);
      const end = vma_hugecache_offset(vma, vma.end);
      promise(vma.hugeOrder, end - start - resv.region_count(start, end));
    }
  }
  for (const file of files) {
    if (file.fs !== 'hugetlbfs' || !file.resv_map) continue;
    let reserved = 0;
    for (const rg of file.resv_map.regions) reserved += rg.to - rg.from;
    const nr = 1 << file.hugeOrder;
    for (let i = 0; i < file.sizePages; i += nr) {
      const hidx = i / nr;
      if (file.pages[i]! >= 0 && file.resv_map.region_count(hidx, hidx + 1)) reserved--;
    }
    promise(file.hugeOrder, reserved);
  }
  for (const h of m.hugetlb.hstates.values()) {
    const used = hugetlbInUse.get(h.order) ?? 0;
    if (used + h.free_huge_pages !== h.nr_huge_pages)
      v(`hugetlb: order-${h.order} pool of ${h.nr_huge_pages}: ${h.free_huge_pages} free + ${used} in use`);
    if (h.surplus_huge_pages < 0 || h.surplus_huge_pages > h.nr_huge_pages)
      v(`hugetlb: order-${h.order} surplus ${h.surplus_huge_pages} of a pool of ${h.nr_huge_pages}`);
    if (h.resv_huge_pages > h.free_huge_pages)
      v(`hugetlb: order-${h.order} reservations ${h.resv_huge_pages} with ${h.free_huge_pages} free folio(s)`);
    const want = (promised.get(h.order) ?? 0) - (hugetlbToRestore.get(h.order) ?? 0);
    if (h.resv_huge_pages !== want)
      v(
        `hugetlb: order-${h.order} resv_huge_pages ${h.resv_huge_pages}, but the reserve maps promise ` +
          `${promised.get(h.order) ?? 0} and ${hugetlbToRestore.get(h.order) ?? 0} folio(s) will restore one`,
      );
  }

  // ---- 4. page caches -------------------------------------------------------------------------
  for (const file of files) {
    for (let i = 0; i < file.sizePages; i++) {
      const pfn = file.pages[i]!;
      if (pfn < 0) continue;
      if (pfn >= mem.nr) {
        v(`page cache: ${file.name} index ${i} points at ${hex(pfn)} beyond memory`);
        continue;
      }
      const folio = folioOf(pfn);
      if (folio === NO_FOLIO) continue;
      if (mem.flags[folio]! & PG_buddy || (mem.refcount[folio]! <= 0 && !isTainted(folio)))
        v(`page cache: ${file.name} index ${i} points at a free page ${hex(pfn)}`);
      else if (mem.mapping[folio] !== file.id || mem.index[folio]! + (pfn - folio) !== i)
        v(`page cache: ${file.name} index ${i} holds page ${hex(pfn)} whose folio belongs elsewhere`);
      if (file.fs === 'tmpfs') shmemCached++;
      if (!mem.folio_test_hugetlb(folio)) fileCached++; // hugetlb is not in NR_FILE_PAGES
    }
  }

  // ---- 5. vmstat ------------------------------------------------------------------------------
  const vs = m.vmstat;
  for (const item of VMSTAT_ITEMS) if (vs.get(item) < 0) v(`vmstat: ${item} is ${vs.get(item)}`);
  // A double unpin counts NR_FOLL_PIN_RELEASED again, as the kernel does.
  if (vs.get('nr_foll_pin_released') > vs.get('nr_foll_pin_acquired') && !m.misuse.tainted) {
    v(
      `vmstat: nr_foll_pin_released ${vs.get('nr_foll_pin_released')} > nr_foll_pin_acquired ` +
        `${vs.get('nr_foll_pin_acquired')}`,
    );
  }
  // Between two operations nothing is mid-migration and no PF_MEMALLOC_PIN section is open.
  if (vs.get('nr_isolated_anon') || vs.get('nr_isolated_file'))
    v(
      `vmstat: nr_isolated_anon ${vs.get('nr_isolated_anon')} nr_isolated_file ${vs.get('nr_isolated_file')} ` +
        `outside a migration`,
    );
  if (m.alloc.memallocPin !== 0) v(`page_alloc: memalloc_pin_save() depth ${m.alloc.memallocPin} outside GUP`);
  if (vs.get('nr_free_pages') !== m.alloc.nr_free_pages())
    v(`vmstat: nr_free_pages ${vs.get('nr_free_pages')}, the buddy allocator has ${m.alloc.nr_free_pages()}`);
  if (vs.get('nr_file_pages') !== fileCached)
    v(`vmstat: nr_file_pages ${vs.get('nr_file_pages')}, page caches hold ${fileCached} (hugetlb excluded)`);
  if (vs.get('nr_shmem') !== shmemCached)
    v(`vmstat: nr_shmem ${vs.get('nr_shmem')}, tmpfs page caches hold ${shmemCached}`);
  return out;

  // ---------------------------------------------------------------------------------------------

  function folioOf(pfn: number): number {
    try {
      return mem.page_folio(pfn);
    } catch {
      v(`memmap: page ${hex(pfn)} is a tail without a head`);
      return NO_FOLIO;
    }
  }

  /**
   * An order-0 anon folio (flags f) that checkFolio() would find nothing wrong with and count nowhere: mapped
   * by as many PTEs as its _mapcount says and by no leaf, referenced at least once per mapping, its
   * folio->mapping an anon_vma, no pool or caller's pins to weigh. Most pages of a race's end states are
   * such; anything else (or any doubt) gets checkFolio()'s full look.
   */
  function quietSmallAnon(pfn: number, f: number): boolean {
    if (!quietAll || (f & (PG_anon | PG_hugetlb | PG_head)) !== PG_anon) return false;
    const mc = mem.mapcount[pfn]!;
    const rc = mem.refcount[pfn]!;
    if (mc < 0 || mc !== pteCount[pfn] || entireCount[pfn] !== 0 || rc <= 0 || rc < mc) return false;
    const id = mem.mapping[pfn]!;
    if (id === quietAnonId && id !== 0) return true;
    if (!(m.mappingObj(id) instanceof AnonVma)) return false;
    quietAnonId = id;
    return true;
  }

  function checkFolio(folio: number, order: number): void {
    const nr = 1 << order;
    const rc = mem.refcount[folio]!;
    const large = order > 0;
    const hugetlb = (mem.flags[folio]! & PG_hugetlb) !== 0;
    let pageMapcounts = 0;
    for (let i = 0; i < nr; i++) {
      const pfn = folio + i;
      const mc = mem.mapcount[pfn]!;
      if (mc < 0) v(`folio ${hex(folio)}: page ${hex(pfn)} has _mapcount ${mc - 1} (negative)`);
      if (mc !== pteCount[pfn])
        v(`folio ${hex(folio)}: page ${hex(pfn)} has mapcount ${mc} but ${pteCount[pfn]} PTE(s) map it`);
      pageMapcounts += mc;
      if (i > 0) {
        const tf = mem.flags[pfn]!;
        if (!(tf & PG_tail) || tf & (PG_head | PG_buddy))
          v(`folio ${hex(folio)}: page ${hex(pfn)} is not a tail page (flags ${hex(tf)})`);
        // A stale release on a page that was free then (misuse) leaves its _refcount word nonzero;
        // the kernel never looks at a tail's own count again, so only untouched tails are checked.
        if (i > 2 && mem.refcount[pfn] !== 0 && !isTainted(pfn))
          v(`folio ${hex(folio)}: tail page ${hex(pfn)} has refcount ${mem.refcount[pfn]}`);
      }
    }
    let mapcount = pageMapcounts;
    let pincount = 0;
    const entireSeen = entireCount[folio]!;
    const misused = isTainted(folio);
    if (large) {
      pincount = mem.refcount[folio + 1]!;
      const entire = mem.folio_entire_mapcount(folio);
      mapcount = mem.folio_mapcount(folio);
      if (pincount < 0 && !misused) v(`folio ${hex(folio)}: _pincount ${pincount}`);
      if (entire < 0) v(`folio ${hex(folio)}: _entire_mapcount ${entire - 1} (negative)`);
      if (mapcount < 0) v(`folio ${hex(folio)}: _large_mapcount ${mapcount - 1} (negative)`);
      if (mapcount !== entire + pageMapcounts)
        v(`folio ${hex(folio)}: _large_mapcount+1 = ${mapcount} != entire ${entire} + page mapcounts ${pageMapcounts}`);
      if (entire !== entireSeen)
        v(`folio ${hex(folio)}: entire mapcount ${entire} but ${entireSeen} PMD/PUD leaf(s) map it`);
    } else if (entireSeen) {
      v(`folio ${hex(folio)}: order-0 page mapped by ${entireSeen} PMD/PUD leaf(s)`);
    }
    if (misused && rc <= 0) {
      // Leaked below zero, freed by the kernel while still in use (kept out of the allocator), or back
      // at zero from below (a later reference): none of them is free.
      if (hugetlb && !hugetlbFree.has(folio)) {
        hugetlbInUse.set(order, (hugetlbInUse.get(order) ?? 0) + 1);
        if (m.hugetlb.folio_test_hugetlb_restore_reserve(folio))
          hugetlbToRestore.set(order, (hugetlbToRestore.get(order) ?? 0) + 1);
      }
      return;
    }
    if (rc < 0) v(`folio ${hex(folio)}: _refcount ${rc} (negative)`);
    if (rc === 0) {
      if (hugetlb && hugetlbFree.has(folio)) {
        if (mapcount || (pincount && !misused)) v(`hugetlb: free pool folio ${hex(folio)} is mapped or pinned`);
        if (pinsByFolio?.get(folio)) v(`hugetlb: free pool folio ${hex(folio)} is pinned by the caller`);
      } else {
        v(`folio ${hex(folio)}: allocated (order ${order}) with refcount 0: neither free nor referenced (leak)`);
      }
      return;
    }
    if (hugetlbFree.size && hugetlbFree.has(folio))
      v(`hugetlb: folio ${hex(folio)} on the free list has refcount ${rc}`);
    if (hugetlb) hugetlbInUse.set(order, (hugetlbInUse.get(order) ?? 0) + 1);
    if (hugetlb && m.hugetlb.folio_test_hugetlb_restore_reserve(folio))
      hugetlbToRestore.set(order, (hugetlbToRestore.get(order) ?? 0) + 1);

    // References the folio must hold: mappings, page cache, pins.
    const obj = mem.mapping[folio] ? m.mappingObj(mem.mapping[folio]!) : undefined;
    const anon = mem.folio_test_anon(folio);
    if (mem.mapping[folio] && !obj) v(`folio ${hex(folio)}: folio->mapping ${mem.mapping[folio]} names nothing`);
    if (anon && obj && !(obj instanceof AnonVma)) v(`folio ${hex(folio)}: anon folio whose mapping is a file`);
    if (!anon && obj instanceof AnonVma) v(`folio ${hex(folio)}: file folio whose mapping is an anon_vma`);
    let cache = 0;
    if (!anon && obj instanceof AddressSpace) {
      files.add(obj);
      // __filemap_add_folio(): the page cache holds folio_nr_pages() references, hugetlb included.
      if (obj.pages[mem.index[folio]!] === folio) cache = folioCacheRefs(m, folio);
    }
    if (mapcount > 0 && !obj && folio !== m.huge_zero_folio) v(`folio ${hex(folio)}: mapped but has no folio->mapping`);
    const pins = pinsByFolio?.get(folio) ?? 0;
    let pinRefs = 0;
    if (misused) return;
    if (large) {
      pinRefs = pincount;
      if (pinsByFolio && pincount !== pins)
        v(`folio ${hex(folio)}: _pincount ${pincount}, the caller holds ${pins} pin(s)`);
    } else {
      pinRefs = pins * GUP_PIN_COUNTING_BIAS;
    }
    const min = mapcount + cache + pinRefs;
    if (rc < min)
      v(`folio ${hex(folio)}: _refcount ${rc} < mapcount ${mapcount} + page cache ${cache} + pins ${pinRefs}`);
    if (exact) {
      const base = folio === m.huge_zero_folio ? 1 : 0;
      const gets = getsByFolio?.get(folio) ?? 0;
      // The per-CPU LRU batches (lru_add, activate, mlock) hold a reference per entry (mm/swap.c).
      const lru = lruBatchRefs.get(folio) ?? 0;
      if (rc !== min + gets + base + lru)
        v(
          `folio ${hex(folio)}: _refcount ${rc} != mapcount ${mapcount} + page cache ${cache} + pins ${pinRefs} + ` +
            `FOLL_GET ${gets}${base ? ' + 1 (huge zero folio)' : ''}${lru ? ` + ${lru} (LRU batch)` : ''}`,
        );
    }
  }
}

/** VMAs sorted, non-overlapping, page aligned, hugetlb VMAs aligned to their page size. */
function checkVmas(mm: MmStruct, who: string, v: (msg: string) => boolean): void {
  let prevEnd = 0;
  for (const vma of mm.vmas) {
    if (vma.mm !== mm) v(`${who}: VMA ${hex(vma.start)} belongs to another mm`);
    if (vma.start % PAGE_SIZE || vma.end % PAGE_SIZE || vma.end <= vma.start)
      v(`${who}: VMA [${hex(vma.start)}, ${hex(vma.end)}) is empty or unaligned`);
    if (vma.start < prevEnd) v(`${who}: VMA ${hex(vma.start)} overlaps the previous one`);
    if (vma.kind === 'hugetlb') {
      const unit = PAGE_SIZE << vma.hugeOrder;
      if (vma.start % unit || vma.end % unit)
        v(`${who}: hugetlb VMA [${hex(vma.start)}, ${hex(vma.end)}) not aligned to its page size`);
    }
    prevEnd = vma.end;
  }
}

/**
 * Walk one mm's page tables: check every present entry, count PTE mappings per page and leaf
 * mappings per folio (live mms only), and compare the RSS counters.
 */
function walkPageTables(
  m: Machine,
  mm: MmStruct,
  who: string,
  live: boolean,
  pteCount: Int32Array,
  entireCount: Int32Array,
  exclusiveOwner: Int32Array,
  isTainted: (pfn: number) => boolean,
  v: (msg: string) => boolean,
): void {
  const mem = m.mem;
  // PageAnonExclusive: the page belongs to one mm. fork clears it on every page it shares
  // (__folio_try_dup_anon_rmap), so an exclusive page mapped by two mms means a lost clear.
  const exclusive = (pfn: number, what: () => string): void => {
    // A refcount misuse lowered makes do_wp_page() reuse a page another mm still maps, as in the kernel.
    if (!mem.PageAnonExclusive(pfn) || isTainted(pfn)) return;
    const owner = exclusiveOwner[pfn]!;
    if (owner === 0) exclusiveOwner[pfn] = mm.id;
    else if (owner !== mm.id) v(`${what()}: PageAnonExclusive page ${hex(pfn)} is also mapped by another mm`);
  };
  let rssAnon = 0;
  let rssFile = 0;
  const leaf = (addr: number, e: number, size: number, order: number): void => {
    if (!pte_present(e)) return;
    if (!live) {
      v(`${who} (exited): still maps a leaf at ${hex(addr)}`);
      return;
    }
    const vma = mm.vma_lookup(addr);
    const what = (): string => `${who}: ${order === PUD_ORDER ? 'PUD' : 'PMD'} leaf at ${hex(addr)}`;
    if (!vma) {
      v(`${what()} outside any VMA`);
      return;
    }
    if (addr < vma.start || addr + size > vma.end)
      v(`${what()} straddles its VMA [${hex(vma.start)}, ${hex(vma.end)})`);
    const pfn = pte_pfn(e);
    if (pte_special(e)) {
      if (pfn !== m.huge_zero_folio || vma.kind !== 'anon')
        v(`${what()} is special but not the huge zero folio of an anon VMA`);
      return;
    }
    if (pfn >= mem.nr || !(mem.flags[pfn]! & PG_head) || (mem.flags[pfn]! & ORDER_MASK) !== order) {
      v(`${what()} maps ${hex(pfn)}, not the head of an order-${order} folio`);
      return;
    }
    // A folio misuse freed (or drove below zero) stays mapped, as in the kernel.
    if (mem.refcount[pfn]! <= 0 && !isTainted(pfn)) {
      v(`${what()} maps folio ${hex(pfn)} with refcount ${mem.refcount[pfn]}`);
      return;
    }
    if ((vma.kind === 'hugetlb') !== mem.folio_test_hugetlb(pfn)) v(`${what()}: hugetlb VMA/folio mismatch`);
    checkRmap(m, vma, addr, pfn, pfn, what, v);
    if (mem.folio_test_anon(pfn)) exclusive(pfn, what);
    entireCount[pfn]!++;
    if (mem.folio_test_anon(pfn)) rssAnon += 1 << order;
    else rssFile += 1 << order;
  };
  for (const [k, e] of mm.pt.puds) leaf(k * PUD_SIZE, e, PUD_SIZE, PUD_ORDER);
  let last: Vma | undefined; // consecutive PTEs mostly share a VMA
  // The anon_vma or file (folio->mapping id) last found to reach VMA `reached`: the pages of a table mostly
  // share both, and the rmap's look-up of the one in the other is the same for each.
  let reached: Vma | undefined;
  let reachedId = 0;
  // The slots [lo, hi) of the current table that VMA `last` covers, where cleanPte() may settle an entry
  // (none when `last` is missing, hugetlb, unaligned or the mm exited), and `pgoff`: the page index the
  // VMA maps at the table's slot 0, as an int32 (vma_address()'s index, taken modulo 2^32 as checkRmap()
  // compares it).
  let lo = 0;
  let hi = 0;
  let pgoff = 0;
  const cover = (vma: Vma | undefined, base: number): void => {
    lo = hi = 0;
    if (!vma || !live || vma.kind === 'hugetlb') return;
    const at0 = vma.pgoff + (base - vma.start) / PAGE_SIZE;
    if (!Number.isSafeInteger(at0)) return;
    lo = Math.max(0, Math.ceil((vma.start - base) / PAGE_SIZE));
    hi = Math.min(PTRS_PER_PTE, Math.ceil((vma.end - base) / PAGE_SIZE));
    pgoff = at0 | 0;
  };
  // The module constants in locals (V8 reloads and checks a module binding on every use).
  const flags = mem.flags;
  const refcount = mem.refcount;
  const mapping = mem.mapping;
  const index = mem.index;
  const nrPages = mem.nr;
  const pfnShift = PTE_PFN_SHIFT;
  const present = _PAGE_PRESENT;
  const special = _PAGE_SPECIAL;
  const tail = PG_tail;
  const head = PG_head;
  const unusable = PG_buddy | PG_hugetlb; // a free page, or a hugetlb folio (never PTE-mapped)
  const anonBit = PG_anon;
  const exclusiveBit = PG_anon_exclusive;
  const zero = ZERO_PFN;
  const step = PTE_PFN_STEP;
  const orderMask = ORDER_MASK;
  // The run cleanPte() last began in a large folio: the entry the next slot holds when it maps the folio's
  // next page alike (mk_pte() of the next frame, the same bits), the folio, its end and folio_test_anon().
  let next = NO_ENTRY;
  let runFolio = 0;
  let runEnd = 0;
  let runAnon = false;
  /**
   * The entry most PTEs are (e, in slot i of the table, inside VMA `last`): a page of an allocated folio
   * whose rmap finds it, with nothing to report. Counts it as the full check below would and says true;
   * false, having changed nothing: the full check must look (it reports whatever is wrong).
   */
  const cleanPte = (e: number, i: number, vma: Vma): boolean => {
    if (e & special) return false;
    const pfn = e >>> pfnShift; // pte_pfn() of an entry of a PTE table (32-bit)
    if (pfn >= nrPages || pfn === zero) return false;
    const pf = flags[pfn]!;
    let folio = pfn;
    if (pf & tail) {
      // page_folio()'s one step (a tail's mapping slot holds its folio's order); its scan: the full check.
      folio = pfn - (pfn & ((1 << mapping[pfn]!) - 1));
      if (folio === pfn || !(flags[folio]! & head)) return false;
    }
    const ff = folio === pfn ? pf : flags[folio]!;
    if (ff & unusable || refcount[folio]! <= 0) return false;
    const id = mapping[folio]!;
    if (id !== reachedId || vma !== reached) {
      const obj = m.mappingObj(id);
      if (!obj || !obj.vmas.has(vma)) return false;
      reached = vma;
      reachedId = id;
    }
    // checkRmap()'s folio->index check: the page's index is the one the VMA maps at slot i.
    if (((index[folio]! + (pfn - folio) - i) | 0) !== pgoff) return false;
    // Count the page as mapped here, with PageAnonExclusive's one-mm rule for an anon page (another mm
    // mapping it exclusive: exclusive() reports it). Written out here: as a call it cost an allocation a PTE.
    const anon = (ff & anonBit) !== 0;
    if (anon && pf & exclusiveBit && !isTainted(pfn)) {
      const owner = exclusiveOwner[pfn]!;
      if (owner !== 0 && owner !== mm.id) return false;
      exclusiveOwner[pfn] = mm.id;
    }
    pteCount[pfn]!++;
    if (anon) rssAnon++;
    else rssFile++;
    next = NO_ENTRY;
    if (ff & head) {
      // A large folio: the next slots may continue it (runOn()).
      next = e + step;
      runFolio = folio;
      runEnd = Math.min(folio + (1 << (ff & orderMask)), nrPages);
      runAnon = anon;
    }
    return true;
  };
  /**
   * How many slots of table from `from` (below `end`) continue the run cleanPte() began, each counted as
   * cleanPte() would: the entry that maps the folio's next page alike, of the same folio (page_folio()'s one
   * step finds its head), whose checks the run's first page passed, at the page index that moves on with
   * the slot; only the page's own counts remain. The first slot that does not: cleanPte() must look.
   */
  const runOn = (table: Uint32Array, from: number, end: number): number => {
    const folio = runFolio;
    const folioEnd = runEnd;
    const anon = runAnon;
    const id = mm.id;
    let e = next;
    let i = from;
    for (; i < end && table[i] === e; i++, e += step) {
      const q = e >>> pfnShift;
      if (q >= folioEnd || q === zero) break;
      const f = flags[q]!;
      if (!(f & tail) || q - (q & ((1 << mapping[q]!) - 1)) !== folio) break;
      if (anon && f & exclusiveBit && !isTainted(q)) {
        const owner = exclusiveOwner[q]!;
        if (owner !== 0 && owner !== id) break;
        exclusiveOwner[q] = id;
      }
      pteCount[q]!++;
    }
    if (anon) rssAnon += i - from;
    else rssFile += i - from;
    return i - from;
  };
  for (const [k, slot] of mm.pt.pmds) {
    const base = k * PMD_SIZE;
    if (typeof slot === 'number') {
      if (mm.pt.puds.has(Math.floor(base / PUD_SIZE)) && pte_present(slot))
        v(`${who}: PMD under a PUD leaf at ${hex(base)}`);
      leaf(base, slot, PMD_SIZE, PMD_ORDER);
      continue;
    }
    cover(last, base);
    for (let i = 0; i < slot.length; i++) {
      const e = slot[i]!;
      if (!(e & present)) continue; // pte_present()
      if (i >= lo && i < hi && cleanPte(e, i, last!)) {
        if (next !== NO_ENTRY) i += runOn(slot, i + 1, hi);
        continue;
      }
      const addr = base + i * PAGE_SIZE;
      if (!live) {
        v(`${who} (exited): still maps a PTE at ${hex(addr)}`);
        return;
      }
      if (!last || addr < last.start || addr >= last.end) {
        last = mm.vma_lookup(addr);
        cover(last, base);
      }
      const vma = last;
      // Built only when something is wrong: end states of a race search check every PTE.
      const what = (): string => `${who}: PTE at ${hex(addr)}`;
      if (!vma) {
        v(`${what()} outside any VMA`);
        continue;
      }
      if (vma.kind === 'hugetlb') v(`${what()} in a hugetlb VMA`);
      const pfn = pte_pfn(e);
      if (pte_special(e)) {
        if (pfn !== ZERO_PFN && vma.kind !== 'pfnmap')
          v(`${what()} is special but maps ${hex(pfn)}, not the zero page`);
        continue;
      }
      if (pfn >= mem.nr) {
        v(`${what()} maps ${hex(pfn)} beyond memory`);
        continue;
      }
      if (pfn === ZERO_PFN) {
        v(`${what()} maps the zero page without the special bit`);
        continue;
      }
      pteCount[pfn]!++;
      let folio: number;
      try {
        folio = mem.page_folio(pfn);
      } catch {
        v(`${what()} maps ${hex(pfn)}, a tail without a head`);
        continue;
      }
      if (mem.flags[folio]! & PG_buddy || (mem.refcount[folio]! <= 0 && !isTainted(folio))) {
        v(
          `${what()} maps ${hex(pfn)} which is not allocated (refcount ` +
            `${mem.refcount[folio]}${mem.flags[folio]! & PG_buddy ? ', buddy' : ''})`,
        );
        continue;
      }
      if (mem.folio_test_hugetlb(folio)) v(`${what()} maps a page of hugetlb folio ${hex(folio)}`);
      checkRmap(m, vma, addr, pfn, folio, what, v);
      if (mem.folio_test_anon(folio)) exclusive(pfn, what);
      if (mem.folio_test_anon(folio)) rssAnon++;
      else rssFile++;
    }
  }
  if (live && (mm.rss_anon !== rssAnon || mm.rss_file !== rssFile)) {
    v(`${who}: RSS anon ${mm.rss_anon} file ${mm.rss_file}, page tables map anon ${rssAnon} file ${rssFile}`);
  }
}

/** The rmap must find this entry: folio->mapping links the VMA and folio->index matches the address. */
function checkRmap(
  m: Machine,
  vma: Vma,
  addr: number,
  pfn: number,
  folio: number,
  what: () => string,
  v: (msg: string) => boolean,
): void {
  const mem = m.mem;
  const obj = m.mappingObj(mem.mapping[folio]!);
  if (!obj) {
    v(`${what()}: folio ${hex(folio)} has no folio->mapping`);
    return;
  }
  if (!obj.vmas.has(vma)) v(`${what()}: the rmap of folio ${hex(folio)} does not reach this VMA`);
  const want = (vma.pgoff + (addr - vma.start) / PAGE_SIZE) >>> 0;
  const have = (mem.index[folio]! + (pfn - folio)) >>> 0;
  if (have !== want) v(`${what()}: page index ${have} but the VMA maps index ${want} there`);
}
